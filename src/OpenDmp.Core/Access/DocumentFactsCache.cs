using System.Collections.Concurrent;
using OpenDmp.Core.Audit;

namespace OpenDmp.Core.Access;

/// <summary>
/// PostgreSQL: documents read by id, with their record's facts and the record's facts version as
/// read in the same statement (ADR 0036). An entry is never trusted on its own: a permit decided on
/// it is written to the audit trail with the version it was decided on, and the audit writer checks
/// that version under the record's lock before the entry is durable — a stale one is refused
/// (<see cref="StaleFactsException"/>) and the read is decided again from the database before any
/// answer leaves. Only permits use it: a refusal is always decided on the database's facts (so a
/// hidden document costs what an absent one costs). Bounded: emptied when full.
/// </summary>
public sealed class DocumentFactsCache(AuditOptions options)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _hits;

    /// <summary>A document, its record's facts and the version they were read at.</summary>
    public sealed record Entry(Documents.DocumentEntry Document, RecordFacts Facts, long Version);

    /// <summary>Whether reads may use it: PostgreSQL, group commit on (the check is the group's), and a size.</summary>
    public bool EnabledFor(Storage.DmpDbContext db) => options.DocumentFactsCacheEntries > 0 && options.GroupCommit && db.IsPostgres;

    /// <summary>Reads answered from memory (their permit confirmed by the audit writer).</summary>
    public long Hits => Interlocked.Read(ref _hits);

    public Entry? Get(string documentId)
    {
        if (_entries.TryGetValue(documentId, out var entry))
        {
            Interlocked.Increment(ref _hits);
            return entry;
        }

        return null;
    }

    public void Set(Entry entry)
    {
        if (_entries.Count >= options.DocumentFactsCacheEntries)
        {
            // A cache only: the database is the truth.
            _entries.Clear();
        }

        _entries[entry.Document.Id] = entry;
    }

    /// <summary>Forgets a document whose facts were found stale.</summary>
    public void Forget(string documentId) => _entries.TryRemove(documentId, out _);
}

/// <summary>The facts a permit was decided on changed before its audit entry was written: nothing was written; decide again from the database.</summary>
public sealed class StaleFactsException(string recordId) : Exception($"the facts of record {recordId} changed since they were read");
