using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Audit;

/// <summary>
/// A signed checkpoint over the heads of audit chains at one moment (design D10). Format 1 (the
/// first versions) signed the time and every head; format 2 signs the time, the digest of the
/// previous checkpoint (checkpoints form a chain: one removed or altered breaks it) and the Merkle
/// root of the heads it covers (the chains written since the previous one, or all of them).
/// </summary>
public sealed class AuditCheckpoint
{
    public long Id { get; set; }
    public DateTimeOffset Time { get; set; }
    /// <summary>Canonical list of chain heads: one line per chain, "record_id seq hash", sorted by record_id.</summary>
    public required string Heads { get; set; }
    /// <summary>RSA-SHA256 signature of the canonical text (<see cref="AuditVerifier.Canonical"/>), base64.</summary>
    public required string Signature { get; set; }
    /// <summary>Thumbprint of the signing certificate.</summary>
    public required string Signer { get; set; }
    /// <summary>1: time and heads signed; 2: time, previous checkpoint's digest and Merkle root signed.</summary>
    public int Format { get; set; } = 1;
    /// <summary>Format 2: Merkle root of <see cref="Heads"/> (hex).</summary>
    public string? Root { get; set; }
    /// <summary>Format 2: SHA-256 (hex) of the previous checkpoint's canonical text (zeros for the first).</summary>
    public string? Previous { get; set; }
}

/// <summary>Which checkpoints vouch for a chain (lookup for a patient's proof): record first in the key (design D16).</summary>
public sealed class AuditCheckpointHead
{
    public required string RecordId { get; set; }
    public long CheckpointId { get; set; }
    public long Seq { get; set; }
}

/// <summary>One problem found by verification.</summary>
public sealed record AuditProblem(string Chain, long Seq, string What);

/// <summary>Result of a verification: entries and checkpoints checked, and the first problem of each broken chain.</summary>
public sealed record AuditReport(long Entries, int Chains, int Checkpoints, IReadOnlyList<AuditProblem> Problems, int Anchored = 0)
{
    public bool Intact => Problems.Count == 0;
}

/// <summary>
/// Signs checkpoints and verifies the whole trail: each chain is recomputed from its first entry
/// (sequence without gaps, previous-hash links, entry hashes); each checkpoint's signature, root and
/// link to the previous one; every head a checkpoint vouches for must still exist with the same
/// hash (truncation and rewriting of chain tails); every checkpoint of the anchor file (outside the
/// database) must still be in the database, unchanged.
/// </summary>
public sealed class AuditVerifier(DmpDbContext db, WriteGate gate, AuditKeys keys, TimeProvider time)
{
    public const string Zero = AuditTrail.Genesis;

    /// <summary>Format 1 signed text (kept to verify the first checkpoints).</summary>
    public static string CanonicalCheckpoint(DateTimeOffset time, string heads) =>
        AuditTrail.TruncateToMicroseconds(time).UtcTicks.ToString(CultureInfo.InvariantCulture) + "\n" + heads;

    /// <summary>The text a checkpoint's signature covers.</summary>
    public static string Canonical(AuditCheckpoint cp) => cp.Format == 2
        ? string.Join('\n', "opendmp-audit-checkpoint-v2", AuditTrail.TruncateToMicroseconds(cp.Time).UtcTicks.ToString(CultureInfo.InvariantCulture), cp.Previous, cp.Root)
        : CanonicalCheckpoint(cp.Time, cp.Heads);

