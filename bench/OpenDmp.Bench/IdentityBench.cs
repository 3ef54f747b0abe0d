using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 19: duplicate detection over N identities — a generated population with known duplicates
/// (SyntheticIdentities): precision and recall, the time of the comparison alone, and the time of a
/// detection run over the same identities registered in a database (read, compare, queue).
/// </summary>
internal static class IdentityBench
{
    public static async Task RunAsync(int people, string? postgres)
    {
        var watch = Stopwatch.StartNew();
        var population = SyntheticIdentities.Generate(people);
        Console.WriteLine($"# Duplicate detection — {(postgres is null ? "SQLite" : "PostgreSQL")}: {population.Identities.Count:N0} identities ({people:N0} people, {population.TruePairs.Count:N0} known duplicates), generated in {watch.Elapsed.TotalSeconds:F1} s");

        watch.Restart();
        var scan = DuplicateScoring.Find(population.Identities);
        var compareTime = watch.Elapsed;
        var found = scan.Candidates.Select(c => (c.RecordIdA, c.RecordIdB)).ToHashSet();
        var right = found.Count(population.TruePairs.Contains);
        Console.WriteLine($"compare alone: {compareTime.TotalSeconds:F2} s, {scan.PairsCompared:N0} pairs compared (of {(long)population.Identities.Count * (population.Identities.Count - 1) / 2:N0} possible), threshold {DuplicateScoring.DefaultThreshold}");
        Console.WriteLine($"precision {(double)right / Math.Max(1, found.Count):F3} ({right} of {found.Count} found are true), recall {(double)right / population.TruePairs.Count:F3} ({right} of {population.TruePairs.Count} true found)");

        var dir = Path.Combine(Path.GetTempPath(), "opendmp-idbench-" + Guid.NewGuid().ToString("N")[..8]);
        var data = new DataDirectory(dir);
        data.Ensure();
        var overrides = new Dictionary<string, string?>();
        if (postgres is not null)
        {
            overrides["Database:Provider"] = "Postgres";
            overrides["Database:ConnectionString"] = postgres;
        }

        await using var services = new ServiceCollection().AddLogging().AddOpenDmpCore(OpenDmpConfiguration.Build(data, overrides), data).BuildServiceProvider();
        await CoreServices.MigrateAsync(services, CancellationToken.None);
        watch.Restart();
        foreach (var chunk in population.Identities.Chunk(5000))
        {
            using var scope = services.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
            db.Patients.AddRange(chunk.Select(t => new OpenDmp.Core.Records.Patient
            {
                RecordId = t.RecordId, Ins = t.Ins, InsSystem = t.InsSystem, IsTestIdentity = true, Family = t.Family, Given = t.Given, BirthDate = t.BirthDate, Sex = t.Sex,
                BirthPlace = t.BirthPlace, CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
            }));
            await db.SaveChangesAsync();
        }

        Console.WriteLine($"registered in the database in {watch.Elapsed.TotalSeconds:F1} s (seeding, not measured)");
        using (var scope = services.CreateScope())
        {
            watch.Restart();
            var report = await scope.ServiceProvider.GetRequiredService<DuplicateQueue>().DetectAsync(DuplicateScoring.DefaultThreshold, CancellationToken.None);
            Console.WriteLine($"detection run (read every identity, compare, queue): {watch.Elapsed.TotalSeconds:F2} s — {report}");
        }

        Directory.Delete(dir, true);
    }
}
