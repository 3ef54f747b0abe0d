using System.Globalization;

namespace OpenDmp.Bench;

/// <summary>
/// Audited reads by id measured in rounds (issue 21): on this kind of VM one run of a few thousand
/// reads varies by ±15 %, so a change is judged on the median of several rounds, with the CPU each
/// read costs the server, the database and the driver (process times, not wall time).
/// </summary>
internal static class ReadBench
{
    public static async Task RunAsync(HttpClient http, Workload workload, IReadOnlyList<string> ids, int reads, int rounds, int clients)
    {
        var metricsBefore = await MetricsAsync(http);
        var rates = new List<double>();
        var latencies = new List<double>();
        var cpu = new List<(double Server, double Database, double Driver)>();
        for (var round = 0; round < rounds; round++)
        {
            var before = BenchSupport.ProcessesCpu();
            var (rate, l) = await workload.ReadByIdAsync(ids, reads);
            var after = BenchSupport.ProcessesCpu();
            rates.Add(rate);
            latencies.AddRange(l);
            cpu.Add(((after.Server - before.Server) * 1000 / reads, (after.Database - before.Database) * 1000 / reads, (after.Driver - before.Driver) * 1000 / reads));
        }

        latencies.Sort();
        var sorted = rates.Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"DocumentReference read by id (audited), {clients} clients, {rounds} rounds of {reads}: median {BenchSupport.P(sorted, 50):F0} reads/s (each round: {string.Join(" / ", rates.Select(r => r.ToString("F0", CultureInfo.InvariantCulture)))}); p50 {BenchSupport.P(latencies, 50):F2} ms, p95 {BenchSupport.P(latencies, 95):F2} ms, p99 {BenchSupport.P(latencies, 99):F2} ms"));
        var (server, database, driver) = (cpu.Average(c => c.Server), cpu.Average(c => c.Database), cpu.Average(c => c.Driver));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CPU per read (process times, mean of the rounds): server {server:F3} ms, database {database:F3} ms, driver {driver:F3} ms; ")
            + BenchSupport.CpuBound(server, database, driver, "reads"));

        // The audit group commit seen from the server's own metrics (Prometheus, loopback).
        var metrics = await MetricsAsync(http);
        double Mean(string name) => (metrics.GetValueOrDefault(name + "_sum") - metricsBefore.GetValueOrDefault(name + "_sum")) / Math.Max(1, metrics.GetValueOrDefault(name + "_count") - metricsBefore.GetValueOrDefault(name + "_count"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"audit group commit during the rounds (server metrics): {Mean("opendmp_audit_group_entries"):F2} entries per group; a group written in {Mean("opendmp_audit_group_duration_milliseconds"):F2} ms; a request waits {Mean("opendmp_audit_wait_milliseconds"):F2} ms for its entry to be durable (means)"));
    }

    /// <summary>The _sum and _count series of the server's histograms, summed over their labels.</summary>
    private static async Task<Dictionary<string, double>> MetricsAsync(HttpClient http)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in (await http.GetStringAsync("/metrics")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "name{labels} value": the exporter writes no timestamp.
            var name = line.Split('{', ' ')[0];
            if (!line.StartsWith('#') && (name.EndsWith("_sum", StringComparison.Ordinal) || name.EndsWith("_count", StringComparison.Ordinal))
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            {
                values[name] = values.GetValueOrDefault(name) + v;
            }
        }

        return values;
    }
}
