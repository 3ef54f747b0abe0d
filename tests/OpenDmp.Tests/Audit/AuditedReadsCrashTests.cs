using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Hosting;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Audit;

/// <summary>
/// Group commit of the audit trail (issue 21): the server is killed (SIGKILL) during a burst of
/// audited reads and deposits; every request that was answered has its audit entry, every answered
/// deposit its documents, and the chains verify.
/// </summary>
public abstract class AuditedReadsCrashTests(Func<Task<string?>> postgres) : IAsyncLifetime
{
    private readonly ServerProcess _server = new(Path.Combine(Path.GetTempPath(), "opendmp-readcrash-" + Guid.NewGuid().ToString("N")[..8]));

    private string Dir => _server.DataDir;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _server.Kill();
        await Task.Delay(100);
        try
        {
            System.IO.Directory.Delete(Dir, true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task KilledDuringABurst_EveryAnsweredReadAndDepositIsAudited()
    {
        System.IO.Directory.CreateDirectory(Dir);
        var config = new Dictionary<string, string?> { ["Audit:CheckpointSeconds"] = "0" };
        if (await postgres() is { } cs)
        {
            config["Database:Provider"] = "Postgres";
            config["Database:ConnectionString"] = cs;
        }

        // The configuration file the server and the command line read in the data folder.
        var file = new Dictionary<string, Dictionary<string, string?>> { ["Audit"] = new() { ["CheckpointSeconds"] = "0" } };
        if (config.TryGetValue("Database:Provider", out var provider))
        {
            file["Database"] = new() { ["Provider"] = provider, ["ConnectionString"] = config["Database:ConnectionString"] };
        }

        await File.WriteAllTextAsync(Path.Combine(Dir, "opendmp.json"), JsonSerializer.Serialize(file));

        var rpps = TestIds.NewRpps();
        var ins = new[] { TestIds.NewIns(), TestIds.NewIns() };
        await _server.CliAsync("init");
        await _server.CliAsync("professional", "add", "--rpps", rpps, "--profession", "10", "--specialty", "SM54", "--family", "Martin", "--given", "Claire");
        await _server.CliAsync("pki", "issue-professional", "--rpps", rpps, "--out", Path.Combine(Dir, "certs"));
        for (var i = 0; i < ins.Length; i++)
        {
            await _server.CliAsync("patient", "add", "--ins", ins[i], "--family", "TESTCRASH", "--given", "Anne" + i, "--birth-date", "1970-05-17", "--sex", "F");
            await _server.CliAsync("record", "open", "--ins", ins[i], "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "office");
        }

        using var certificate = RunningServer.Reload(X509Certificate2.CreateFromPemFile(Path.Combine(Dir, "certs", rpps + ".crt"), Path.Combine(Dir, "certs", rpps + ".key")));
        var port = Wait.FreePort();
        _server.Start(port);
        using var http = Client(port, certificate);
        await Wait.UntilAsync(async () =>
        {
            try
            {
                using var ready = await http.GetAsync("/health/ready");
                return ready.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60));
        if (provider is null)
        {
            // SQLite's process-wide settings took effect (applied before its first connection: ADR 0003).
            Assert.Contains(_server.Output, l => l.Contains("SQLite: process settings applied", StringComparison.Ordinal));
        }

        // Documents to read, one per patient's record at least.
        var readable = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            readable.Add(Assert.Single(await DepositAsync(http, rpps, ins[i % ins.Length], i)));
        }

        // The burst: six readers and two depositors without pause; the kill comes once 200
        // requests have been answered, while the others are in flight.
        var answeredReads = new ConcurrentBag<string>();
        var answeredDeposits = new ConcurrentBag<string>();
        var answered = 0;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (w < 6)
                    {
                        var id = readable[(w + n++) % readable.Count];
                        using var response = await http.GetAsync("/fhir/DocumentReference/" + id, stop.Token);
                        if (response.IsSuccessStatusCode)
                        {
                            await response.Content.ReadAsByteArrayAsync(stop.Token);
                            answeredReads.Add(id);
                            Interlocked.Increment(ref answered);
                        }
                    }
                    else
                    {
                        foreach (var id in await DepositAsync(http, rpps, ins[w % ins.Length], 1000 + (w * 100_000) + n++))
                        {
                            answeredDeposits.Add(id);
                        }

                        Interlocked.Increment(ref answered);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or InvalidOperationException or System.Net.Sockets.SocketException)
                {
                    // In flight when the server died: not answered, nothing to check (a connection opened
                    // as it died can surface as a bare SocketException from the connection pool, seen once).
                }
            }
        })).ToList();

