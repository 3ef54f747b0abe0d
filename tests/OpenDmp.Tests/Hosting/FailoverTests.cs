using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Npgsql;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Xunit.Abstractions;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// High availability (ADR 0021): OpenDMP on a three-node Patroni cluster with synchronous
/// replication, writers filing ITI-65 transactions without pause, the primary's machine killed
/// (SIGKILL of Patroni and PostgreSQL), then — the node back as a replica — the new primary killed
/// too. Every acknowledged document is present once and readable, the audit chains verify, no
/// request got a 500, and the unavailability window of each failover is measured.
/// </summary>
public sealed class FailoverTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly HaCluster _cluster = new();

    public Task InitializeAsync() => _cluster.InitializeAsync();

    public Task DisposeAsync() => _cluster.DisposeAsync();

    [Fact]
    public async Task AcknowledgedDocuments_SurviveTwoFailovers_OnceEach_AndTheAuditVerifies()
    {
        var cs = await _cluster.CreateDatabaseAsync("opendmp");
        await using var server = await RunningServer.StartAsync(cs, new Dictionary<string, string?> { ["Audit:CheckpointSeconds"] = "0" });
        var gp = await server.AddProfessionalAsync();
        var patients = new List<TestPatient>();
        for (var i = 0; i < 3; i++)
        {
            patients.Add(await server.AddPatientAsync(gp));
        }

        var log = new Log();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() => WriteAsync(server, gp, patients[w % patients.Count], log, stop.Token))).ToArray();
        await Wait.UntilAsync(() => Task.FromResult(log.Acknowledged.Count >= 20), TimeSpan.FromSeconds(60), () => $"{log.Acknowledged.Count} acknowledged before the failover");

        var windows = new List<TimeSpan>();
        for (var round = 0; round < 2; round++)
        {
            var leader = await _cluster.LeaderAsync();
            Assert.True(leader >= 0, "no leader before the failover");
            var killedAt = DateTimeOffset.UtcNow;
            var before = log.Acknowledged.Count;
            await _cluster.KillNodeAsync(leader);
            Assert.False(await _cluster.AcceptsAsync(leader), $"node{leader} still accepts connections after the kill");

            // (Backends of the killed postmaster may finish what they were doing: the window is measured
            // from the kill to the writes the new primary acknowledges.)
            var promoted = -1;
            await Wait.UntilAsync(async () => (promoted = await _cluster.LeaderAsync()) is >= 0 && promoted != leader, TimeSpan.FromSeconds(120), () => "no new leader: " + _cluster.DescribeAsync().Result);
            var promotedAt = DateTimeOffset.UtcNow;
            await Wait.UntilAsync(() => Task.FromResult(log.SuccessesAfter(promotedAt) >= 10), TimeSpan.FromSeconds(120), () => $"round {round}: {log.SuccessesAfter(promotedAt)} acknowledged since node{promoted} leads; refusals {log.Refusals}");
            var window = log.LongestGapBetween(killedAt, log.Since(promotedAt).ElementAt(9));
            windows.Add(window);
            output.WriteLine($"failover {round + 1}: node{leader} killed, node{promoted} leads {(promotedAt - killedAt).TotalSeconds:F1} s later; no acknowledged write for {window.TotalSeconds:F1} s; acknowledged before {before}; 503 answers so far {log.Refusals}");

            // The killed machine comes back and rejoins as a replica.
            await _cluster.StartNodeAsync(leader);
            await _cluster.WaitHealthyAsync();
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(log.Unexpected.IsEmpty, "unexpected answers during the failovers:\n" + string.Join("\n", log.Unexpected.Take(10)));
        output.WriteLine($"acknowledged {log.Acknowledged.Count} transactions; 503 answers {log.Refusals}; windows {string.Join(", ", windows.Select(w => w.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s"))}");

        // Every acknowledged document is there, once.
        var masters = log.Acknowledged.Keys.ToArray();
        await using (var conn = new NpgsqlConnection(cs.Replace("Maximum Pool Size=30", "Pooling=false", StringComparison.Ordinal)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT master_identifier, count(*) FROM documents WHERE master_identifier = ANY(@m) GROUP BY master_identifier", conn);
            cmd.Parameters.AddWithValue("m", masters);
            var found = new Dictionary<string, long>(StringComparer.Ordinal);
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                while (await reader.ReadAsync())
                {
                    found[reader.GetString(0)] = reader.GetInt64(1);
                }
            }

            var missing = masters.Where(m => !found.ContainsKey(m)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} acknowledged document(s) lost, e.g. {missing.FirstOrDefault()}");
            Assert.All(found, f => Assert.Equal(1, f.Value));
        }

        // And readable through the API.
        var http = server.Http(gp.Certificate);
        foreach (var id in log.Acknowledged.Values.Where(v => v is not null))
        {
            using var read = await http.GetAsync($"/fhir/DocumentReference/{id}");
            Assert.True(read.StatusCode == HttpStatusCode.OK, $"DocumentReference/{id}: {(int)read.StatusCode}");
        }

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.True(await AdminCli.RunAsync(["audit", "verify", "--data", server.Data.Root], server.Config, stdout, stderr) == 0, stdout + " " + stderr);
        Assert.Contains("intact", stdout.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Files transactions one after the other; a transaction answered 503 (or unanswered) is sent again as it is until its outcome is known.</summary>
    private static async Task WriteAsync(RunningServer server, TestProfessional gp, TestPatient patient, Log log, CancellationToken ct)
    {
        var http = server.Http(gp.Certificate);
        http.Timeout = TimeSpan.FromSeconds(90);
        while (!ct.IsCancellationRequested)
        {
            var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("note " + Guid.NewGuid()), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
            var master = bundle.Entry.Select(e => e.Resource).OfType<DocumentReference>().Single().MasterIdentifier.Value;
            var json = FhirJson.Serialize(bundle);
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var response = await http.PostAsync("/fhir", new StringContent(json, Encoding.UTF8, "application/fhir+json"), CancellationToken.None);
                    var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        var id = FhirJson.Parse<Bundle>(body).Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
                        log.Acknowledge(master, id);
                        break;
                    }

                    if (response.StatusCode == HttpStatusCode.Conflict && attempt > 0 && body.Contains("masterIdentifier", StringComparison.Ordinal))
                    {
                        // A previous attempt was filed after all (its answer was lost on the way).
                        log.Acknowledge(master, null);
                        break;
                    }

                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
                    {
                        log.Unexpected.Add($"{(int)response.StatusCode}: {body[..Math.Min(300, body.Length)]}");
                        break;
                    }

                    log.Refused();
                    await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1), CancellationToken.None);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    log.Refused();
                    await Task.Delay(500, CancellationToken.None);
                }
            }
        }
    }

    private sealed class Log
    {
        private readonly ConcurrentQueue<DateTimeOffset> _successes = new();
        private int _refusals;

        public ConcurrentDictionary<string, string?> Acknowledged { get; } = new(StringComparer.Ordinal);

        public ConcurrentBag<string> Unexpected { get; } = [];

        public int Refusals => Volatile.Read(ref _refusals);

        public void Acknowledge(string master, string? documentId)
        {
            Acknowledged[master] = documentId;
            _successes.Enqueue(DateTimeOffset.UtcNow);
        }

        public void Refused() => Interlocked.Increment(ref _refusals);

        public int SuccessesAfter(DateTimeOffset t) => _successes.Count(s => s > t);

        public IEnumerable<DateTimeOffset> Since(DateTimeOffset t) => _successes.Where(s => s > t).Order();

        /// <summary>The longest interval without a success between <paramref name="from"/> and <paramref name="to"/> (both ends count as successes).</summary>
        public TimeSpan LongestGapBetween(DateTimeOffset from, DateTimeOffset to)
        {
            var points = _successes.Where(s => s > from && s <= to).Append(from).Append(to).Order().ToList();
            return points.Zip(points.Skip(1), (a, b) => b - a).Max();
        }
    }
}
