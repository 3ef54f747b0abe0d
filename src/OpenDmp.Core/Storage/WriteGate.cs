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

    /// <summary>PostgreSQL: the lock that serialises the writers of the system audit chain, held until the transaction ends.</summary>
    public const string SystemChainLockSql = "SELECT pg_advisory_xact_lock(7349001)";

    /// <summary>
    /// PostgreSQL: generic plans until the end of the transaction (for the audit group's
    /// one-round-trip batch, its implicit transaction), then back to the session's setting. The
    /// group's statements take arrays whose length changes from one call to the next; with the
    /// default plan cache mode PostgreSQL judged a plan for the actual arrays cheaper every time and
    /// planned each execution again (pg_stat_statements: as many plans as calls, planning twice the
    /// execution; ADR 0022). Their generic plans are index probes per element.
    /// <c>set_config(…, true)</c> rather than <c>SET LOCAL</c>, which warns in the server log outside
    /// an explicit transaction block.
    /// </summary>
    public const string GenericPlansSql = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)";

    /// <summary>PostgreSQL: locks the rows of several records, always in record-id order (no deadlock between two such lockers).</summary>
    public const string LockRecordsSql = "SELECT record_id FROM records WHERE record_id = ANY($1) ORDER BY record_id FOR UPDATE";

    /// <summary>Opens a unit of work holding the record's gate.</summary>
    public async Task<WriteScope> EnterAsync(DmpDbContext db, string? recordId, CancellationToken ct)
    {
        if (!db.IsPostgres)
        {
            await _sqliteWriter.WaitAsync(ct);
            try
            {
                return new WriteScope(await BeginAsync(db, ct), _sqliteWriter);
            }
            catch
            {
                _sqliteWriter.Release();
                throw;
            }
        }

        var ptx = await BeginAsync(db, ct);
        if (recordId is not null)
        {
            // One round trip, two statements: lock the record's row and read its status (writers
            // re-check it), then read the head of its audit chain. The second statement takes its
            // snapshot after the lock is granted (READ COMMITTED), so it sees the entry of the
            // writer we waited for; a subquery in the locking statement would not.
            await using var batch = LockThenHeads(db, ptx, recordId,
                "SELECT status FROM records WHERE record_id = $1 FOR UPDATE",
                "SELECT seq, hash FROM audit_entries WHERE record_id = $1 ORDER BY seq DESC LIMIT 1");
            await using var reader = await batch.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return new WriteScope(ptx, null);
            }

            var status = Enum.Parse<Records.RecordStatus>(reader.GetString(0));
            await reader.NextResultAsync(ct);
            db.LockedChainHead = await reader.ReadAsync(ct)
                ? new ChainHead(recordId, reader.GetInt64(0), reader.GetString(1))
                : new ChainHead(recordId, 0, Audit.AuditTrail.Genesis);
            return new WriteScope(ptx, null) { LockedRecordStatus = status };
        }
        else
        {
            // Writes not tied to one record (system audit chain) are serialised by an advisory lock.
            await db.Database.ExecuteSqlRawAsync(SystemChainLockSql, ct);
        }

        return new WriteScope(ptx, null);
    }

    /// <summary>
    /// Opens a unit of work for bookkeeping writes tied to no record and no audit chain (delivery
    /// marks, counters). SQLite: the process's single writer, so that such a write never meets a
    /// writer in the database file and sleeps in SQLite's busy handler (nor makes one sleep). PostgreSQL:
    /// a plain transaction, no lock.
    /// </summary>
    public async Task<WriteScope> EnterBookkeepingAsync(DmpDbContext db, CancellationToken ct)
    {
        if (!db.IsPostgres)
        {
            return await EnterAsync(db, null, ct);
        }

        return new WriteScope(await BeginAsync(db, ct), null);
    }

    /// <summary>
    /// Opens a unit of work holding the gates of several records (the audit group commit on
    /// PostgreSQL, alerts, identity merges). PostgreSQL: their rows locked in record-id order (two
    /// groups, or a group and a single writer, cannot deadlock), then the head of each one's audit
    /// chain read after the locks, in the same round trip. SQLite: the process's single writer; the
    /// heads are read by the appends themselves.
    /// Records without a row are not locked and have no head here.
    /// </summary>
    public Task<GroupScope> EnterManyAsync(DmpDbContext db, IReadOnlyCollection<string> recordIds, CancellationToken ct) =>
        EnterManyAsync(db, recordIds, systemChain: false, ct);

    /// <summary>The same, and on PostgreSQL the system audit chain's lock too (after the records').</summary>
    public async Task<GroupScope> EnterManyAsync(DmpDbContext db, IReadOnlyCollection<string> recordIds, bool systemChain, CancellationToken ct)
    {
        if (!db.IsPostgres)
        {
            return new GroupScope(await EnterAsync(db, null, ct), new Dictionary<string, ChainHead>(StringComparer.Ordinal));
        }

        var ptx = await BeginAsync(db, ct);
        var heads = new Dictionary<string, ChainHead>(StringComparer.Ordinal);
        try
        {
            await using var batch = LockThenHeads(db, ptx, recordIds.Order(StringComparer.Ordinal).ToArray(),
                LockRecordsSql,
                "SELECT h.record_id, h.seq, h.hash FROM unnest($1::text[]) AS r(id) CROSS JOIN LATERAL (SELECT record_id, seq, hash FROM audit_entries WHERE record_id = r.id ORDER BY seq DESC LIMIT 1) AS h");
            await using var reader = await batch.ExecuteReaderAsync(ct);
            var locked = new HashSet<string>(StringComparer.Ordinal);
            while (await reader.ReadAsync(ct))
            {
                locked.Add(reader.GetString(0));
            }

            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var id = reader.GetString(0);
                heads[id] = new ChainHead(id, reader.GetInt64(1), reader.GetString(2));
            }

            foreach (var id in heads.Keys.Where(id => !locked.Contains(id)).ToList())
            {
                heads.Remove(id);
            }

            foreach (var id in locked.Where(id => !heads.ContainsKey(id)))
            {
                heads[id] = new ChainHead(id, 0, Audit.AuditTrail.Genesis);
            }

            if (systemChain)
            {
                // After the records' locks, like a record's writer that then appends to the system chain.
                await reader.DisposeAsync();
                await db.Database.ExecuteSqlRawAsync(SystemChainLockSql, ct);
            }
        }
        catch
        {
            await ptx.DisposeAsync();
            throw;
        }

        return new GroupScope(new WriteScope(ptx, null), heads);
    }

    private static async Task<IDbContextTransaction> BeginAsync(DmpDbContext db, CancellationToken ct)
    {
        var tx = await db.Database.BeginTransactionAsync(ct);
        // A unit of work is all or nothing: no savepoint round trips around SaveChanges.
        db.Database.AutoSavepointsEnabled = false;
        db.LockedChainHead = null;
        return tx;
    }

    /// <summary>
    /// One round trip, two statements with the same parameter: the locking one, then the read of the
    /// chain heads, whose snapshot is taken after the locks are granted (READ COMMITTED).
    /// </summary>
    private static System.Data.Common.DbBatch LockThenHeads(DmpDbContext db, IDbContextTransaction tx, object parameter, string lockSql, string headSql)
    {
        var batch = db.Database.GetDbConnection().CreateBatch();
        batch.Transaction = tx.GetDbTransaction();
        AddStatement(batch, lockSql, [parameter]);
        AddStatement(batch, headSql, [parameter]);
        return batch;
    }

    /// <summary>Adds a statement to a batch, its values as positional parameters ($1, $2, …).</summary>
    public static void AddStatement(System.Data.Common.DbBatch batch, string sql, IReadOnlyList<object> values)
    {
        var command = batch.CreateBatchCommand();
        command.CommandText = sql;
        foreach (var value in values)
        {
            var parameter = command.CreateParameter();
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        batch.BatchCommands.Add(command);
    }

    public void Dispose() => _sqliteWriter.Dispose();
}

/// <summary>A unit of work over several records, with the head of each locked record's audit chain.</summary>
public sealed record GroupScope(WriteScope Scope, IReadOnlyDictionary<string, ChainHead> Heads) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Scope.DisposeAsync();
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
