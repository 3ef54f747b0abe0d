using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Bench;
using OpenDmp.Server.Hosting;

// Load driver for OpenDMP: seeds a database, starts the real server as a separate process
// (opendmp serve), drives it over HTTPS with mutual TLS, and reports ITI-65 throughput, ITI-67
// latency percentiles and the server's peak resident memory.
var opts = BenchOptions.Parse(args);
if (opts.Duplicates > 0)
{
    await IdentityBench.RunAsync(opts.Duplicates, opts.Postgres);
    return;
}

if (opts.DirectoryLines > 0)
{
    await DirectoryBench.RunAsync(opts.DirectoryLines, opts.Postgres);
    return;
}

if (opts.Peer is not null)
{
    await PeerBench.RunAsync(opts.Peer, opts.PeerPid, opts);
    return;
}

var data = new DataDirectory(Path.Combine(Path.GetTempPath(), "opendmp-bench-" + Guid.NewGuid().ToString("N")[..8]));
data.Ensure();
var overrides = new Dictionary<string, string?>();
if (opts.Postgres is not null)
{
    overrides["Database:Provider"] = "Postgres";
    overrides["Database:ConnectionString"] = opts.Postgres;
}

if (opts.Alerts > 0)
{
    // The alert benchmark's subscription receiver listens on plain HTTP on loopback.
    overrides["Subscriptions:AllowHttpLoopback"] = "true";
}

Console.WriteLine($"# OpenDMP benchmark — {(opts.Postgres is null ? "SQLite" : "PostgreSQL")}, {opts.Documents} documents of {opts.DocumentBytes} bytes, {opts.Patients} patients, {opts.Clients} clients");
var config = OpenDmpConfiguration.Build(data, overrides);
var services = new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider();
var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
ca.IssueServer(data.Pki, [], TimeProvider.System);
await CoreServices.MigrateAsync(services, CancellationToken.None);

// Seed: one GP, the patients and their open records.
var gpRpps = "10000000017";
var patients = new List<string>();
var insList = new List<string>();
using (var scope = services.CreateScope())
{
    var gp = await scope.ServiceProvider.GetRequiredService<DirectoryService>().AddProfessionalAsync(gpRpps, "10", "SM54", "Martin", "Claire", Actor.Operator, Channels.Admin, CancellationToken.None);
    ca.IssueProfessional(gpRpps, gp.DisplayName, null, Path.Combine(data.Root, "bench"), TimeProvider.System);
    var pharmacist = await scope.ServiceProvider.GetRequiredService<DirectoryService>().AddProfessionalAsync(PharmacistRpps, "21", null, "Petit", "Louis", Actor.Operator, Channels.Admin, CancellationToken.None);
    ca.IssueProfessional(PharmacistRpps, pharmacist.DisplayName, null, Path.Combine(data.Root, "bench"), TimeProvider.System);
}

var seedWatch = Stopwatch.StartNew();
for (var i = 0; i < opts.Patients; i++)
{
    using var scope = services.CreateScope();
    var records = scope.ServiceProvider.GetRequiredService<RecordService>();
    var nir = string.Create(CultureInfo.InvariantCulture, $"{1 + (i % 2)}{50 + (i % 40):00}{1 + (i % 12):00}75{(i / 1000) % 1000:000}{i % 1000:000}");
    var p = await records.AddPatientAsync(new NewPatient(Ins.WithKey(nir), Ins.TestSystem, "BENCH", "Patient" + i.ToString(CultureInfo.InvariantCulture), new DateOnly(1950 + (i % 50), 1 + (i % 12), 1 + (i % 28)), i % 2 == 0 ? "M" : "F", "75056"), Actor.Operator, Channels.Admin, CancellationToken.None);
    await records.OpenAsync(p.RecordId, gpRpps, gpRpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, CancellationToken.None);
    patients.Add(p.RecordId);
    insList.Add(Ins.WithKey(nir));
}

Console.WriteLine($"seeded {opts.Patients} patients in {seedWatch.Elapsed.TotalSeconds:F1} s");
await services.DisposeAsync();

