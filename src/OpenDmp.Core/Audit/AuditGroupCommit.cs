using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
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
/// </summary>
public sealed class AuditGroupCommit : IAsyncDisposable, IDisposable
{
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IServiceScopeFactory _scopes;
    private readonly int _maxGroup;
    private readonly Task _loop;

    public AuditGroupCommit(IServiceScopeFactory scopes, AuditOptions options)
    {
        _scopes = scopes;
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
            catch (Exception) when (group.Count > 1)
            {
                // Alone, each entry succeeds or fails on its own.
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
        var gate = scope.ServiceProvider.GetRequiredService<WriteGate>();
        var audit = scope.ServiceProvider.GetRequiredService<AuditTrail>();
        var records = group.Select(p => p.Item.RecordId!).Distinct(StringComparer.Ordinal).ToList();
        await using var unit = await gate.EnterManyAsync(db, records, CancellationToken.None);
        var started = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in group)
        {
            var record = p.Item.RecordId!;
            if (started.Add(record) && unit.Heads.TryGetValue(record, out var head))
            {
                // The first entry of each chain continues the head read under the lock; the next
                // ones continue the entries added before them in this unit.
                db.LockedChainHead = head;
            }

            await audit.AppendAsync(db, p.Item, CancellationToken.None);
        }

        await db.SaveChangesAsync(CancellationToken.None);
        await unit.Scope.CommitAsync(CancellationToken.None);
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
