using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace OpenDmp.Core.Messaging;

/// <summary>Connections to the configured SMTP and IMAP servers (MailKit).</summary>
public static class MailConnections
{
    public static SecureSocketOptions Security(MailServerOptions o) => o.Security.ToLowerInvariant() switch
    {
        "none" => SecureSocketOptions.None,
        "starttls" => SecureSocketOptions.StartTls,
        "tls" or "ssl" => SecureSocketOptions.SslOnConnect,
        "auto" => SecureSocketOptions.Auto,
        _ => throw new InvalidOperationException($"mail server Security must be None, StartTls, Tls or Auto, got '{o.Security}'"),
    };

    public static async Task<SmtpClient> ConnectSmtpAsync(MailServerOptions o, CancellationToken ct)
    {
        var client = new SmtpClient();
        Trust(client, o);
        try
        {
            await client.ConnectAsync(o.Host, o.Port, Security(o), ct);
            if (o.User is not null && client.Capabilities.HasFlag(SmtpCapabilities.Authentication))
            {
                await client.AuthenticateAsync(o.User, o.Password ?? string.Empty, ct);
            }

            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public static async Task<ImapClient> ConnectImapAsync(MailServerOptions o, CancellationToken ct)
    {
        var client = new ImapClient();
        Trust(client, o);
        try
        {
            await client.ConnectAsync(o.Host, o.Port, Security(o), ct);
            await client.AuthenticateAsync(o.User ?? string.Empty, o.Password ?? string.Empty, ct);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>With TrustedCertificateFile, the server's certificate must chain to one of its certificates (name checked too).</summary>
    private static void Trust(MailService client, MailServerOptions o)
    {
        if (o.TrustedCertificateFile is not { Length: > 0 } file)
        {
            return;
        }

        var anchors = new X509Certificate2Collection();
        anchors.ImportFromPemFile(file);
        client.ServerCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            {
                return false;
            }

            using var cert = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(anchors);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(cert);
        };
    }

    /// <summary>Sends with an explicit envelope sender (bounces come back to the platform's mailbox).</summary>
    public static async Task SendAsync(MailServerOptions o, MimeMessage message, string envelopeFrom, IEnumerable<string> envelopeTo, CancellationToken ct)
    {
        using var smtp = await ConnectSmtpAsync(o, ct);
        await smtp.SendAsync(message, MailboxAddress.Parse(envelopeFrom), envelopeTo.Select(MailboxAddress.Parse), ct);
        await smtp.DisconnectAsync(true, ct);
    }
}