        await Wait.UntilAsync(() => Task.FromResult(Volatile.Read(ref answered) >= 200), TimeSpan.FromSeconds(120));
        _server.Kill();
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        // Every answered read has its entry (a document may be read several times: as many entries
        // as answered reads, at least), every answered deposit its document and its entry.
        var (reads, documents, created) = await CountAsync(config);
        foreach (var group in answeredReads.GroupBy(x => x))
        {
            Assert.True(reads.GetValueOrDefault(group.Key) >= group.Count(), $"DocumentReference/{group.Key}: {group.Count()} reads answered, {reads.GetValueOrDefault(group.Key)} audited");
        }

        Assert.All(answeredDeposits, id => Assert.Contains(id, documents));
        Assert.All(answeredDeposits, id => Assert.Contains(id, created));
        Assert.True(answeredReads.Count >= 100, $"only {answeredReads.Count} reads answered before the kill");
        await _server.CliAsync("audit", "verify");
    }

    private static async Task<List<string>> DepositAsync(HttpClient http, string rpps, string ins, int n)
    {
        var bundle = SubmissionBuilder.Build("Patient?identifier=" + Ins.NirSystem + "|" + ins, rpps, "Claire Martin", [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Document " + n), "application/pdf", "Document " + n)]);
        using var response = await http.PostAsync("/fhir", FhirAssert.Json(bundle));
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("entry").EnumerateArray()
            .Select(e => e.GetProperty("response").GetProperty("location").GetString()!)
            .Where(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal))
            .Select(l => l.Split('/')[1])
            .ToList();
    }

    private async Task<(Dictionary<string, int> Reads, HashSet<string> Documents, HashSet<string> Created)> CountAsync(Dictionary<string, string?> config)
    {
        var data = new DataDirectory(Dir);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(config).Build();
        await using var app = OpenDmpHost.Build(data, configuration, ["https://127.0.0.1:0"]);
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
        var read = AuditAction.Read.Code();
        var create = AuditAction.Create.Code();
        var reads = await db.AuditEntries.Where(e => e.ObjectType == "DocumentReference" && e.Action == read && e.Outcome == "success")
            .GroupBy(e => e.ObjectId!).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count);
        var documents = (await db.Documents.Select(d => d.Id).ToListAsync()).ToHashSet(StringComparer.Ordinal);
        var created = (await db.AuditEntries.Where(e => e.ObjectType == "DocumentReference" && e.Action == create).Select(e => e.ObjectId!).ToListAsync()).ToHashSet(StringComparer.Ordinal);
        return (reads, documents, created);
    }

    private static HttpClient Client(int port, X509Certificate2 certificate)
    {
        var handler = new HttpClientHandler
        {
            ClientCertificateOptions = ClientCertificateOption.Manual,
            ServerCertificateCustomValidationCallback = (_, _, _, _) => true,
        };
        handler.ClientCertificates.Add(certificate);
        var client = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/fhir+json"));
        return client;
    }

}

public sealed class AuditedReadsCrashTests_Sqlite() : AuditedReadsCrashTests(() => Task.FromResult<string?>(null));

[Collection(PostgresCollection.Name)]
public sealed class AuditedReadsCrashTests_Postgres(PostgresCluster pg) : AuditedReadsCrashTests(async () => await pg.CreateDatabaseAsync("readcrash"));
