using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Audit;

/// <summary>
/// The audit group commit with groups larger than the default (Audit:GroupCommitMaxEntries): a
/// group spanning hundreds of chains — on SQLite more than one statement reads their heads — still
/// continues each chain from its own newest entry, in arrival order, with no gap and no fork.
/// </summary>
public abstract class AuditGroupCommitTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private const int Chains = 250;
    private const int Rounds = 3;

    private readonly TelemetryCapture _capture = new();

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Audit:GroupCommitMaxEntries"] = "600" };

    protected override Action<ILoggingBuilder>? Logging => _capture.Install;

    /// <summary>This server's warnings that a group failed whole and was written entry by entry (a retry would hide a group that fails for every group).</summary>
    private List<string> GroupRetries() => _capture.Logs.Where(l => l.Contains("failed whole", StringComparison.Ordinal)).ToList();

    [Fact]
    public async Task ManyChainsInOneGroup_EachContinuesItsOwnHead()
    {
        var chains = Enumerable.Range(0, Chains).Select(i => $"group-chain-{i:D3}").ToList();
        await Server.WithScopeAsync(async sp =>
        {
            var commit = sp.GetRequiredService<AuditGroupCommit>();
            for (var round = 0; round < Rounds; round++)
            {
                // Queued together, so that the writer takes most of them as one group; two entries
                // per chain per round, the second continuing the first within the group.
                await Task.WhenAll(chains.SelectMany(c => new[]
                {
                    commit.AppendAsync(new AuditItem(c, Actor.Operator, AuditAction.Read, "success", Channels.Admin, "Patient", c, Detail: $"round {round} first")),
                    commit.AppendAsync(new AuditItem(c, Actor.Operator, AuditAction.Read, "success", Channels.Admin, "Patient", c, Detail: $"round {round} second")),
                }));
            }

            return 0;
        });

        // Written by the groups themselves, not by the entry-by-entry retry of a failed group.
        Assert.Empty(GroupRetries());
        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId.StartsWith("group-chain-")).ToListAsync());
        Assert.Equal(Chains * Rounds * 2, entries.Count);
        foreach (var chain in entries.GroupBy(e => e.RecordId))
        {
            var ordered = chain.OrderBy(e => e.Seq).ToList();
            Assert.Equal(Enumerable.Range(1, Rounds * 2).Select(i => (long)i), ordered.Select(e => e.Seq));
            Assert.Equal(
                Enumerable.Range(0, Rounds).SelectMany(r => new[] { $"round {r} first", $"round {r} second" }),
                ordered.Select(e => e.Detail));
            for (var i = 0; i < ordered.Count; i++)
            {
                Assert.Equal(i == 0 ? AuditTrail.Genesis : ordered[i - 1].Hash, ordered[i].PrevHash);
                Assert.Equal(AuditTrail.ComputeHash(ordered[i]), ordered[i].Hash);
            }
        }
    }

    /// <summary>
    /// One entry the database refuses (here a channel left empty, which the schema forbids) makes its
    /// group fail whole: the group is written again entry by entry, so that only that entry's request
    /// fails; the others are durable, the chain stays dense, and the retry is counted
    /// (<c>opendmp.audit.group_retries</c>) and logged without the entry's content.
    /// </summary>
    [Fact]
    public async Task ABadEntry_FailsOnlyItsOwnRequest()
    {
        const string chain = "bad-entry-chain";
        var written = 0;
        for (var attempt = 0; attempt < 5 && GroupRetries().Count == 0; attempt++)
        {
            var (good, bad) = await Server.WithScopeAsync(sp =>
            {
                var commit = sp.GetRequiredService<AuditGroupCommit>();
                AuditItem Good(int i) => new(chain, Actor.Operator, AuditAction.Read, "success", Channels.Admin, "Patient", chain, Detail: $"good {attempt}.{i}");
                // Queued together behind the group being written: the bad entry shares a group with good ones.
                var before = Enumerable.Range(0, 10).Select(i => commit.AppendAsync(Good(i))).ToList();
                var refused = commit.AppendAsync(new AuditItem(chain, Actor.Operator, AuditAction.Read, "success", null!, "Patient", chain, Detail: "bad"));
                var after = Enumerable.Range(10, 10).Select(i => commit.AppendAsync(Good(i))).ToList();
                return Task.FromResult((before.Concat(after).ToList(), refused));
            });

            await Task.WhenAll(good);
            await Assert.ThrowsAnyAsync<Exception>(() => bad);
            written += good.Count;
        }

        // Logged, naming neither the chain nor anything of the entries.
        var retried = GroupRetries();
        Assert.NotEmpty(retried);
        Assert.All(retried, l => Assert.False(l.Contains(chain, StringComparison.Ordinal) || l.Contains("good ", StringComparison.Ordinal), l));
        TelemetryCapture.Flush(Server.Services);
        Assert.True(_capture.Sum("opendmp.audit.group_retries") >= 1, "the retry is counted");
        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == chain).OrderBy(e => e.Seq).ToListAsync());
        Assert.Equal(written, entries.Count);
        Assert.DoesNotContain(entries, e => e.Detail == "bad");
        Assert.Equal(Enumerable.Range(1, written).Select(i => (long)i), entries.Select(e => e.Seq));
        for (var i = 0; i < entries.Count; i++)
        {
            Assert.Equal(i == 0 ? AuditTrail.Genesis : entries[i - 1].Hash, entries[i].PrevHash);
            Assert.Equal(AuditTrail.ComputeHash(entries[i]), entries[i].Hash);
        }
    }
}

