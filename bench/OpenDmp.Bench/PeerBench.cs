using System.Globalization;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 21's peer comparison: the driver's workload against another FHIR server (plain HTTP on
/// loopback, no client certificate, no seeding: the peer has no record to open), printed in the
/// same lines as OpenDMP's run so that bench/peers.sh reads both alike. The peer's memory is read
/// from /proc for the process id given with --peer-pid.
/// </summary>
internal static class PeerBench
{
    public static async Task RunAsync(string baseUrl, int pid, BenchOptions opts)
    {
        Console.WriteLine($"# peer benchmark — {baseUrl}, {opts.Documents} documents of {opts.DocumentBytes} bytes, {opts.Patients} patients, {opts.Clients} clients");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = opts.Clients * 2 };
        // Generous: the peer serves one request at a time, and a patient search takes seconds.
        using var http = new HttpClient(handler) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromMinutes(15) };
        await BenchSupport.WaitReadyAsync(http, "/fhir/DocumentReference?_count=1");

        var patients = Enumerable.Range(0, opts.Patients).Select(_ => Guid.NewGuid().ToString()).ToList();
        var target = patients[0];
        var plan = Enumerable.Repeat(target, opts.TargetDocuments)
            .Concat(Enumerable.Range(opts.TargetDocuments, Math.Max(0, opts.Documents - opts.TargetDocuments)).Select(i => patients[1 + (i % (patients.Count - 1))]))
            .ToList();
        var r = new Random(42);
        r.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(plan));

        var workload = new Workload(http, opts.Clients, opts.DocumentBytes, "10000000017");
        if (opts.WarmupSeconds > 0)
        {
            // Capped at 5,000 documents: Node's JIT is warm by then, and every document more slows the
            // peer's patient searches (a scan of everything it holds).
            var warmPlan = Enumerable.Range(0, 5_000).Select(i => patients[1 + (i % (patients.Count - 1))]).ToList();
            var warm = await workload.IngestAsync(warmPlan, TimeSpan.FromSeconds(opts.WarmupSeconds));
            Console.WriteLine($"warm-up (not counted): {warm.Count} documents in {warm.Elapsed.TotalSeconds:F1} s = {warm.Rate:F0} documents/s; failures {warm.Failures}");
        }

        var ingest = await workload.IngestAsync(plan, null);
        Console.WriteLine($"ITI-65 ingest: {ingest.Count} documents in {ingest.Elapsed.TotalSeconds:F1} s = {ingest.Rate:F0} documents/s with {opts.Clients} clients; latency p50 {BenchSupport.P(ingest.Latencies, 50):F1} ms, p95 {BenchSupport.P(ingest.Latencies, 95):F1} ms, p99 {BenchSupport.P(ingest.Latencies, 99):F1} ms; failures {ingest.Failures}");

        // OpenDMP's first page is 50 documents, newest first: the same is asked of the peer. Medplum's
        // in-memory repository scans every resource for a patient search (seconds per page at 20,000
        // documents): the peer's searches are fewer, --peer-search-requests (default 10).
        var firstPage = $"/fhir/DocumentReference?patient={target}&_count=50&_sort=-date";
        var searches = opts.PeerSearchRequests;
        await workload.SearchAsync(firstPage, 2, 1);
        var one = await workload.SearchAsync(firstPage, searches, 1);
        Console.WriteLine($"ITI-67 first page (50 of {opts.TargetDocuments}) at {ingest.Count} documents, 1 client: p50 {BenchSupport.P(one, 50):F2} ms, p95 {BenchSupport.P(one, 95):F2} ms, p99 {BenchSupport.P(one, 99):F2} ms ({one.Count} requests)");
        var four = await workload.SearchAsync(firstPage, searches, 4);
        Console.WriteLine($"ITI-67 first page at {ingest.Count} documents, 4 clients: p50 {BenchSupport.P(four, 50):F2} ms, p95 {BenchSupport.P(four, 95):F2} ms, p99 {BenchSupport.P(four, 99):F2} ms ({four.Count} requests)");

        var ids = await workload.IdsAsync(firstPage);
        var reads = Math.Max(2_000, opts.SearchRequests * 2);
        var (rate, latencies) = await workload.ReadByIdAsync(ids, reads);
        Console.WriteLine($"DocumentReference read by id, {opts.Clients} clients: {rate:F0} reads/s; p50 {BenchSupport.P(latencies, 50):F2} ms, p95 {BenchSupport.P(latencies, 95):F2} ms, p99 {BenchSupport.P(latencies, 99):F2} ms ({reads} reads)");

        var (hwm, rss) = BenchSupport.Memory(pid);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"server memory: peak RSS (VmHWM) {hwm / 1024.0:F0} MB, current RSS {rss / 1024.0:F0} MB"));
        if (ingest.Failures > 0)
        {
            Environment.ExitCode = 1;
        }
    }
}