// Start the server as its own process so that its memory is measured alone.
var port = BenchSupport.FreePort();
var serverDll = Path.Combine(AppContext.BaseDirectory, "opendmp.dll");
var psi = new ProcessStartInfo("dotnet", [serverDll, "serve", "--data", data.Root, "--urls", $"https://127.0.0.1:{port}", "--no-demo"])
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
    var cert = X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(Path.Combine(data.Root, "bench", gpRpps + ".crt"), Path.Combine(data.Root, "bench", gpRpps + ".key")).Export(X509ContentType.Pkcs12), null);
    using var handler = new SocketsHttpHandler
    {
        MaxConnectionsPerServer = opts.Clients * 2,
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            ClientCertificates = [cert],
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Issuer == ca.Certificate.Subject,
        },
    };
    using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(2) };
    await BenchSupport.WaitReadyAsync(http);
    if (opts.SummaryOnly)
    {
        // Issue 14: $summary for a well-filled record, for the treating physician and for a pharmacist (matrix applied).
        using var pharmaSummaryCert = X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(Path.Combine(data.Root, "bench", PharmacistRpps + ".crt"), Path.Combine(data.Root, "bench", PharmacistRpps + ".key")).Export(X509ContentType.Pkcs12), null);
        using var pharmaSummaryHandler = new SocketsHttpHandler { SslOptions = new System.Net.Security.SslClientAuthenticationOptions { ClientCertificates = [pharmaSummaryCert], RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Issuer == ca.Certificate.Subject } };
        using var pharmaSummary = new HttpClient(pharmaSummaryHandler) { BaseAddress = http.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        await SummaryBench.RunAsync(http, pharmaSummary, gpRpps, patients[0], opts.SearchRequests);
        var (shwm, _) = BenchSupport.Memory(server.Id);
        Console.WriteLine($"server memory: peak RSS (VmHWM) {shwm / 1024.0:F0} MB");
        return;
    }

    if (opts.Export)
    {
        // Issue 18: the patient's encrypted export of a record of opts.TargetDocuments documents, and the portable record.
        var exportWorkload = new Workload(http, opts.Clients, opts.DocumentBytes, gpRpps);
        using var plainHandler = new SocketsHttpHandler { SslOptions = new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Issuer == ca.Certificate.Subject } };
        await ExportBench.RunAsync(http, exportWorkload, patients[0], insList[0], opts.TargetDocuments, server.Id, () => new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider(), () => new HttpClient(plainHandler, disposeHandler: false) { BaseAddress = http.BaseAddress, Timeout = TimeSpan.FromMinutes(5) });
        return;
    }

    // ITI-65: documents spread over the patients; the target patient receives opts.TargetDocuments.
    var target = patients[0];
    var plan = new List<string>(opts.Documents);
    for (var i = 0; i < opts.TargetDocuments; i++)
    {
        plan.Add(target);
    }

    for (var i = plan.Count; i < opts.Documents; i++)
    {
        plan.Add(patients[1 + (i % (patients.Count - 1))]);
    }

    // With --measure-at N, the target patient's documents are all among the first N, so that the
    // same first page is measured at N documents and again at the end (issue 16: ITI-67 at
    // 1,000,000 documents against 100,000, in one run).
    var measureAt = opts.MeasureAt is > 0 and var m && m < opts.Documents ? m : opts.Documents;
    var firstPage = $"/fhir/DocumentReference?patient={target}";
    var head = plan[..measureAt];
    var tail = plan[measureAt..];
    Shuffle(head);
    Shuffle(tail);

    var workload = new Workload(http, opts.Clients, opts.DocumentBytes, gpRpps);

    if (opts.WarmupSeconds > 0)
    {
        // A server runs for days: its steady state is measured, after the JIT has compiled the hot
        // paths with their profile (tiered compilation takes about a minute of load on 2 cores).
        // Warm-up documents go to the other patients, not to the target patient.
        var warmPlan = Enumerable.Range(0, 1_000_000).Select(i => patients[1 + (i % (patients.Count - 1))]).ToList();
        var warm = await workload.IngestAsync(warmPlan, TimeSpan.FromSeconds(opts.WarmupSeconds));
        Console.WriteLine($"warm-up (not counted): {warm.Count} documents in {warm.Elapsed.TotalSeconds:F1} s = {warm.Count / warm.Elapsed.TotalSeconds:F0} documents/s; failures {warm.Failures}");
    }

    var cpuBefore = BenchSupport.ProcessesCpu();
    var (ingested, ingestTime, all, failures) = await workload.IngestAsync(head, null);
    var cpuAfter = BenchSupport.ProcessesCpu();
    if (tail.Count > 0)
    {
        Console.WriteLine($"ITI-65 ingest of the first {ingested} documents: {ingested / ingestTime.TotalSeconds:F0} documents/s; failures {failures}");
        await MeasureFirstPageAsync($"at {ingested} documents");
        var rest = await workload.IngestAsync(tail, null);
        ingested += rest.Count;
        ingestTime += rest.Elapsed;
        failures += rest.Failures;
        all = [.. all.Concat(rest.Latencies).Order()];
    }

    var rate = ingested / ingestTime.TotalSeconds;
    Console.WriteLine($"ITI-65 ingest: {ingested} documents in {ingestTime.TotalSeconds:F1} s = {rate:F0} documents/s with {opts.Clients} clients; latency p50 {BenchSupport.P(all, 50):F1} ms, p95 {BenchSupport.P(all, 95):F1} ms, p99 {BenchSupport.P(all, 99):F1} ms; failures {failures}");
    // Where the machine's two cores go per document (process times over the first part of the ingest):
    // what a faster write path has to remove.
    var firstPart = Math.Max(1, head.Count);
    var (serverMs, databaseMs, driverMs) = ((cpuAfter.Server - cpuBefore.Server) * 1000 / firstPart, (cpuAfter.Database - cpuBefore.Database) * 1000 / firstPart, (cpuAfter.Driver - cpuBefore.Driver) * 1000 / firstPart);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CPU per document filed (process times): server {serverMs:F3} ms, database {databaseMs:F3} ms, driver {driverMs:F3} ms; ")
        + BenchSupport.CpuBound(serverMs, databaseMs, driverMs, "documents"));

    // ITI-67 for the patient with opts.TargetDocuments documents, in a database of opts.Documents.
    async Task MeasureFirstPageAsync(string when)
    {
        await workload.SearchAsync(firstPage, 200, 1);
        var one = await workload.SearchAsync(firstPage, opts.SearchRequests, 1);
        Console.WriteLine($"ITI-67 first page (50 of {opts.TargetDocuments}) {when}, 1 client: p50 {BenchSupport.P(one, 50):F2} ms, p95 {BenchSupport.P(one, 95):F2} ms, p99 {BenchSupport.P(one, 99):F2} ms ({one.Count} requests)");
        var four = await workload.SearchAsync(firstPage, opts.SearchRequests, 4);
        Console.WriteLine($"ITI-67 first page {when}, 4 clients: p50 {BenchSupport.P(four, 50):F2} ms, p95 {BenchSupport.P(four, 95):F2} ms, p99 {BenchSupport.P(four, 99):F2} ms ({four.Count} requests)");
    }

    await MeasureFirstPageAsync($"at {ingested} documents");
    var typed = await workload.SearchAsync(firstPage + "&status=current&type=http://loinc.org|11488-4&date=ge2016-01-01", opts.SearchRequests / 2, 1);
    Console.WriteLine($"ITI-67 with status+type+date filters, 1 client: p50 {BenchSupport.P(typed, 50):F2} ms, p95 {BenchSupport.P(typed, 95):F2} ms, p99 {BenchSupport.P(typed, 99):F2} ms");
    var whole = await workload.SearchAsync(firstPage + "&_count=500", Math.Max(50, opts.SearchRequests / 10), 1);
    Console.WriteLine($"ITI-67 all {opts.TargetDocuments} in one page (_count=500), 1 client: p50 {BenchSupport.P(whole, 50):F2} ms, p95 {BenchSupport.P(whole, 95):F2} ms, p99 {BenchSupport.P(whole, 99):F2} ms");
    if (opts.XdsDocuments > 0)
    {
        await XdsBench.RunAsync(http, opts, gpRpps, patients.Zip(insList).ToList(), insList[0], rate, whole);
    }

    // Leak check by timing: a document one may not see must cost the same as an absent one. A
    // pharmacist with a valid grant asks for the target's consultation reports (outside the
    // pharmacist's profession × document-type matrix: 404) and for ids that do not exist (404),
    // interleaved so that drift affects both alike.
    using var pharmaCert = X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(Path.Combine(data.Root, "bench", PharmacistRpps + ".crt"), Path.Combine(data.Root, "bench", PharmacistRpps + ".key")).Export(X509ContentType.Pkcs12), null);
    using var pharmaHandler = new SocketsHttpHandler
    {
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            ClientCertificates = [pharmaCert],
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Issuer == ca.Certificate.Subject,
        },
    };
    using var pharma = new HttpClient(pharmaHandler) { BaseAddress = http.BaseAddress };
    var declare = new Hl7.Fhir.Model.Parameters();
    declare.Add("mode", new Hl7.Fhir.Model.Code("alleged"));
    declare.Add("confirm", new Hl7.Fhir.Model.FhirBoolean(true));
    using (var declared = await pharma.PostAsync($"/fhir/Patient/{target}/$declare-access", new StringContent(FhirJson.Serialize(declare), Encoding.UTF8, "application/fhir+json")))
    {
        if (!declared.IsSuccessStatusCode)
        {
            throw new InvalidOperationException("$declare-access failed: " + await declared.Content.ReadAsStringAsync());
        }
    }

    var ids = await workload.IdsAsync(firstPage);

    // Audited reads (issue 21): DocumentReference by id, opts.Clients clients, each read decided by
    // the policy and appended durably to the record's audit chain before it is answered.
    var reads = Math.Max(2_000, opts.SearchRequests * 2);
    var (readRate, readLatencies) = await workload.ReadByIdAsync(ids, reads);
    Console.WriteLine($"DocumentReference read by id (audited), {opts.Clients} clients: {readRate:F0} reads/s; p50 {BenchSupport.P(readLatencies, 50):F2} ms, p95 {BenchSupport.P(readLatencies, 95):F2} ms, p99 {BenchSupport.P(readLatencies, 99):F2} ms ({reads} reads)");
    if (opts.ReadRounds > 0)
    {
        await ReadBench.RunAsync(http, workload, ids, reads, opts.ReadRounds, opts.Clients);
    }

    var hiddenTimes = new List<double>();
    var absentTimes = new List<double>();
    var differentBodies = 0;
    async Task<(double Ms, string Body)> NotFoundAsync(string id)
    {
        var t = Stopwatch.GetTimestamp();
        using var response = await pharma.GetAsync("/fhir/DocumentReference/" + id);
        var body = await response.Content.ReadAsStringAsync();
        var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        if (response.StatusCode != System.Net.HttpStatusCode.NotFound)
        {
            throw new InvalidOperationException($"expected 404 for DocumentReference/{id}, got {(int)response.StatusCode}");
        }

        // The OperationOutcome's id is the request's correlation id, different for every request.
        var outcome = System.Text.Json.Nodes.JsonNode.Parse(body)!.AsObject();
        outcome.Remove("id");
        return (ms, outcome.ToJsonString().Replace(id, "{id}", StringComparison.Ordinal));
    }

    var leakRequests = Math.Max(200, opts.SearchRequests);
    for (var i = 0; i < leakRequests + 100; i++)
    {
        var hidden = await NotFoundAsync(ids[i % ids.Count]);
        var absent = await NotFoundAsync(Guid.CreateVersion7().ToString());
        if (i < 100)
        {
            continue; // warm-up
        }

        hiddenTimes.Add(hidden.Ms);
        absentTimes.Add(absent.Ms);
        differentBodies += hidden.Body == absent.Body ? 0 : 1;
    }

    hiddenTimes.Sort();
    absentTimes.Sort();
    Console.WriteLine($"hidden vs absent DocumentReference (pharmacist, {leakRequests} each, interleaved): hidden p50 {BenchSupport.P(hiddenTimes, 50):F2} ms, p95 {BenchSupport.P(hiddenTimes, 95):F2} ms; absent p50 {BenchSupport.P(absentTimes, 50):F2} ms, p95 {BenchSupport.P(absentTimes, 95):F2} ms; median ratio {BenchSupport.P(hiddenTimes, 50) / BenchSupport.P(absentTimes, 50):F3}; bodies differing {differentBodies}");

    var (hwm, rss) = BenchSupport.Memory(server.Id);
    Console.WriteLine($"server memory: peak RSS (VmHWM) {hwm / 1024.0:F0} MB, current RSS {rss / 1024.0:F0} MB");

    // A transaction at the caps must not stall other records (issue 12: a 2,000-document bundle
    // once held every writer for 39 s). One client posts bundles of MaxDocumentsPerTransaction
    // documents close to MaxTransactionBytes to one record while another reads (audited ITI-67)
    // and another writes (one-document ITI-65) other records; the same two loops run first on a
    // quiet server for comparison.
    if (opts.LargeTransactions > 0)
    {
        await LargeTransactionPhaseAsync(http, gpRpps, patients, opts.LargeTransactions);
        var (hwm2, _) = BenchSupport.Memory(server.Id);
        Console.WriteLine($"server memory after the large transactions: peak RSS (VmHWM) {hwm2 / 1024.0:F0} MB");
    }

    // Issue 15: the alert pipeline's cost on ingest and its event-to-alert delay.
    if (opts.Alerts > 0)
    {
        await AlertBench.RunAsync(http, gpRpps, patients, opts.Alerts, opts.AlertShare, opts.Clients, () => new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider());
    }

    if (failures > 0)
    {
        Environment.ExitCode = 1;
    }
}
finally
{
    if (!server.HasExited)
    {
        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
    }

    if (!opts.Keep)
    {
        try
        {
            Directory.Delete(data.Root, true);
        }
        catch (IOException)
        {
        }
    }
}

