using OpenDmp.Core.Audit;
using OpenDmp.Core.Pki;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Writes a signed checkpoint over all audit chain heads every Audit:CheckpointSeconds (default
/// 300; 0 disables). With several instances, one checkpoint per interval per instance is harmless:
/// each is independently verifiable.
/// </summary>
public sealed partial class AuditCheckpointService(IServiceProvider services, IConfiguration configuration, DataDirectory data, ILogger<AuditCheckpointService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seconds = configuration.GetValue("Audit:CheckpointSeconds", 300);
        if (seconds <= 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(seconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                using var scope = services.CreateScope();
                var signer = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System).AuditSigner(data.Pki, TimeProvider.System);
                var cp = await scope.ServiceProvider.GetRequiredService<AuditVerifier>().CheckpointAsync(signer, stoppingToken);
                LogCheckpoint(logger, cp.Id);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.GetType().Name, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit checkpoint {Id} written")]
    private static partial void LogCheckpoint(ILogger logger, long id);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit checkpoint failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
