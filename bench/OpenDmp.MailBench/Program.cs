using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using MailKit.Net.Smtp;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using OpenDmp.Bench;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Server.Hosting;

// Load driver for the deposit channel: a real OpenDMP process, a real Postfix and Dovecot (started
// by bench/mail.sh). Messages of --bytes (default 100 KB) XDM, signed by a GP and encrypted for the
// platform, are submitted over SMTP; a message counts as done when its document is searchable
// through ITI-67. Reports throughput (messages/s, first submission to last searchable) and the
// latency distribution (submission to searchable; the k-th submission is matched with the k-th
// document to become searchable, so individual latencies are approximate, the distribution is not).
var o = Options.Parse(args);
var data = new DataDirectory(Path.Combine(Path.GetTempPath(), "opendmp-mailbench-" + Guid.NewGuid().ToString("N")[..8]));
data.Ensure();
var deposit = Mailbox(o.MailDir, "depot-bench");
var gpBox = Mailbox(o.MailDir, "gp-bench");
var overrides = new Dictionary<string, string?>
{
    ["Messaging:Enabled"] = "true",
    ["Messaging:DepositAddress"] = deposit.Address,
    ["Messaging:PollSeconds"] = "0.05",
    ["Messaging:BatchSize"] = "50",
    ["Messaging:Smtp:Host"] = "127.0.0.1",
    ["Messaging:Smtp:Port"] = o.SmtpPort.ToString(CultureInfo.InvariantCulture),
    ["Messaging:Smtp:Security"] = "None",
    ["Messaging:Imap:Host"] = "127.0.0.1",
    ["Messaging:Imap:Port"] = o.ImapPort.ToString(CultureInfo.InvariantCulture),
    ["Messaging:Imap:Security"] = "None",
    ["Messaging:Imap:User"] = deposit.User,
    ["Messaging:Imap:Password"] = deposit.Password,
};
if (o.Postgres is not null)
{
    overrides["Database:Provider"] = "Postgres";
    overrides["Database:ConnectionString"] = o.Postgres;
}

Console.WriteLine($"# OpenDMP deposit channel — {(o.Postgres is null ? "SQLite" : "PostgreSQL")}, {o.Messages} messages with a {o.Bytes / 1024} KB document, {(o.Rate > 0 ? $"offered at {o.Rate} messages/s" : "submitted as fast as possible")} over {o.Connections} SMTP sessions{(o.Receipts ? ", each asking for a signed receipt" : string.Empty)}");
var config = OpenDmpConfiguration.Build(data, overrides);
var services = new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider();
var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
ca.IssueServer(data.Pki, [], TimeProvider.System);
await CoreServices.MigrateAsync(services, CancellationToken.None);
const string gpRpps = "10000000017";
var ins = Ins.WithKey("270037512345678"[..13]);
using (var scope = services.CreateScope())
{
    var gp = await scope.ServiceProvider.GetRequiredService<DirectoryService>().AddProfessionalAsync(gpRpps, "10", "SM54", "Martin", "Claire", Actor.Operator, Channels.Admin, CancellationToken.None);
    using var cert = ca.IssueProfessional(gpRpps, gp.DisplayName, gpBox.Address, Path.Combine(data.Root, "bench"), TimeProvider.System);
    await scope.ServiceProvider.GetRequiredService<DirectoryService>().SetMessagingAsync(gpRpps, gpBox.Address, cert.ExportCertificatePem(), CancellationToken.None);
    var records = scope.ServiceProvider.GetRequiredService<RecordService>();
    var p = await records.AddPatientAsync(new NewPatient(ins, Ins.NirSystem, "BENCH", "Messagerie", new DateOnly(1970, 3, 1), "F", "75056"), Actor.Operator, Channels.Admin, CancellationToken.None);
    await records.OpenAsync(p.RecordId, gpRpps, gpRpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, CancellationToken.None);
}

await services.DisposeAsync();
var platform = X509CertificateLoader.LoadCertificate(ca.PlatformMessaging(data.Pki, deposit.Address, TimeProvider.System).RawData);
using var signer = X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(Path.Combine(data.Root, "bench", gpRpps + ".crt"), Path.Combine(data.Root, "bench", gpRpps + ".key")).Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);

// Messages are built before the clock starts: signing and encrypting is the sender's work.
var build = Stopwatch.StartNew();
var messages = new List<MimeMessage>(o.Messages);
var rnd = new Random(7);
long wireBytes = 0;
for (var i = 0; i < o.Messages; i++)
{
    var content = new byte[o.Bytes];
    rnd.NextBytes(content);
    var bundle = SubmissionBuilder.Build($"Patient?identifier={Ins.NirSystem}|{ins}", gpRpps, "Claire Martin", [new DocumentToSubmit(content, "application/pdf", "Compte rendu " + i)]);
    var m = new MimeMessage();
    m.From.Add(MailboxAddress.Parse(gpBox.Address));
    m.To.Add(MailboxAddress.Parse(deposit.Address));
    m.Subject = "Dépôt";
    m.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("bench.test");
    if (o.Receipts)
    {
        // The sender asks for a disposition notification: the platform signs and sends one per deposit.
        m.Headers.Add(HeaderId.DispositionNotificationTo, gpBox.Address);
    }
    var zip = new MimePart("application", "zip") { Content = new MimeContent(new MemoryStream(Xdm.FromBundle(bundle, ins, Ins.NirSystem[8..]))), FileName = "IHE_XDM.ZIP", ContentTransferEncoding = ContentEncoding.Base64 };
    m.Body = SecureMail.SignAndEncrypt(new Multipart("mixed") { new TextPart("plain") { Text = "Dépôt" }, zip }, signer, [platform]);
    using var ms = new MemoryStream();
    m.WriteTo(ms);
    wireBytes += ms.Length;
    messages.Add(m);
}

