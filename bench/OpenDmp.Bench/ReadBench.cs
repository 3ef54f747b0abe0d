using System.Globalization;

namespace OpenDmp.Bench;

/// <summary>
/// Audited reads by id measured in rounds (issue 21): on this kind of VM one run of a few thousand
/// reads varies by ±15 %, so a change is judged on the median of several rounds, with the CPU each
/// read costs the server, the database and the driver (process times, not wall time).
/// </summary>
internal static class ReadBench
{
    public static async Task RunAsync(Workload workload, IReadOnlyList<string> ids, int reads, int rounds, int clients)
    {
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
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"CPU per read (process times, mean of the rounds): server {cpu.Average(c => c.Server):F3} ms, database {cpu.Average(c => c.Database):F3} ms, driver {cpu.Average(c => c.Driver):F3} ms"));
    }
}