    /// <summary>The digest the next checkpoint links to.</summary>
    public static string Digest(AuditCheckpoint cp) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(cp))));

    /// <summary>Whether the checkpoint is signed by the trusted certificate its signer thumbprint names.</summary>
    public static bool SignatureValid(AuditCheckpoint cp, X509Certificate2Collection trusted)
    {
        foreach (var certificate in trusted)
        {
            if (certificate.Thumbprint == cp.Signer)
            {
                return SignatureValid(cp, certificate);
            }
        }

        return false;
    }

    public static bool SignatureValid(AuditCheckpoint cp, X509Certificate2 verifier)
    {
        using var rsa = verifier.GetRSAPublicKey() ?? throw new InvalidOperationException("the audit verification certificate has no RSA key");
        try
        {
            return cp.Signer == verifier.Thumbprint
                && rsa.VerifyData(Encoding.UTF8.GetBytes(Canonical(cp)), Convert.FromBase64String(cp.Signature), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes a checkpoint over the heads of the given chains (all chains when null), linked to the
    /// previous checkpoint, signed, then appended to the anchor file. Null when there is nothing to cover.
    /// </summary>
    public async Task<AuditCheckpoint?> CheckpointAsync(CancellationToken ct, IReadOnlyCollection<string>? chains = null)
    {
        var signer = keys.Signer();
        var heads = await HeadsAsync(chains, ct);
        if (heads.Count == 0)
        {
            return null;
        }

        var lines = heads.OrderBy(h => h.RecordId, StringComparer.Ordinal).Select(h => $"{h.RecordId} {h.Seq} {h.Hash}").ToList();
        AuditCheckpoint cp;
        db.ChangeTracker.Clear();
        await using (var scope = await gate.EnterAsync(db, null, ct))
        {
            // Under the system gate: the previous checkpoint is the last one, whatever the instance.
            var last = await db.AuditCheckpoints.AsNoTracking().OrderByDescending(c => c.Id).FirstOrDefaultAsync(ct);
            cp = new AuditCheckpoint
            {
                Format = 2,
                Time = AuditTrail.TruncateToMicroseconds(time.GetUtcNow()),
                Heads = string.Join('\n', lines),
                Root = MerkleTree.Root(lines),
                Previous = last is null ? Zero : Digest(last),
                Signature = string.Empty,
                Signer = signer.Thumbprint,
            };
            using (var rsa = signer.GetRSAPrivateKey() ?? throw new InvalidOperationException("the audit signing certificate has no RSA private key"))
            {
                cp.Signature = Convert.ToBase64String(rsa.SignData(Encoding.UTF8.GetBytes(Canonical(cp)), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            }

            db.AuditCheckpoints.Add(cp);
            await db.SaveChangesAsync(ct);
            db.AuditCheckpointHeads.AddRange(heads.Select(h => new AuditCheckpointHead { RecordId = h.RecordId, CheckpointId = cp.Id, Seq = h.Seq }));
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        db.ChangeTracker.Clear();
        AnchorLog.Append(keys.AnchorPath, cp);
        return cp;
    }

    private sealed record Head(string RecordId, long Seq, string Hash);

    /// <summary>Of these chains, those whose newest committed entry no checkpoint covers yet.</summary>
    public async Task<IReadOnlyList<string>> UncoveredAsync(IReadOnlyCollection<string> chains, CancellationToken ct)
    {
        var uncovered = new List<string>();
        foreach (var heads in (await HeadsAsync(chains, ct)).Chunk(500))
        {
            var batch = heads.Select(h => h.RecordId).ToList();
            var covered = await db.AuditCheckpointHeads.AsNoTracking().Where(h => batch.Contains(h.RecordId))
                .GroupBy(h => h.RecordId).Select(g => new { RecordId = g.Key, Seq = g.Max(h => h.Seq) }).ToDictionaryAsync(x => x.RecordId, x => x.Seq, ct);
            uncovered.AddRange(heads.Where(h => !covered.TryGetValue(h.RecordId, out var seq) || seq < h.Seq).Select(h => h.RecordId));
        }

        return uncovered;
    }

    /// <summary>
    /// The newest entry of each chain (all chains, or these), found by one descent of the
    /// (record_id, seq) key per chain: the cost grows with the number of chains, not with their
    /// length. (Comparing each entry with its chain's maximum read every entry of the chains: a
    /// checkpoint of one busy record took 0.4 s of database time per 40,000 entries, every 5 s.)
    /// All chains are enumerated by skipping from one record_id of the key to the next.
    /// </summary>
    private async Task<List<Head>> HeadsAsync(IReadOnlyCollection<string>? chains, CancellationToken ct)
    {
        var postgres = db.Database.IsNpgsql();
        const string AllChains = "WITH RECURSIVE k(id) AS (SELECT min(record_id) FROM audit_entries UNION ALL SELECT (SELECT min(record_id) FROM audit_entries WHERE record_id > k.id) FROM k WHERE k.id IS NOT NULL) SELECT id FROM k WHERE id IS NOT NULL";
        var ids = chains is null ? AllChains : postgres ? "SELECT unnest(@ids) AS id" : "SELECT value AS id FROM json_each(@ids)";
        var sql = $"SELECT h.record_id, h.seq, h.hash FROM ({ids}) AS c JOIN audit_entries AS h ON h.record_id = c.id AND h.seq = (SELECT seq FROM audit_entries WHERE record_id = c.id ORDER BY seq DESC LIMIT 1)";
        var heads = new List<Head>(chains?.Count ?? 0);
        var batches = chains is null ? new string[]?[] { null } : chains.Distinct(StringComparer.Ordinal).Chunk(500).ToArray<string[]?>();
        foreach (var batch in batches)
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = sql;
            command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
            if (batch is not null)
            {
                var p = command.CreateParameter();
                p.ParameterName = "ids";
                p.Value = postgres ? batch : JsonSerializer.Serialize(batch);
                command.Parameters.Add(p);
            }

            await db.Database.OpenConnectionAsync(ct);
            try
            {
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    heads.Add(new Head(reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
                }
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }
        }

        return heads;
    }

    /// <summary>Recomputes every chain and checks every checkpoint against the trusted certificates (current and retired signers) and the anchor file.</summary>
    public async Task<AuditReport> VerifyAsync(X509Certificate2Collection verifier, CancellationToken ct)
    {
        var problems = new List<AuditProblem>();

        // The anchor file first: a checkpoint is anchored only once committed, so every anchor read
        // now must be in the checkpoints read next — even while a running server keeps checkpointing.
        var anchorsReadAt = time.GetUtcNow();
        var anchors = ReadAnchors(problems);
        var checkpoints = await db.AuditCheckpoints.AsNoTracking().OrderBy(c => c.Id).ToListAsync(ct);
        var vouched = CheckCheckpoints(checkpoints, verifier, problems);
        var anchored = CheckAnchors(anchors, anchorsReadAt, checkpoints, problems);
        var (count, chains) = await CheckChainsAsync(vouched, problems, ct);
        return new AuditReport(count, chains, checkpoints.Count, problems, anchored);
    }

    /// <summary>Signatures, roots and links of the checkpoints; returns the latest head each vouches for, per chain.</summary>
    private static Dictionary<string, (long Seq, string Hash, long Checkpoint)> CheckCheckpoints(List<AuditCheckpoint> checkpoints, X509Certificate2Collection verifier, List<AuditProblem> problems)
    {
        var vouched = new Dictionary<string, (long Seq, string Hash, long Checkpoint)>(StringComparer.Ordinal);
        AuditCheckpoint? previous = null;
        foreach (var cp in checkpoints)
        {
            var lines = cp.Heads.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (!SignatureValid(cp, verifier))
            {
                problems.Add(new AuditProblem("checkpoint", cp.Id, "the checkpoint's signature is not valid (altered, or signed with another key)"));
                previous = cp;
                continue;
            }

            if (cp.Format == 2)
            {
                if (cp.Root != MerkleTree.Root(lines))
                {
                    problems.Add(new AuditProblem("checkpoint", cp.Id, "the checkpoint's heads do not match its signed root (altered)"));
                }

                if (cp.Previous != (previous is null ? Zero : Digest(previous)))
                {
                    problems.Add(new AuditProblem("checkpoint", cp.Id, "the checkpoint does not follow the one before it: a checkpoint was removed or altered"));
                }
            }

            foreach (var line in lines)
            {
                var parts = line.Split(' ');
                var seq = long.Parse(parts[1], CultureInfo.InvariantCulture);
                if (!vouched.TryGetValue(parts[0], out var v) || seq >= v.Seq)
                {
                    vouched[parts[0]] = (seq, parts[2], cp.Id);
                }
            }

            previous = cp;
        }

        return vouched;
    }

    private List<AnchorLog.Anchor>? ReadAnchors(List<AuditProblem> problems)
    {
        try
        {
            return AnchorLog.Read(keys.AnchorPath);
        }
        catch (InvalidDataException ex)
        {
            problems.Add(new AuditProblem("anchor", 0, ex.Message));
            return null;
        }
    }

    /// <summary>Every checkpoint written to the anchor file must still be in the database, unchanged.</summary>
    private int CheckAnchors(List<AnchorLog.Anchor>? anchors, DateTimeOffset anchorsReadAt, List<AuditCheckpoint> checkpoints, List<AuditProblem> problems)
    {
        if (anchors is null)
        {
            return 0;
        }

        var byId = checkpoints.ToDictionary(c => c.Id);

        // Checkpoints written after the anchor file was read are not expected in it.
        if (anchors.Count == 0 && checkpoints.Any(c => c.Format == 2 && c.Time < anchorsReadAt))
        {
            problems.Add(new AuditProblem("anchor", 0, $"the anchor file {keys.AnchorPath} is missing or empty while the database holds anchored checkpoints"));
        }

        foreach (var a in anchors)
        {
            if (!byId.TryGetValue(a.Id, out var cp) || cp.Signature != a.Signature || cp.Root != a.Root || cp.Previous != a.Previous)
            {
                problems.Add(new AuditProblem("checkpoint", a.Id, "the anchor file holds this checkpoint but the database no longer does, or holds another (removed or rewritten)"));
            }
        }

        return anchors.Count;
    }

    private async Task<(long Count, int Chains)> CheckChainsAsync(Dictionary<string, (long Seq, string Hash, long Checkpoint)> vouched, List<AuditProblem> problems, CancellationToken ct)
    {
        var lastOf = new Dictionary<string, long>(StringComparer.Ordinal);
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

            lastOf[e.RecordId] = e.Seq;
            if (vouched.TryGetValue(e.RecordId, out var v) && v.Seq == e.Seq && v.Hash != e.Hash)
            {
                problems.Add(new AuditProblem(e.RecordId, e.Seq, $"checkpoint {v.Checkpoint} vouches for a different hash of this entry (rewritten chain)"));
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

        foreach (var (c, (seq, _, cpId)) in vouched)
        {
            if (!lastOf.TryGetValue(c, out var last) || last < seq)
            {
                problems.Add(new AuditProblem(c, seq, $"checkpoint {cpId} vouches for this entry but it is missing (truncated chain)"));
            }
        }

        return (count, chains);
    }
}

/// <summary>
/// The anchor file: one JSON line per checkpoint, appended and flushed to disk after the checkpoint
/// is committed. It lives where the operator puts it (Audit:AnchorFile), ideally storage the database
/// administrators cannot rewrite; removing or rewriting a checkpoint in the database is then visible.
/// </summary>
public static class AnchorLog
{
    public sealed record Anchor(long Id, long Time, string? Previous, string? Root, string Signature, string Signer);

    public static void Append(string path, AuditCheckpoint cp)
    {
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var line = JsonSerializer.Serialize(new Anchor(cp.Id, cp.Time.UtcTicks, cp.Previous, cp.Root, cp.Signature, cp.Signer)) + "\n";
        using var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.None);
        f.Write(Encoding.UTF8.GetBytes(line));
        f.Flush(flushToDisk: true);
    }

    /// <summary>The anchored checkpoints; a line that cannot be read is an <see cref="InvalidDataException"/> naming it.</summary>
    public static List<Anchor> Read(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        var anchors = new List<Anchor>();
        var n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (line.Length == 0)
            {
                continue;
            }

            try
            {
                anchors.Add(JsonSerializer.Deserialize<Anchor>(line) ?? throw new InvalidDataException($"line {n} of {path} is empty JSON"));
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"line {n} of {path} is not an anchor: {ex.Message}", ex);
            }
        }

        return anchors;
    }
}
