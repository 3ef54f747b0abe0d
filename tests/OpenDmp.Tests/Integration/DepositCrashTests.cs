using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Hosting;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Integration;

/// <summary>
/// Robustness of the deposit channel: OpenDMP runs as its own process (the real `opendmp serve`),
/// is killed (SIGKILL) in the middle of a batch of deposits, and restarted: every message is filed
/// exactly once, none is lost, nothing is duplicated, and the audit trail verifies.
/// </summary>
public abstract class DepositCrashTests(MailServers mail, Func<Task<string?>> postgres) : IAsyncLifetime
{
    private const int Messages = 150;
    private readonly ServerProcess _server = new(Path.Combine(Path.GetTempPath(), "opendmp-crash-" + Guid.NewGuid().ToString("N")[..8]));

    private string Dir => _server.DataDir;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _server.Kill();
        await Task.Delay(100);
        try
        {
            Directory.Delete(Dir, true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task KilledDuringABatch_EveryMessageIsFiledExactlyOnce()
    {
        Directory.CreateDirectory(Dir);
        var deposit = mail.CreateMailbox("depot");
        var config = mail.ServerConfig(deposit, 0.1);
        config["Messaging:BatchSize"] = "5";
        if (await postgres() is { } cs)
        {
            config["Database:Provider"] = "Postgres";
            config["Database:ConnectionString"] = cs;
        }

        await File.WriteAllTextAsync(Path.Combine(Dir, "opendmp.json"), System.Text.Json.JsonSerializer.Serialize(Nest(config)));

        // The world, through the admin tool: a GP with a secure mailbox, a patient whose record they hold.
        var rpps = TestIds.NewRpps();
        var ins = TestIds.NewIns();
        var box = mail.CreateMailbox("dr");
        await _server.CliAsync("init");
        await _server.CliAsync("professional", "add", "--rpps", rpps, "--profession", "10", "--specialty", "SM54", "--family", "Martin", "--given", "Claire");
        await _server.CliAsync("pki", "issue-professional", "--rpps", rpps, "--out", Path.Combine(Dir, "certs"), "--email", box.Address);
        await _server.CliAsync("patient", "add", "--ins", ins, "--family", "TESTCRASH", "--given", "Anne", "--birth-date", "1970-05-17", "--sex", "F");
        await _server.CliAsync("record", "open", "--ins", ins, "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "office");
        using var signer = RunningServer.Reload(X509Certificate2.CreateFromPemFile(Path.Combine(Dir, "certs", rpps + ".crt"), Path.Combine(Dir, "certs", rpps + ".key")));

        // The platform's deposit certificate, as the server will use it (issued by the data
        // directory's CA). The whole batch waits in the mailbox before the server starts, so that
        // the server faces a backlog when it is killed.
        var platform = X509CertificateLoader.LoadCertificate(OpenDmp.Core.Pki.TestCertificateAuthority.LoadOrCreate(Path.Combine(Dir, "pki"), TimeProvider.System)
            .PlatformMessaging(Path.Combine(Dir, "pki"), deposit.Address, TimeProvider.System).RawData);
        var batch = new List<MimeMessage>();
        for (var i = 0; i < Messages; i++)
        {
            var bundle = SubmissionBuilder.Build("Patient?identifier=" + Ins.NirSystem + "|" + ins, rpps, "Claire Martin", [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Document " + i), "application/pdf", "Document " + i)]);
            var m = Deposits.Message(box.Address, deposit.Address, Xdm.FromBundle(bundle, ins, Ins.NirSystem[8..]), signer, platform);
            batch.Add(m);
        }

        using (var smtp = new MailKit.Net.Smtp.SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", mail.SmtpPort, MailKit.Security.SecureSocketOptions.None);
            foreach (var m in batch)
            {
                await smtp.SendAsync(m);
            }

            await smtp.DisconnectAsync(true);
        }

        await Wait.UntilAsync(async () => await deposit.CountAsync("INBOX") == Messages, TimeSpan.FromSeconds(60));

        // Start, and kill it (SIGKILL) as soon as the first batches are out of INBOX: watched over
        // one IMAP session, polled every few milliseconds.
        var port = Wait.FreePort();
        using (var watch = new MailKit.Net.Imap.ImapClient())
        {
            await watch.ConnectAsync("127.0.0.1", mail.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await watch.AuthenticateAsync(deposit.User, deposit.Password);
            _server.Start(port);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                var processed = await ProcessedCountAsync(watch);
                if (processed >= 5)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, "the server did not start processing");
                await Task.Delay(5);
            }

            _server.Kill();
            await watch.DisconnectAsync(true);
        }

        var processedBeforeCrash = await deposit.CountAsync("Processed");
        Assert.True(processedBeforeCrash < Messages, $"the kill came after the batch ({processedBeforeCrash} processed): the test did not interrupt anything");

        _server.Start(port);
        await Wait.UntilAsync(async () => await deposit.CountAsync("Processed") == Messages && await deposit.CountAsync("INBOX") == 0, TimeSpan.FromSeconds(120));
        _server.Kill();

        var (documents, distinct, inbound, filed) = await CountAsync(config);
        Assert.Equal(Messages, documents);
        Assert.Equal(Messages, distinct);
        Assert.Equal(Messages, inbound);
        Assert.Equal(Messages, filed);
        Assert.Equal(0, await deposit.CountAsync("Rejected"));
        Assert.Equal(0, await deposit.CountAsync("DeadLetter"));
        await _server.CliAsync("audit", "verify");
    }

    private static async Task<int> ProcessedCountAsync(MailKit.Net.Imap.ImapClient imap)
    {
        try
        {
            var folder = await imap.GetFolder(imap.PersonalNamespaces[0]).GetSubfolderAsync("Processed");
            await folder.StatusAsync(MailKit.StatusItems.Count);
            return folder.Count;
        }
        catch (MailKit.FolderNotFoundException)
        {
            return 0;
        }
    }

    private async Task<(int Documents, int Distinct, int Inbound, int Filed)> CountAsync(IDictionary<string, string?> config)
    {
        var data = new DataDirectory(Dir);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(config).Build();
        await using var app = OpenDmpHost.Build(data, configuration, ["https://127.0.0.1:0"]);
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
        return (await db.Documents.CountAsync(), await db.Documents.Select(d => d.MasterIdentifier).Distinct().CountAsync(),
            await db.InboundMessages.CountAsync(), await db.InboundMessages.CountAsync(x => x.Outcome == "filed"));
    }

    private static Dictionary<string, object> Nest(IDictionary<string, string?> flat)
    {
        var root = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (key, value) in flat)
        {
            var parts = key.Split(':');
            var node = root;
            for (var i = 0; i < parts.Length - 1; i++)
            {
                if (!node.TryGetValue(parts[i], out var child))
                {
                    node[parts[i]] = child = new Dictionary<string, object>(StringComparer.Ordinal);
                }

                node = (Dictionary<string, object>)child;
            }

            node[parts[^1]] = value ?? string.Empty;
        }

        return root;
    }
}

[Collection(MailCollection.Name)]
public sealed class DepositCrashTests_Sqlite(MailServers mail) : DepositCrashTests(mail, () => Task.FromResult<string?>(null));

[Collection(MailCollection.Name)]
public sealed class DepositCrashTests_Postgres(MailServers mail, PostgresCluster pg) : DepositCrashTests(mail, async () => await pg.CreateDatabaseAsync("crash"));