Console.WriteLine($"built {o.Messages} signed+encrypted messages in {build.Elapsed.TotalSeconds:F1} s (average {wireBytes / o.Messages / 1024} KB on the wire)");

var port = BenchSupport.FreePort();
var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "opendmp.dll"), "serve", "--data", data.Root, "--urls", $"https://127.0.0.1:{port}", "--no-demo"])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
};
foreach (var kv in overrides)
{
    psi.Environment["OPENDMP_" + kv.Key.Replace(":", "__", StringComparison.Ordinal)] = kv.Value;
}

using var server = Process.Start(psi)!;
server.OutputDataReceived += (_, _) => { };
server.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
server.BeginOutputReadLine();
server.BeginErrorReadLine();
try
{
    using var gpCert = X509CertificateLoader.LoadPkcs12(signer.Export(X509ContentType.Pkcs12), null);
    using var handler = new SocketsHttpHandler
    {
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            ClientCertificates = [gpCert],
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Issuer == ca.Certificate.Subject,
        },
    };
    using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
    await BenchSupport.WaitReadyAsync(http);
    var search = $"/fhir/DocumentReference?patient.identifier={Uri.EscapeDataString(Ins.NirSystem + "|" + ins)}&_count=0&_total=accurate";

    // The watcher: ITI-67 every 50 ms; the k-th document to become searchable closes the k-th submission.
    var searchable = new List<double>(o.Messages);
    var clock = Stopwatch.StartNew();
    using var done = new CancellationTokenSource(TimeSpan.FromMinutes(30));
    var watcher = Task.Run(async () =>
    {
        while (searchable.Count < o.Messages && !done.IsCancellationRequested)
        {
            using var doc = JsonDocument.Parse(await http.GetStringAsync(search));
            var total = doc.RootElement.GetProperty("total").GetInt32();
            var now = clock.Elapsed.TotalMilliseconds;
            lock (searchable)
            {
                while (searchable.Count < total)
                {
                    searchable.Add(now);
                }
            }

            await Task.Delay(50);
        }
    });

    // Several SMTP sessions submit in parallel (as several senders would); with --rate, the offered
    // load is spread over them at fixed times.
    var submitted = new double[o.Messages];
    await Task.WhenAll(Enumerable.Range(0, o.Connections).Select(async c =>
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", o.SmtpPort, MailKit.Security.SecureSocketOptions.None);
        for (var i = c; i < o.Messages; i += o.Connections)
        {
            if (o.Rate > 0)
            {
                var wait = (i * 1000.0 / o.Rate) - clock.Elapsed.TotalMilliseconds;
                if (wait > 1)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait));
                }
            }

            submitted[i] = clock.Elapsed.TotalMilliseconds;
            await smtp.SendAsync(messages[i]);
        }

        await smtp.DisconnectAsync(true);
    }));
    Array.Sort(submitted);

    var submitSeconds = clock.Elapsed.TotalSeconds;
    await watcher;
    var last = searchable[^1];
    var throughput = o.Messages / ((last - submitted[0]) / 1000.0);
    var latencies = Enumerable.Range(0, o.Messages).Select(i => searchable[i] - submitted[i]).Order().ToList();
    var (hwm, _) = BenchSupport.Memory(server.Id);
    Console.WriteLine($"submitted over SMTP in {submitSeconds:F1} s; last document searchable at {last / 1000.0:F1} s");
    Console.WriteLine($"deposit channel: {throughput:F1} messages/s end to end (SMTP submission to searchable through ITI-67)");
    Console.WriteLine($"latency submission to searchable: p50 {BenchSupport.P(latencies, 50):F0} ms, p90 {BenchSupport.P(latencies, 90):F0} ms, p95 {BenchSupport.P(latencies, 95):F0} ms, p99 {BenchSupport.P(latencies, 99):F0} ms, max {latencies[^1]:F0} ms");
    Console.WriteLine($"server peak RSS {hwm / 1024.0:F0} MB");
}
finally
{
    server.Kill(entireProcessTree: true);
    await server.WaitForExitAsync();
    try
    {
        Directory.Delete(data.Root, true);
    }
    catch (IOException)
    {
    }
}

static (string Address, string User, string Password) Mailbox(string mailDir, string prefix)
{
    // Any local part is a mailbox of the test servers; they share the password the script wrote.
    var user = prefix + "-" + Guid.NewGuid().ToString("N")[..6];
    return ($"{user}@opendmp.test", user, File.ReadAllText(Path.Combine(mailDir, "dovecot", "password")));
}

internal sealed record Options(string MailDir, int SmtpPort, int ImapPort, string? Postgres, int Messages, int Bytes, double Rate, int Connections, bool Receipts)
{
    public static Options Parse(string[] args)
    {
        string? Get(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }

        int Int(string name, int d) => Get(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : d;
        return new Options(
            Get("--mail-dir") ?? throw new ArgumentException("--mail-dir is required (bench/mail.sh gives it)"),
            Int("--smtp-port", 0),
            Int("--imap-port", 0),
            Get("--postgres"),
            Int("--messages", 400),
            Int("--bytes", 100 * 1024),
            Get("--rate") is { } r ? double.Parse(r, CultureInfo.InvariantCulture) : 0,
            Int("--connections", 4),
            args.Contains("--receipts"));
    }
}
