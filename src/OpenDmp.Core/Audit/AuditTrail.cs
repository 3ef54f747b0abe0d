using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Audit;

/// <summary>
/// What is recorded for one access. <see cref="FactsVersion"/> (not recorded): the record's facts
/// version a permit was decided on when its facts came from memory; the group commit writes the
/// entry only if the record still has that version under its lock (ADR 0036).
/// </summary>
public sealed record AuditItem(
    string? RecordId,
    Actor Actor,
    AuditAction Action,
    string Outcome,
    string Channel,
    string? ObjectType = null,
    string? ObjectId = null,
    string? Mode = null,
    string? Detail = null)
{
    public long? FactsVersion { get; init; }
}

/// <summary>
/// Appends entries to the audit trail inside the caller's unit of work. One SHA-256 chain per
/// record: hash = SHA-256(previous hash + canonical entry). The caller holds the record's write
/// gate, so the chain has no gaps and no forks.
/// </summary>
public sealed class AuditTrail(TimeProvider time)
{
    /// <summary>Chains appended to since the last checkpoint took them (this process's; see AuditCheckpointService).</summary>
    private System.Collections.Concurrent.ConcurrentDictionary<string, byte> _dirty = new(StringComparer.Ordinal);

    /// <summary>Chain of entries not tied to a record (directory searches, administration).</summary>
    public const string SystemChain = "-";
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    public async Task AppendAsync(DmpDbContext db, AuditItem e, CancellationToken ct)
    {
        OpenDmp.Core.Common.DmpTelemetry.AuditAppends.Add(1);
        var chain = e.RecordId ?? SystemChain;
        // Entries added earlier in the same unit of work are not in the database yet.
        var pending = db.ChangeTracker.Entries<AuditEntry>()
            .Where(x => x.State == EntityState.Added && x.Entity.RecordId == chain)
            .Select(x => x.Entity)
            .OrderByDescending(x => x.Seq)
            .FirstOrDefault();
        long seq;
        string prev;
        if (pending is not null)
        {
            seq = pending.Seq + 1;
            prev = pending.Hash;
        }
        else if (db.LockedChainHead is { } head && head.RecordId == chain)
        {
            // Read with the record's lock when the unit of work began.
            seq = head.Seq + 1;
            prev = head.Hash;
            db.LockedChainHead = null;
        }
        else
        {
            var last = await db.AuditEntries.AsNoTracking()
                .Where(x => x.RecordId == chain)
                .OrderByDescending(x => x.Seq)
                .Select(x => new { x.Seq, x.Hash })
                .FirstOrDefaultAsync(ct);
            seq = (last?.Seq ?? 0) + 1;
            prev = last?.Hash ?? Genesis;
        }

        db.AuditEntries.Add(Next(e, seq, prev));
        RequestAuditLog.Current?.Appended(e.Action, e.Outcome);
    }

    /// <summary>
    /// The entry that continues a chain whose newest entry is (seq - 1, prev), hashed; the chain is
    /// marked for the next checkpoint. The caller writes it, holding the record's lock.
    /// </summary>
    public AuditEntry Next(AuditItem e, long seq, string prev)
    {
        var entry = new AuditEntry
        {
            RecordId = e.RecordId ?? SystemChain,
            Seq = seq,
            Time = TruncateToMicroseconds(time.GetUtcNow()),
            ActorKind = e.Actor.Kind.ToString(),
            ActorId = e.Actor.Id,
            OnBehalfOf = e.Actor.OnBehalfOf,
            ViaStructure = e.Actor.Structure,
            Action = e.Action.Code(),
            ObjectType = e.ObjectType,
            ObjectId = e.ObjectId,
            Outcome = e.Outcome,
            Mode = e.Mode,
            Channel = e.Channel,
            Detail = e.Detail,
            PrevHash = prev,
            Hash = string.Empty,
        };
        entry.Hash = ComputeHash(entry);
        _dirty.TryAdd(entry.RecordId, 0);
        return entry;
    }

    /// <summary>The chains written since the last call (a checkpoint covers them); the set starts anew.</summary>
    public IReadOnlyCollection<string> TakeDirty() =>
        System.Threading.Interlocked.Exchange(ref _dirty, new System.Collections.Concurrent.ConcurrentDictionary<string, byte>(StringComparer.Ordinal)).Keys.ToList();

    /// <summary>Puts chains back when their checkpoint failed.</summary>
    public void Redirty(IEnumerable<string> chains)
    {
        foreach (var c in chains)
        {
            _dirty.TryAdd(c, 0);
        }
    }

    /// <summary>PostgreSQL keeps microseconds: the hashed time must survive the round trip.</summary>
    public static DateTimeOffset TruncateToMicroseconds(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % 10), TimeSpan.Zero);

    /// <summary>Canonical encoding: fields in a fixed order, separated by a unit separator, time in UTC ticks.</summary>
    public static string ComputeHash(AuditEntry e)
    {
        var canonical = string.Join('\u001f',
            e.PrevHash,
            e.RecordId,
            e.Seq.ToString(CultureInfo.InvariantCulture),
            e.Time.UtcTicks.ToString(CultureInfo.InvariantCulture),
            e.ActorKind,
            e.ActorId,
            e.Action,
            e.ObjectType ?? string.Empty,
            e.ObjectId ?? string.Empty,
            e.Outcome,
            e.Mode ?? string.Empty,
            e.Channel,
            e.Detail ?? string.Empty);
        if (e.OnBehalfOf is not null)
        {
            // Appended only when present: entries written before staff members existed keep their hash.
            canonical += "\u001f" + e.OnBehalfOf;
        }

        if (e.ViaStructure is not null)
        {
            canonical += "\u001fvia=" + e.ViaStructure;
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }
}