static async Task LargeTransactionPhaseAsync(HttpClient http, string gpRpps, List<string> patients, int count)
{
    const int DocumentsPerBundle = 100; // Documents:MaxDocumentsPerTransaction (default)
    const int BytesPerDocument = 190 * 1024; // 100 × 190 KB ≈ 25 MB of JSON: under the default 28.7 MB body limit
    var bigRecord = patients[1];
    var bundles = Enumerable.Range(0, count)
        .Select(_ => FhirJson.Serialize(SubmissionBuilder.Build("Patient/" + bigRecord, gpRpps, "Claire Martin", Enumerable.Range(0, DocumentsPerBundle).Select(_ => new DocumentToSubmit(System.Security.Cryptography.RandomNumberGenerator.GetBytes(BytesPerDocument), "application/pdf", "Compte rendu")).ToList())))
        .ToList();
    Console.WriteLine($"large transactions: {count} bundles of {DocumentsPerBundle} documents, {bundles[0].Length / 1024.0 / 1024.0:F1} MB each");

    async Task<List<double>> TimedAsync(Func<Task<HttpResponseMessage>> call, Func<bool> more)
    {
        var lat = new List<double>();
        while (more())
        {
            var t = Stopwatch.GetTimestamp();
            using var response = await call();
            await response.Content.ReadAsByteArrayAsync();
            lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"request failed during the large-transaction phase: {(int)response.StatusCode}");
            }
        }

        lat.Sort();
        return lat;
    }

    var small = 0;
    Task<HttpResponseMessage> ReadOther() => http.GetAsync($"/fhir/DocumentReference?patient={patients[0]}");
    Task<HttpResponseMessage> WriteOther()
    {
        var patient = patients[2 + (Interlocked.Increment(ref small) % (patients.Count - 2))];
        var bundle = SubmissionBuilder.Build("Patient/" + patient, gpRpps, "Claire Martin", [new DocumentToSubmit(System.Security.Cryptography.RandomNumberGenerator.GetBytes(10 * 1024), "application/pdf", "Compte rendu")]);
        return http.PostAsync("/fhir", new StringContent(FhirJson.Serialize(bundle), Encoding.UTF8, "application/fhir+json"));
    }

    string Describe(List<double> l) => $"p50 {BenchSupport.P(l, 50):F1} ms, p95 {BenchSupport.P(l, 95):F1} ms, max {l[^1]:F1} ms ({l.Count} requests)";

    var quietUntil = Stopwatch.StartNew();
    var quiet = await Task.WhenAll(TimedAsync(ReadOther, () => quietUntil.Elapsed < TimeSpan.FromSeconds(10)), TimedAsync(WriteOther, () => quietUntil.Elapsed < TimeSpan.FromSeconds(10)));
    Console.WriteLine($"quiet server: reads of another record {Describe(quiet[0])}; one-document writes to other records {Describe(quiet[1])}");

    var done = false;
    var bigLatencies = new List<double>();
    async Task SendBigAsync()
    {
        foreach (var json in bundles)
        {
            using var body = new StringContent(json, Encoding.UTF8, "application/fhir+json");
            var t = Stopwatch.GetTimestamp();
            using var response = await http.PostAsync("/fhir", body);
            bigLatencies.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"large transaction failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }
        }

        Volatile.Write(ref done, true);
    }

    var loaded = Task.WhenAll(TimedAsync(ReadOther, () => !Volatile.Read(ref done)), TimedAsync(WriteOther, () => !Volatile.Read(ref done)));
    await SendBigAsync();
    var during = await loaded;
    bigLatencies.Sort();
    Console.WriteLine($"large transaction latency: median {BenchSupport.P(bigLatencies, 50):F0} ms, max {bigLatencies[^1]:F0} ms");
    Console.WriteLine($"during large transactions: reads of another record {Describe(during[0])}; one-document writes to other records {Describe(during[1])}");

    // Over the caps: refused before any work, with the limit named.
    var over = SubmissionBuilder.Build("Patient/" + bigRecord, gpRpps, "Claire Martin", Enumerable.Range(0, DocumentsPerBundle + 1).Select(_ => new DocumentToSubmit(System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024), "application/pdf", "Compte rendu")).ToList());
    var t0 = Stopwatch.GetTimestamp();
    using var refused = await http.PostAsync("/fhir", new StringContent(FhirJson.Serialize(over), Encoding.UTF8, "application/fhir+json"));
    Console.WriteLine($"bundle of {DocumentsPerBundle + 1} documents: {(int)refused.StatusCode} in {Stopwatch.GetElapsedTime(t0).TotalMilliseconds:F0} ms");
}

