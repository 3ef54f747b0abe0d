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
        try
        {
            do
            {
                var chains = trail.TakeDirty();
                try
                {
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
                    trail.Redirty(chains);
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
