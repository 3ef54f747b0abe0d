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
                return new WriteScope(tx, _sqliteWriter);
            }
            catch
            {
                _sqliteWriter.Release();
                throw;
            }
        }

        var ptx = await db.Database.BeginTransactionAsync(ct);
        if (recordId is not null)
        {
            // The lock also reads the record's status, so that writers re-check it in the same round trip.
            var status = await db.Database.SqlQuery<string>($"SELECT status AS \"Value\" FROM records WHERE record_id = {recordId} FOR UPDATE").ToListAsync(ct);
            return new WriteScope(ptx, null) { LockedRecordStatus = status.Count == 0 ? null : Enum.Parse<Records.RecordStatus>(status[0]) };
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
