using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Audit;

/// <summary>
/// Group commit of the audit entries that requests append on their own (a read, a search, a
/// refusal): the entries waiting when a transaction ends are written together in the next one —
/// one commit, one flush of the log — instead of one transaction each. Nothing is delayed on
/// purpose: while one group commits, the next forms. A caller's task completes only once its
/// entry is durable (a read whose audit cannot be written fails), and each record's chain keeps
/// its order: the records of a group are locked in a fixed order (PostgreSQL) or the process's
/// single writer is held (SQLite), their heads read under the lock, the entries chained in arrival
/// order. A group that fails is retried entry by entry, so one bad entry fails only its request.
/// On PostgreSQL, a group whose chains this writer wrote last goes in one round trip (lock, insert,
/// commit in one batch), continuing the heads it remembers; the key (record_id, seq) refuses it
/// whole if another writer extended a chain meanwhile, and the group then reads the heads under the lock.
/// </summary>
public sealed partial class AuditGroupCommit : IAsyncDisposable, IDisposable
{
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IServiceScopeFactory _scopes;
    private readonly int _maxGroup;
    private readonly Task _loop;

    /// <summary>
    /// PostgreSQL: the newest entry of each chain this writer last wrote (only the writer's loop
    /// uses it). A group whose chains are all here is written in one round trip instead of three.
    /// </summary>
    private readonly Dictionary<string, ChainHead> _heads = new(StringComparer.Ordinal);
    private const int MaxKnownHeads = 100_000;

    private readonly ILogger<AuditGroupCommit> _log;

    public AuditGroupCommit(IServiceScopeFactory scopes, AuditOptions options, ILogger<AuditGroupCommit> log)
    {
        _scopes = scopes;
        _log = log;
        _maxGroup = options.GroupCommitMaxEntries;

        // The writer must not inherit the context of the request that happens to create it (its
        // request audit log, its activity): it serves every request.
        using (ExecutionContext.SuppressFlow())
        {
            _loop = Task.Run(RunAsync);
        }
    }

    private sealed record Pending(AuditItem Item, TaskCompletionSource Done, long Since)
    {
        public void Durable()
        {
            if (Done.Task.IsCompleted)
            {
                // Found stale under the lock: not written, already answered.
                return;
            }

            Common.DmpTelemetry.AuditWait.Record(System.Diagnostics.Stopwatch.GetElapsedTime(Since).TotalMilliseconds);
            Done.TrySetResult();
        }
    }

