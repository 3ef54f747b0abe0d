using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace OpenDmp.Core.Storage;

/// <summary>
/// Serialises the writers of one record so that status checks, documents and the audit chain
/// stay consistent. PostgreSQL: a transaction holding a row lock on the record (other records
/// proceed in parallel). SQLite: one writer at a time in the process (SQLite allows one writer
/// anyway; taking the lock up front avoids lock-upgrade deadlocks).
/// </summary>
public sealed class WriteGate : IDisposable
{
    private readonly SemaphoreSlim _sqliteWriter = new(1, 1);

    public async Task<WriteScope> EnterAsync(DmpDbContext db, string? recordId, CancellationToken ct)
    {
        if (db.Database.IsSqlite())
        {
            await _sqliteWriter.WaitAsync(ct);
            try
            {
                var tx = await db.Database.BeginTransactionAsync(ct);
                // A unit of work is all or nothing: no savepoint round trips around SaveChanges.
                db.Database.AutoSavepointsEnabled = false;
                db.LockedChainHead = null;
                return new WriteScope(tx, _sqliteWriter);
            }
            catch
            {
                _sqliteWriter.Release();
                throw;
            }
        }

        var ptx = await db.Database.BeginTransactionAsync(ct);
        db.Database.AutoSavepointsEnabled = false;
        db.LockedChainHead = null;
        if (recordId is not null)
        {
            // One round trip: lock the record's row, read its status (writers re-check it) and the
            // head of its audit chain (the next entry's predecessor; no one else can append meanwhile).
            var rows = await db.Database.SqlQuery<LockedRecord>($"""
                SELECT r.status AS "Status", a.seq AS "Seq", a.hash AS "Hash"
                FROM records r
                LEFT JOIN LATERAL (SELECT e.seq, e.hash FROM audit_entries e WHERE e.record_id = r.record_id ORDER BY e.seq DESC LIMIT 1) a ON TRUE
                WHERE r.record_id = {recordId}
                FOR UPDATE OF r
                """).ToListAsync(ct);
            if (rows.Count == 0)
            {
                return new WriteScope(ptx, null);
            }

            db.LockedChainHead = new ChainHead(recordId, rows[0].Seq ?? 0, rows[0].Hash ?? Audit.AuditTrail.Genesis);
            return new WriteScope(ptx, null) { LockedRecordStatus = Enum.Parse<Records.RecordStatus>(rows[0].Status) };
        }
        else
        {
            // Writes not tied to one record (system audit chain) are serialised by an advisory lock.
            await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(7349001)", ct);
        }

        return new WriteScope(ptx, null);
    }

    public void Dispose() => _sqliteWriter.Dispose();
}

/// <summary>What the PostgreSQL gate reads with the record's lock.</summary>
internal sealed class LockedRecord
{
    public required string Status { get; init; }
    public long? Seq { get; init; }
    public string? Hash { get; init; }
}

/// <summary>The last entry of a record's audit chain, read under the record's lock.</summary>
public sealed record ChainHead(string RecordId, long Seq, string Hash);

/// <summary>A unit of work holding the gate: commit it, or dispose it to roll back.</summary>
public sealed class WriteScope(IDbContextTransaction transaction, SemaphoreSlim? gate) : IAsyncDisposable
{
    private bool _released;

    /// <summary>PostgreSQL: the record's status read under the lock (null when not read or no record).</summary>
    public Records.RecordStatus? LockedRecordStatus { get; init; }

    public Task CommitAsync(CancellationToken ct) => transaction.CommitAsync(ct);

    public async ValueTask DisposeAsync()
    {
        await transaction.DisposeAsync();
        if (!_released && gate is not null)
        {
            _released = true;
            gate.Release();
        }
    }
}