static void Shuffle(List<string> list)
{
    var r = new Random(42);
    for (var i = list.Count - 1; i > 0; i--)
    {
        var j = r.Next(i + 1);
        (list[i], list[j]) = (list[j], list[i]);
    }
}

internal static partial class Program
{
    private static readonly string PharmacistRpps = Rpps.WithCheckDigit("1000000002");
}

internal sealed record BenchOptions(string? Postgres, int Documents, int Patients, int TargetDocuments, int DocumentBytes, int Clients, int SearchRequests, int LargeTransactions, bool Keep, bool SummaryOnly = false, int WarmupSeconds = 0, int MeasureAt = 0, int Alerts = 0, double AlertShare = 1, string? Peer = null, int PeerPid = 0, int PeerSearchRequests = 10, int XdsDocuments = 0, int DirectoryLines = 0, int Duplicates = 0, bool Export = false, int ReadRounds = 0)
{
    public static BenchOptions Parse(string[] args)
    {
        string? Get(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        int Int(string name, int d) => Get(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : d;
        return new BenchOptions(Get("--postgres"), Int("--documents", 100_000), Int("--patients", 1_000), Int("--target-documents", 500), Int("--document-bytes", 10 * 1024), Int("--clients", 8), Int("--search-requests", 2_000), Int("--large-transactions", 5), args.Contains("--keep"), args.Contains("--summary-only"), Int("--warmup-seconds", 60), Int("--measure-at", 0), Int("--alerts", 0), Get("--alert-share") is { } share ? double.Parse(share, CultureInfo.InvariantCulture) : 1, Get("--peer"), Int("--peer-pid", 0), Int("--peer-search-requests", 10), Int("--xds-documents", 0), Int("--directory-lines", 0), Int("--duplicates", 0), args.Contains("--export"), Int("--read-rounds", 0));
    }
}