    /// <summary>Appends the entry to its record's chain; returns once it is committed.</summary>
    public Task AppendAsync(AuditItem item)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Pending(item, done, System.Diagnostics.Stopwatch.GetTimestamp())))
        {
            done.SetException(new ObjectDisposedException(nameof(AuditGroupCommit), "the server is stopping: the audit trail accepts no more entries"));
        }

        return done.Task;
    }

    private async Task RunAsync()
    {
        var group = new List<Pending>(_maxGroup);
        while (await _queue.Reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < _maxGroup && _queue.Reader.TryRead(out var p))
            {
                group.Add(p);
            }

            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                await WriteAsync(group);
                Common.DmpTelemetry.AuditGroupDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Common.DmpTelemetry.AuditGroupEntries.Record(group.Count);
                group.ForEach(p => p.Durable());
            }
            catch (Exception failure) when (group.Count > 1)
            {
                // Alone, each entry succeeds or fails on its own.
                Common.DmpTelemetry.AuditGroupRetries.Add(1);
                LogGroupRetried(_log, group.Count, failure.GetType().Name);
                foreach (var p in group)
                {
                    try
                    {
                        await WriteAsync([p]);
                        p.Durable();
                    }
                    catch (Exception ex)
                    {
                        p.Done.TrySetException(ex);
                    }
                }
            }
            catch (Exception ex)
            {
                group.ForEach(p => p.Done.TrySetException(ex));
            }
        }
    }

    private async Task WriteAsync(List<Pending> group)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditTrail>();
        var gate = scope.ServiceProvider.GetRequiredService<WriteGate>();
        var chains = group.Select(p => Chain(p.Item)).Distinct(StringComparer.Ordinal).ToList();
        if (!db.IsPostgres)
        {
            await WriteOnSqliteAsync(db, gate, audit, group, chains);
            return;
        }

        var records = chains.Where(c => c != AuditTrail.SystemChain).ToList();
        if (chains.TrueForAll(_heads.ContainsKey) && await TryInOneRoundTripAsync(db, audit, group, chains, records))
        {
            return;
        }

        await using var unit = await gate.EnterManyAsync(db, records, records.Count < chains.Count, CancellationToken.None);
        var stale = await StaleUnderLockAsync(db, group);
        var started = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in group)
        {
            if (stale.Contains(p))
            {
                // Decided on facts that changed since: not written; the request decides again.
                p.Done.TrySetException(new Access.StaleFactsException(p.Item.RecordId!));
                continue;
            }

            var record = Chain(p.Item);
            if (started.Add(record) && unit.Heads.TryGetValue(record, out var head))
            {
                // The first entry of each chain continues the head read under the lock; the next
                // ones continue the entries added before them in this unit.
                db.LockedChainHead = head;
            }

            await audit.AppendAsync(db, p.Item, CancellationToken.None);
        }

        await db.SaveChangesAsync(CancellationToken.None);
        var newest = db.ChangeTracker.Entries<AuditEntry>().Select(x => x.Entity).GroupBy(e => e.RecordId, StringComparer.Ordinal).Select(g => g.MaxBy(e => e.Seq)!).ToList();
        await unit.Scope.CommitAsync(CancellationToken.None);

        // Written under the records' locks: these are the chains' heads now.
        newest.ForEach(Remember);
    }

    /// <summary>
    /// The entries whose permit was decided on a facts version (<see cref="AuditItem.FactsVersion"/>)
    /// the record no longer has — read under the records' locks, so no change can come between this
    /// check and the entries' commit. A record that is gone is stale too.
    /// </summary>
    private static async Task<HashSet<Pending>> StaleUnderLockAsync(DmpDbContext db, List<Pending> group)
    {
        var stale = new HashSet<Pending>();
        var expecting = group.Where(p => p.Item.FactsVersion is not null).ToList();
        if (expecting.Count == 0)
        {
            return stale;
        }

        var versions = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var command = db.Database.GetDbConnection().CreateCommand())
        {
            command.CommandText = FactsVersionsSql;
            command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
            var parameter = command.CreateParameter();
            parameter.Value = expecting.Select(p => p.Item.RecordId!).Distinct(StringComparer.Ordinal).ToArray();
            command.Parameters.Add(parameter);
            await using var reader = await command.ExecuteReaderAsync(CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None))
            {
                versions[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        foreach (var p in expecting.Where(p => !versions.TryGetValue(p.Item.RecordId!, out var v) || v != p.Item.FactsVersion))
        {
            stale.Add(p);
        }

        return stale;
    }

    private const string FactsVersionsSql = "SELECT record_id, facts_version FROM records WHERE record_id = ANY($1)";

    /// <summary>
    /// PostgreSQL, every chain of the group known: one batch locks the records, checks that the
    /// remembered heads are still entries of the trail, inserts the entries, and commits as one
    /// implicit transaction at the batch's end (durable when it returns). Another writer — a
    /// deposit, another instance — may have extended a chain since this writer last wrote it: the
    /// entries then collide with that writer's (record_id, seq); a head may be gone (a restore):
    /// the check fails. Either way nothing of the batch stays, and false sends the group the way
    /// that reads the heads.
    /// </summary>
    private async Task<bool> TryInOneRoundTripAsync(DmpDbContext db, AuditTrail audit, List<Pending> group, List<string> chains, List<string> records)
    {
        var heads = chains.ToDictionary(c => c, c => _heads[c], StringComparer.Ordinal);
        var entries = new List<AuditEntry>(group.Count);
        foreach (var p in group)
        {
            var head = heads[Chain(p.Item)];
            var entry = audit.Next(p.Item, head.Seq + 1, head.Hash);
            heads[entry.RecordId] = new ChainHead(entry.RecordId, entry.Seq, entry.Hash);
            entries.Add(entry);
        }

        await db.Database.OpenConnectionAsync(CancellationToken.None);
        try
        {
            await using var batch = db.Database.GetDbConnection().CreateBatch();
            WriteGate.AddStatement(batch, WriteGate.GenericPlansSql, []);
            WriteGate.AddStatement(batch, WriteGate.LockRecordsSql, [records.Order(StringComparer.Ordinal).ToArray()]);
            if (records.Count < chains.Count)
            {
                WriteGate.AddStatement(batch, WriteGate.SystemChainLockSql, []);
            }

            // The remembered heads must still be in the trail (a restore, or a failover that lost
            // commits, would otherwise let the entries continue an entry that is no longer there),
            // and the permits decided on facts kept in memory must have been decided on the records'
            // current facts (ADR 0036): under the locks, a division by zero ends the batch unless
            // every head is found and every record still has the facts version its entries name.
            var known = chains.Select(c => _heads[c]).ToList();
            var expecting = group.Where(p => p.Item.FactsVersion is not null).Select(p => p.Item).ToList();
            WriteGate.AddStatement(batch, StillAsReadSql, [
                known.Select(h => h.RecordId).ToArray(), known.Select(h => h.Seq).ToArray(), known.Select(h => h.Hash).ToArray(), known.Count,
                expecting.Select(i => i.RecordId!).ToArray(), expecting.Select(i => i.FactsVersion!.Value).ToArray(), expecting.Count]);

            WriteGate.AddStatement(batch, InsertSql, [
                Column(entries, e => e.RecordId), entries.Select(e => e.Seq).ToArray(), entries.Select(e => e.Time).ToArray(),
                Column(entries, e => e.ActorKind), Column(entries, e => e.ActorId), Column(entries, e => e.OnBehalfOf), Column(entries, e => e.ViaStructure),
                Column(entries, e => e.Action), Column(entries, e => e.ObjectType), Column(entries, e => e.ObjectId), Column(entries, e => e.Outcome),
                Column(entries, e => e.Mode), Column(entries, e => e.Channel), Column(entries, e => e.Detail), Column(entries, e => e.PrevHash), Column(entries, e => e.Hash)]);
            await batch.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (Npgsql.PostgresException ex) when (ex.SqlState is Npgsql.PostgresErrorCodes.UniqueViolation or Npgsql.PostgresErrorCodes.DivisionByZero)
        {
            // Another writer extended a chain, a remembered head is gone, or a record's facts changed:
            // read the heads (and the facts versions) under the lock.
            chains.ForEach(c => _heads.Remove(c));
            return false;
        }
        catch
        {
            chains.ForEach(c => _heads.Remove(c));
            throw;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }

        foreach (var head in heads.Values)
        {
            _heads[head.RecordId] = head;
        }

        Common.DmpTelemetry.AuditAppends.Add(entries.Count);
        return true;
    }

    /// <summary>
    /// SQLite: under the process's single writer and the database's write lock (taken when the
    /// transaction begins), the heads of the group's chains read (<see cref="SqliteHeadsAsync"/>), the
    /// entries chained in arrival order and inserted by one prepared statement, then one commit. Plain
    /// commands rather than EF's change tracking and update pipeline: this runs once per group of
    /// reads, and EF's share of it was most of the group's CPU (ADR 0022, third amendment).
    /// </summary>
    private static async Task WriteOnSqliteAsync(DmpDbContext db, WriteGate gate, AuditTrail audit, List<Pending> group, List<string> chains)
    {
        await using var unit = await gate.EnterAsync(db, null, CancellationToken.None);
        var connection = db.Database.GetDbConnection();
        var transaction = db.Database.CurrentTransaction!.GetDbTransaction();
        var heads = await SqliteHeadsAsync(connection, transaction, chains);
        await using (var insert = connection.CreateCommand())
        {
            insert.Transaction = transaction;
            insert.CommandText = SqliteInsertSql;
            var values = EntryColumns.Select(c => AddParameter(insert, "$" + c, null)).ToArray();
            foreach (var p in group)
            {
                var chain = Chain(p.Item);
                var head = heads.GetValueOrDefault(chain) ?? new ChainHead(chain, 0, AuditTrail.Genesis);
                var e = audit.Next(p.Item, head.Seq + 1, head.Hash);
                heads[chain] = new ChainHead(chain, e.Seq, e.Hash);
                object?[] row = [e.RecordId, e.Seq, e.Time.UtcTicks, e.ActorKind, e.ActorId, e.OnBehalfOf, e.ViaStructure, e.Action, e.ObjectType, e.ObjectId, e.Outcome, e.Mode, e.Channel, e.Detail, e.PrevHash, e.Hash];
                for (var i = 0; i < row.Length; i++)
                {
                    values[i].Value = row[i] ?? DBNull.Value;
                }

                // The same command again: SQLite keeps its prepared statement, only the values change.
                await insert.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }

        await unit.CommitAsync(CancellationToken.None);
        Common.DmpTelemetry.AuditAppends.Add(group.Count);
    }

    /// <summary>
    /// SQLite: the newest entry of each chain that has one (chains without an entry are absent), by
    /// the key's index — one probe per chain, at most 100 chains per statement (well under SQLite's
    /// limit of terms in a compound SELECT, whatever Audit:GroupCommitMaxEntries says).
    /// </summary>
    internal static async Task<Dictionary<string, ChainHead>> SqliteHeadsAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction? transaction, IReadOnlyList<string> chains)
    {
        var heads = new Dictionary<string, ChainHead>(StringComparer.Ordinal);
        foreach (var chunk in chains.Chunk(100))
        {
            await using var read = connection.CreateCommand();
            read.Transaction = transaction;
            read.CommandText = string.Join(" UNION ALL ", chunk.Select((_, i) =>
                $"SELECT * FROM (SELECT record_id, seq, hash FROM audit_entries WHERE record_id = $c{i} ORDER BY seq DESC LIMIT 1)"));
            for (var i = 0; i < chunk.Length; i++)
            {
                AddParameter(read, $"$c{i}", chunk[i]);
            }

            await using var reader = await read.ExecuteReaderAsync(CancellationToken.None);
            while (await reader.ReadAsync(CancellationToken.None))
            {
                var id = reader.GetString(0);
                heads[id] = new ChainHead(id, reader.GetInt64(1), reader.GetString(2));
            }
        }

        return heads;
    }

    /// <summary>The columns of an audit entry, in the order both inserts give their values.</summary>
    private static readonly string[] EntryColumns = ["record_id", "seq", "time", "actor_kind", "actor_id", "on_behalf_of", "via_structure", "action", "object_type", "object_id", "outcome", "mode", "channel", "detail", "prev_hash", "hash"];

    /// <summary>SQLite: one entry, run once per entry of the group (SQLite keeps the time as UTC ticks, like the model's converter).</summary>
    private static readonly string SqliteInsertSql =
        $"INSERT INTO audit_entries ({string.Join(", ", EntryColumns)}) VALUES ({string.Join(", ", EntryColumns.Select(c => "$" + c))})";

    private static System.Data.Common.DbParameter AddParameter(System.Data.Common.DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return parameter;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "An audit group of {Entries} entries failed whole ({Error}); its entries are written one by one")]
    private static partial void LogGroupRetried(ILogger logger, int entries, string error);

    /// <summary>The chain an entry goes to: its record's, or the system chain.</summary>
    private static string Chain(AuditItem item) => item.RecordId ?? AuditTrail.SystemChain;

    /// <summary>
    /// 1 when every remembered head (record, seq, hash) is an entry of the trail and every (record,
    /// facts version) a permit was decided on is the record's current one; a division by zero otherwise.
    /// </summary>
    private const string StillAsReadSql = """
        SELECT 1 / ((
            (SELECT count(*) FROM unnest($1::text[], $2::bigint[], $3::text[]) AS h(record_id, seq, hash)
                JOIN audit_entries a ON a.record_id = h.record_id AND a.seq = h.seq AND a.hash = h.hash) = $4
            AND (SELECT count(*) FROM unnest($5::text[], $6::bigint[]) AS f(record_id, facts_version)
                JOIN records r ON r.record_id = f.record_id AND r.facts_version = f.facts_version) = $7)::int)
        """;

    /// <summary>One statement for the whole group, whatever its size (one prepared statement): one array per column of <see cref="EntryColumns"/>, in that order.</summary>
    private static readonly string InsertSql =
        $"INSERT INTO audit_entries ({string.Join(", ", EntryColumns)}) SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])";

    private static string?[] Column(List<AuditEntry> entries, Func<AuditEntry, string?> value) => entries.Select(value).ToArray();

    private void Remember(AuditEntry newest)
    {
        if (_heads.Count >= MaxKnownHeads)
        {
            _heads.Clear();
        }

        _heads[newest.RecordId] = new ChainHead(newest.RecordId, newest.Seq, newest.Hash);
    }

    /// <summary>Stops accepting entries; those already queued are written first.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _loop.Wait(TimeSpan.FromSeconds(30));
    }
}
