using OpenDmp.Core.Audit;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Checkpoints the audit trail (design D10): every Audit:CheckpointSeconds (default 5) over the
/// chains this instance wrote since its previous checkpoint, at start and every
/// Audit:FullCheckpointHours over every chain. The window in which the newest entries can be cut
/// without a trace is thus a few seconds; each checkpoint is also written to the anchor file.
/// With several instances, each checkpoints what it wrote; all join one chain of checkpoints.
/// </summary>
public sealed partial class AuditCheckpointService(IServiceProvider services, AuditTrail trail, AuditOptions options, TimeProvider time, ILogger<AuditCheckpointService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.CheckpointSeconds <= 0)
        {
            return;
        }

        var fullEvery = TimeSpan.FromHours(options.FullCheckpointHours > 0 ? options.FullCheckpointHours : 24);
        var nextFull = time.GetUtcNow();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.CheckpointSeconds));
        do
        {
            var full = time.GetUtcNow() >= nextFull;
            var chains = trail.TakeDirty();
            try
            {
                using var scope = services.CreateScope();
                var verifier = scope.ServiceProvider.GetRequiredService<AuditVerifier>();
                var cp = full ? await verifier.CheckpointAsync(stoppingToken) : chains.Count > 0 ? await verifier.CheckpointAsync(stoppingToken, chains) : null;
                if (full)
                {
                    nextFull = time.GetUtcNow() + fullEvery;
                }

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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Audit checkpoint {Id} written (full: {Full})")]
    private static partial void LogCheckpoint(ILogger logger, long id, bool full);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit checkpoint failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