public sealed class AuditGroupCommitTests_Sqlite() : AuditGroupCommitTests(new SqliteStorage())
{
    /// <summary>
    /// The SQLite group reads its chains' heads with compound statements of at most 100 chains: over
    /// several statements, each chain's newest entry is found, and a chain with no entry is absent.
    /// </summary>
    [Fact]
    public async Task HeadsOfManyChains_AreEachChainsNewestEntry()
    {
        var chains = Enumerable.Range(0, 230).Select(i => $"heads-chain-{i:D3}").ToList();
        await Server.WithScopeAsync(async sp =>
        {
            var commit = sp.GetRequiredService<AuditGroupCommit>();
            // Chain i gets 1 + i % 3 entries.
            foreach (var (chain, i) in chains.Select((c, i) => (c, i)))
            {
                for (var n = 0; n <= i % 3; n++)
                {
                    await commit.AppendAsync(new AuditItem(chain, Actor.Operator, AuditAction.Read, "success", Channels.Admin, "Patient", chain));
                }
            }

            return 0;
        });

        var expected = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId.StartsWith("heads-chain-")).GroupBy(e => e.RecordId)
            .Select(g => g.OrderByDescending(e => e.Seq).Select(e => new { e.RecordId, e.Seq, e.Hash }).First()).ToListAsync());
        Assert.Equal(chains.Count, expected.Count);
        var heads = await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            await db.Database.OpenConnectionAsync();
            return await AuditGroupCommit.SqliteHeadsAsync(db.Database.GetDbConnection(), null, [.. chains, "heads-chain-none"]);
        });

        Assert.Equal(chains.Count, heads.Count);
        Assert.False(heads.ContainsKey("heads-chain-none"));
        foreach (var e in expected)
        {
            Assert.Equal(new ChainHead(e.RecordId, e.Seq, e.Hash), heads[e.RecordId]);
            Assert.Equal(1 + (chains.IndexOf(e.RecordId) % 3), e.Seq);
        }
    }
}

[Collection(PostgresCollection.Name)]
public sealed class AuditGroupCommitTests_Postgres(PostgresCluster pg) : AuditGroupCommitTests(new PostgresStorage(pg, "groupcommit"));
