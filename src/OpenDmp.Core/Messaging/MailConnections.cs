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

    /// <summary>Sends with an explicit envelope sender (bounces come back to the platform's mailbox).</summary>
    public static async Task SendAsync(MailServerOptions o, MimeMessage message, string envelopeFrom, IEnumerable<string> envelopeTo, CancellationToken ct)
    {
        using var smtp = await ConnectSmtpAsync(o, ct);
        await smtp.SendAsync(message, MailboxAddress.Parse(envelopeFrom), envelopeTo.Select(MailboxAddress.Parse), ct);
        await smtp.DisconnectAsync(true, ct);
    }
}
