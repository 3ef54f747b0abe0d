using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using MimeKit;
using OpenDmp.Core.Messaging;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>Deposit messages as a professional's software builds them: an XDM attachment, signed then encrypted for the platform.</summary>
public static class Deposits
{
    /// <summary>The message body before signing: a short text and the XDM ZIP.</summary>
    public static Multipart Content(byte[] xdm, string text = "Dépôt de documents / document deposit") => new("mixed")
    {
        new TextPart("plain") { Text = text },
        new MimePart("application", "zip")
        {
            Content = new MimeContent(new MemoryStream(xdm)),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = "IHE_XDM.ZIP",
        },
    };

    /// <summary>A deposit from <paramref name="from"/> to the deposit address; signed and encrypted unless <paramref name="signer"/> is null.</summary>
    public static MimeMessage Message(string from, string to, byte[] xdm, X509Certificate2? signer, X509Certificate2 platform, bool askReceipt = false)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse(from));
        m.To.Add(MailboxAddress.Parse(to));
        m.Subject = "Dépôt";
        m.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("cabinet.test");
        if (askReceipt)
        {
            m.Headers.Add(HeaderId.DispositionNotificationTo, from);
        }

        m.Body = signer is null ? Content(xdm) : SecureMail.SignAndEncrypt(Content(xdm), signer, [platform]);
        return m;
    }
}

/// <summary>Waiting for what a background worker does, and free loopback ports.</summary>
public static class Wait
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, Func<string>? state = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"condition not met within {limit.TotalSeconds} s" + (state is null ? string.Empty : ": " + state()));
            }

            await Task.Delay(50);
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
