using OpenDmp.Core.Access;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Scans the trail of accesses for signals of improper access every AccessSignals:ScanSeconds (one
/// instance at a time, lease "access-signals"); the access-review role reviews them in /pro/revue-acces.
/// </summary>
public sealed partial class AccessSignalScanService(IServiceProvider services, AccessSignalOptions options, JobLeader leader, TimeProvider time, ILogger<AccessSignalScanService> logger) : BackgroundService
{
    // Woken by nothing but its period: the rules look at windows of minutes.
    private readonly ScanSignal _never = new();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.ScanSeconds <= 0
        ? Task.CompletedTask
        : leader.LeadAsync("access-signals", TimeSpan.FromSeconds(options.ScanSeconds), _never, RoundAsync, ex => LogFailed(logger, ex.GetType().Name, ex), stoppingToken);

    private async Task RoundAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var raised = await scope.ServiceProvider.GetRequiredService<AccessSignalService>().ScanAsync(time.GetUtcNow(), ct);
        if (raised > 0)
        {
            LogRaised(logger, raised);
        }
    }

    public override void Dispose()
    {
        _never.Dispose();
        base.Dispose();
    }

    private sealed class ScanSignal : OpenDmp.Core.Common.WakeSignal;

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} signal(s) of improper access raised")]
    private static partial void LogRaised(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Access signal scan failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
