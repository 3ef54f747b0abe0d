using System.Diagnostics;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MimeKit;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>
/// A real Postfix (SMTP) and Dovecot (IMAP, LMTP) on loopback for the whole run, started by
/// tests/mail/mail-servers.sh (installed by the test command) and stopped on dispose. Mailboxes are
/// created on demand; mail for *@opendmp.test is delivered to them.
/// </summary>
public sealed class MailServers : IAsyncLifetime
{
    public const string Domain = "opendmp.test";
    private string _dir = string.Empty;
    private string _script = string.Empty;
    private string _password = string.Empty;

    public int SmtpPort { get; private set; }
    public int ImapPort { get; private set; }

    public async Task InitializeAsync()
    {
        _script = Path.Combine(AppContext.BaseDirectory, "mail", "mail-servers.sh");
        _dir = Path.Combine("/tmp", "opendmp-mail-" + Guid.NewGuid().ToString("N")[..8]);
        SmtpPort = Wait.FreePort();
        ImapPort = Wait.FreePort();
        await RunAsync("start", _dir, SmtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), ImapPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        _password = await File.ReadAllTextAsync(Path.Combine(_dir, "dovecot", "password"));
    }

    /// <summary>The servers' self-signed STARTTLS certificate (PEM).</summary>
    public string TlsCertificateFile => Path.Combine(_dir, "tls.crt");

    /// <summary>A domain whose mail Postfix refuses (the sender gets a delivery status notification).</summary>
    public const string AbsentDomain = "absent.opendmp.test";

    public async Task DisposeAsync()
    {
        if (_dir.Length > 0)
        {
            await RunAsync("stop", _dir);
            try
            {
                Directory.Delete(_dir, true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A new mailbox of its own (a fresh local part; Dovecot creates it on first delivery).</summary>
    public Mailbox CreateMailbox(string prefix)
    {
        var user = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}".ToLowerInvariant();
        return new Mailbox(this, $"{user}@{Domain}", user, _password);
    }

    /// <summary>The Messaging configuration for a server whose deposit mailbox is given.</summary>
    public Dictionary<string, string?> ServerConfig(Mailbox deposit, double pollSeconds = 0.2, bool tls = false)
    {
        var c = PlainConfig(deposit, pollSeconds);
        if (tls)
        {
            foreach (var server in new[] { "Smtp", "Imap" })
            {
                c[$"Messaging:{server}:Security"] = "StartTls";
                c[$"Messaging:{server}:TrustedCertificateFile"] = TlsCertificateFile;
            }
        }

        return c;
    }

    private Dictionary<string, string?> PlainConfig(Mailbox deposit, double pollSeconds) => new()
    {
        ["Messaging:Enabled"] = "true",
        ["Messaging:DepositAddress"] = deposit.Address,
        ["Messaging:PollSeconds"] = pollSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Messaging:Smtp:Host"] = "127.0.0.1",
        ["Messaging:Smtp:Port"] = SmtpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Messaging:Smtp:Security"] = "None",
        ["Messaging:Imap:Host"] = "127.0.0.1",
        ["Messaging:Imap:Port"] = ImapPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Messaging:Imap:Security"] = "None",
        ["Messaging:Imap:User"] = deposit.User,
        ["Messaging:Imap:Password"] = deposit.Password,
    };

    public async Task SendAsync(MimeMessage message, string? envelopeFrom = null)
    {
        using var smtp = new MailKit.Net.Smtp.SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", SmtpPort, MailKit.Security.SecureSocketOptions.None);
        if (envelopeFrom is null)
        {
            await smtp.SendAsync(message);
        }
        else
        {
            await smtp.SendAsync(message, MailboxAddress.Parse(envelopeFrom), message.To.Mailboxes);
        }

        await smtp.DisconnectAsync(true);
    }

    private async Task RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("bash", [_script, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"mail-servers.sh {args[0]} failed ({p.ExitCode}): {await stderr} {await stdout} — run the test command from README.md (it installs postfix, dovecot-imapd, dovecot-lmtpd)");
        }
    }

    public sealed record Mailbox(MailServers Servers, string Address, string User, string Password)
    {
        /// <summary>Waits until the folder holds at least <paramref name="count"/> messages matching, and returns them.</summary>
        public async Task<IReadOnlyList<MimeMessage>> WaitForAsync(int count = 1, Func<MimeMessage, bool>? match = null, string folder = "INBOX", TimeSpan? timeout = null)
        {
            var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
            var found = new List<MimeMessage>();
            while (true)
            {
                found.Clear();
                using (var imap = new ImapClient())
                {
                    await imap.ConnectAsync("127.0.0.1", Servers.ImapPort, MailKit.Security.SecureSocketOptions.None);
                    await imap.AuthenticateAsync(User, Password);
                    IMailFolder? f = folder == "INBOX" ? imap.Inbox : null;
                    if (f is null)
                    {
                        try
                        {
                            f = await imap.GetFolder(imap.PersonalNamespaces[0]).GetSubfolderAsync(folder);
                        }
                        catch (FolderNotFoundException)
                        {
                        }
                    }

                    if (f is not null)
                    {
                        await f.OpenAsync(FolderAccess.ReadOnly);
                        foreach (var uid in await f.SearchAsync(SearchQuery.All))
                        {
                            var m = await f.GetMessageAsync(uid);
                            if (match is null || match(m))
                            {
                                found.Add(m);
                            }
                        }
                    }

                    await imap.DisconnectAsync(true);
                }

                if (found.Count >= count)
                {
                    return found.ToList();
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"{Address}/{folder}: {found.Count} of {count} expected messages after {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds} s");
                }

                await Task.Delay(200);
            }
        }

        public async Task<int> CountAsync(string folder)
        {
            using var imap = new ImapClient();
            await imap.ConnectAsync("127.0.0.1", Servers.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await imap.AuthenticateAsync(User, Password);
            IMailFolder f;
            try
            {
                f = folder == "INBOX" ? imap.Inbox : await imap.GetFolder(imap.PersonalNamespaces[0]).GetSubfolderAsync(folder);
            }
            catch (FolderNotFoundException)
            {
                return 0;
            }

            await f.OpenAsync(FolderAccess.ReadOnly);
            var n = f.Count;
            await imap.DisconnectAsync(true);
            return n;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class MailCollection : ICollectionFixture<MailServers>, ICollectionFixture<PostgresCluster>
{
    public const string Name = "mail";
}
