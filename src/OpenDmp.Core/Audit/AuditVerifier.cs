using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Audit;

/// <summary>A signed checkpoint over the heads of all audit chains at one moment (design D10).</summary>
public sealed class AuditCheckpoint
{
    public long Id { get; set; }
    public DateTimeOffset Time { get; set; }
    /// <summary>Canonical list of chain heads: one line per chain, "record_id seq hash", sorted by record_id.</summary>
    public required string Heads { get; set; }
    /// <summary>RSA-SHA256 signature of <see cref="Heads"/> and the time, base64.</summary>
    public required string Signature { get; set; }
    /// <summary>Thumbprint of the signing certificate.</summary>
    public required string Signer { get; set; }
}

/// <summary>One problem found by verification.</summary>
public sealed record AuditProblem(string Chain, long Seq, string What);

/// <summary>Result of a verification: entries and checkpoints checked, and the first problem of each broken chain.</summary>
public sealed record AuditReport(long Entries, int Chains, int Checkpoints, IReadOnlyList<AuditProblem> Problems)
{
    public bool Intact => Problems.Count == 0;
}

/// <summary>
/// Signs checkpoints over all chain heads and verifies the whole trail: each chain is recomputed
/// from its first entry (sequence without gaps, previous-hash links, entry hashes), then each
/// checkpoint's signature and the heads it vouches for.
/// </summary>
public sealed class AuditVerifier(DmpDbContext db, TimeProvider time)
{
    public static string CanonicalCheckpoint(DateTimeOffset time, string heads) =>
        AuditTrail.TruncateToMicroseconds(time).UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n" + heads;

    /// <summary>Writes a checkpoint signed with the given key (certificate with its private key).</summary>
    public async Task<AuditCheckpoint> CheckpointAsync(X509Certificate2 signer, CancellationToken ct)
    {
        using var rsa = signer.GetRSAPrivateKey() ?? throw new InvalidOperationException("the audit signing certificate has no RSA private key");
        // One query for all heads. A checkpoint is O(number of chains): at national scale it would
        // cover the chains changed since the previous checkpoint (not needed yet).
        var heads = await db.AuditEntries.AsNoTracking()
            .Where(e => e.Seq == db.AuditEntries.Where(b => b.RecordId == e.RecordId).Max(b => b.Seq))
            .Select(e => new { e.RecordId, e.Seq, e.Hash })
            .ToListAsync(ct);
        var lines = heads.OrderBy(h => h.RecordId, StringComparer.Ordinal).Select(h => $"{h.RecordId} {h.Seq} {h.Hash}").ToList();

        var now = AuditTrail.TruncateToMicroseconds(time.GetUtcNow());
        var text = string.Join('\n', lines);
        var signature = rsa.SignData(Encoding.UTF8.GetBytes(CanonicalCheckpoint(now, text)), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var cp = new AuditCheckpoint { Time = now, Heads = text, Signature = Convert.ToBase64String(signature), Signer = signer.Thumbprint };
        db.AuditCheckpoints.Add(cp);
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        return cp;
    }

    /// <summary>Recomputes every chain and checks every checkpoint against the signer's certificate.</summary>
    public async Task<AuditReport> VerifyAsync(X509Certificate2 signer, CancellationToken ct)
    {
        var problems = new List<AuditProblem>();

        // Checkpoints first: their signatures, and the entries they vouch for.
        using var rsa = signer.GetRSAPublicKey() ?? throw new InvalidOperationException("the audit signing certificate has no RSA key");
        var checkpoints = await db.AuditCheckpoints.AsNoTracking().OrderBy(c => c.Id).ToListAsync(ct);
        var vouched = new Dictionary<(string Chain, long Seq), (string Hash, long Checkpoint)>();
        foreach (var cp in checkpoints)
        {
            var signed = cp.Signer == signer.Thumbprint
                && rsa.VerifyData(Encoding.UTF8.GetBytes(CanonicalCheckpoint(cp.Time, cp.Heads)), Convert.FromBase64String(cp.Signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            if (!signed)
            {
                problems.Add(new AuditProblem("checkpoint", cp.Id, "the checkpoint's signature is not valid"));
                continue;
            }

            foreach (var line in cp.Heads.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(' ');
                vouched[(parts[0], long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture))] = (parts[2], cp.Id);
            }
        }

        var seen = new HashSet<(string, long)>();
        var chains = 0;
        long count = 0;
        string? chain = null;
        long expectedSeq = 0;
        var prev = AuditTrail.Genesis;
        var broken = false;
        // Streamed in chain order: memory stays flat whatever the size of the trail.
        await foreach (var e in db.AuditEntries.AsNoTracking().OrderBy(e => e.RecordId).ThenBy(e => e.Seq).AsAsyncEnumerable().WithCancellation(ct))
        {
            count++;
            if (e.RecordId != chain)
            {
                chain = e.RecordId;
                chains++;
                expectedSeq = 1;
                prev = AuditTrail.Genesis;
                broken = false;
            }

            if (vouched.TryGetValue((e.RecordId, e.Seq), out var v))
            {
                seen.Add((e.RecordId, e.Seq));
                if (v.Hash != e.Hash)
                {
                    problems.Add(new AuditProblem(e.RecordId, e.Seq, $"checkpoint {v.Checkpoint} vouches for a different hash of this entry (rewritten chain)"));
                }
            }

            if (broken)
            {
                continue;
            }

            string? what = null;
            if (e.Seq != expectedSeq)
            {
                what = $"sequence gap: entry {expectedSeq} is missing (found {e.Seq})";
            }
            else if (e.PrevHash != prev)
            {
                what = "the previous-hash link does not match the preceding entry";
            }
            else if (AuditTrail.ComputeHash(e) != e.Hash)
            {
                what = "the entry's content does not match its hash (altered)";
            }

            if (what is not null)
            {
                problems.Add(new AuditProblem(e.RecordId, e.Seq, what));
                broken = true;
            }

            expectedSeq = e.Seq + 1;
            prev = e.Hash;
        }

        foreach (var ((c, seq), (_, cpId)) in vouched)
        {
            if (!seen.Contains((c, seq)))
            {
                problems.Add(new AuditProblem(c, seq, $"checkpoint {cpId} vouches for this entry but it is missing (truncated chain)"));
            }
        }

        return new AuditReport(count, chains, checkpoints.Count, problems);
    }
}
