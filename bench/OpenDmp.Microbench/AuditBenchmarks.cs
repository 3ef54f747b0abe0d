using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Microbench;

/// <summary>
/// Audit append throughput through the real path (RecordGuard.AuditAsync: record write gate, hash
/// chain, one durable transaction per entry), 8 concurrent writers on 8 records, as concurrent API
/// requests would. One operation = one entry: entries/s = 1 / mean.
/// PostgreSQL needs OPENDMP_BENCH_PG (a connection string to an empty database).
/// </summary>
[Config(typeof(AuditConfig))]
public class AuditBenchmarks
{
    private const int Entries = 400;
    private ServiceProvider _services = null!;
    private string _dir = null!;
    private readonly List<string> _records = [];

    [Params("sqlite", "postgres")]
    public string Provider { get; set; } = "sqlite";

    /// <summary>Concurrent writers, each on its own record (concurrent requests on different records).</summary>
    [Params(8, 32)]
    public int Writers { get; set; } = 8;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "opendmp-micro-" + Guid.NewGuid().ToString("N")[..8]);
        var data = new DataDirectory(_dir);
        data.Ensure();
        var overrides = new Dictionary<string, string?>();
        if (Provider == "postgres")
        {
            overrides["Database:Provider"] = "Postgres";
            overrides["Database:ConnectionString"] = Environment.GetEnvironmentVariable("OPENDMP_BENCH_PG")
                ?? throw new InvalidOperationException("set OPENDMP_BENCH_PG to a PostgreSQL connection string (bench/micro.sh does)");
        }

        var config = OpenDmpConfiguration.Build(data, overrides);
        _services = new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider();
        CoreServices.MigrateAsync(_services, CancellationToken.None).GetAwaiter().GetResult();
        using var scope = _services.CreateScope();
        var rpps = "10000000017";
        var directory = scope.ServiceProvider.GetRequiredService<DirectoryService>();
        if (directory.FindByRppsAsync(rpps, CancellationToken.None).GetAwaiter().GetResult() is null)
        {
            directory.AddProfessionalAsync(rpps, "10", "SM54", "Martin", "Claire", Actor.Operator, Channels.Admin, CancellationToken.None).GetAwaiter().GetResult();
        }

        _records.Clear();
        var records = scope.ServiceProvider.GetRequiredService<RecordService>();
        for (var i = 0; i < Writers; i++)
        {
            var nir = $"1800175{Random.Shared.Next(100000, 999999)}";
            while (records.FindByInsAsync(Ins.WithKey(nir), CancellationToken.None).GetAwaiter().GetResult() is not null)
            {
                nir = $"1800175{Random.Shared.Next(100000, 999999)}";
            }

            var p = records.AddPatientAsync(new NewPatient(Ins.WithKey(nir), Ins.TestSystem, "BENCH", "Audit" + i, new DateOnly(1980, 1, 1), "M", null), Actor.Operator, Channels.Admin, CancellationToken.None).GetAwaiter().GetResult();
            records.OpenAsync(p.RecordId, rpps, rpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, CancellationToken.None).GetAwaiter().GetResult();
            _records.Add(p.RecordId);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _services.Dispose();
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }

    [Benchmark(OperationsPerInvoke = Entries, Description = "audit append (per entry)")]
    public async Task Append()
    {
        var actor = new Actor(ActorKind.Professional, "bench", "bench", "10");
        var perWriter = Entries / Writers;
        await Task.WhenAll(_records.Select(async recordId =>
        {
            using var scope = _services.CreateScope();
            var guard = scope.ServiceProvider.GetRequiredService<RecordGuard>();
            for (var i = 0; i < perWriter; i++)
            {
                await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Read, "success", Channels.Api, "DocumentReference", "d" + i, "alleged"), CancellationToken.None);
            }
        }));
    }
}

/// <summary>In process (no generated project), few iterations: each one writes 400 durable entries.</summary>
public sealed class AuditConfig : ManualConfig
{
    public AuditConfig() =>
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(10));
}
