using OpenDmp.Core.Audit;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Checkpoints the audit trail (design D10): every Audit:CheckpointSeconds (default 5) over the
/// chains this instance wrote since its previous checkpoint, at start and every
/// Audit:FullCheckpointHours over every chain. The window in which the newest entries can be cut
/// without a trace is thus a few seconds; each checkpoint is also written to the anchor file.
/// With several instances, each checkpoints what it wrote (only it knows which chains those are);
/// all join one chain of checkpoints. The full checkpoint is the leader's alone (JobLeader
/// "audit-full-checkpoint", held while the instance runs): the others try to take over every few
/// minutes, so a dead leader is replaced without two instances walking every chain.
/// </summary>
public sealed partial class AuditCheckpointService(IServiceProvider services, AuditTrail trail, AuditOptions options, OpenDmp.Core.Storage.JobLeader leader, TimeProvider time, ILogger<AuditCheckpointService> logger) : BackgroundService
{
    private static readonly TimeSpan TakeOverEvery = TimeSpan.FromMinutes(5);

    /// <summary>How long an appended entry may wait for its commit and still be covered by the next checkpoints.</summary>
    private static readonly TimeSpan CommitWindow = TimeSpan.FromSeconds(30);

    /// <summary>The lease on the full checkpoint while this instance leads.</summary>
    private OpenDmp.Core.Storage.JobLeader.ILease? _lease;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.CheckpointSeconds <= 0)
        {
            return;
        }

        var fullEvery = TimeSpan.FromHours(options.FullCheckpointHours > 0 ? options.FullCheckpointHours : 24);
        var nextFull = time.GetUtcNow();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.CheckpointSeconds));
        // A chain is marked when an entry is appended, before its transaction commits: a checkpoint
        // taken in between reads the former head. So for CommitWindow after its marking a chain is
        // looked at again each round, and checkpointed as long as its newest entry is uncovered.
        var rounds = Math.Max(2, (int)Math.Ceiling(CommitWindow.TotalSeconds / options.CheckpointSeconds));
        var recent = new Queue<IReadOnlyCollection<string>>();
        try
        {
            do
            {
                var taken = trail.TakeDirty();
                var carried = recent.SelectMany(c => c).Except(taken, StringComparer.Ordinal).ToList();
                recent.Enqueue(taken);
                while (recent.Count > rounds)
                {
                    recent.Dequeue();
                }

                try
                {
                    // Chains of the previous rounds come back only while their newest entry is uncovered.
                    var chains = carried.Count == 0 ? taken
                        : [.. taken, .. await CarriedAsync(carried, stoppingToken)];
                    var full = false;
                    if (time.GetUtcNow() >= nextFull)
                    {
                        full = await LeadAsync(stoppingToken);
                        nextFull = time.GetUtcNow() + (full ? fullEvery : TimeSpan.FromTicks(Math.Min(fullEvery.Ticks, TakeOverEvery.Ticks)));
                    }

                    using var scope = services.CreateScope();
                    var verifier = scope.ServiceProvider.GetRequiredService<AuditVerifier>();
                    var cp = full ? await verifier.CheckpointAsync(stoppingToken) : chains.Count > 0 ? await verifier.CheckpointAsync(stoppingToken, chains) : null;
                    if (cp is not null)
                    {
                        LogCheckpoint(logger, cp.Id, full);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    trail.Redirty(taken);
                    LogFailed(logger, ex.GetType().Name, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        finally
        {
            if (_lease is not null)
            {
                await _lease.DisposeAsync();
            }
        }
    }

    private async Task<IReadOnlyList<string>> CarriedAsync(IReadOnlyCollection<string> chains, CancellationToken ct)
    {
        using var scope = services.CreateScope();
        return await scope.ServiceProvider.GetRequiredService<AuditVerifier>().UncoveredAsync(chains, ct);
    }

    /// <summary>Whether this instance leads the full checkpoint: the lease kept while it holds, else taken if free.</summary>
    private async Task<bool> LeadAsync(CancellationToken ct)
    {
        if (_lease is not null)
        {
            if (await _lease.IsHeldAsync(ct))
            {
                return true;
            }

            var lost = _lease;
            _lease = null;
            await lost.DisposeAsync();
        }

        _lease = await leader.TryAcquireAsync("audit-full-checkpoint", ct);
        return _lease is not null;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Audit checkpoint {Id} written (full: {Full})")]
    private static partial void LogCheckpoint(ILogger logger, long id, bool full);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit checkpoint failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
