using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Enforces the retention of closed records (leader only): every Records:RetentionCheckHours
/// (default 24), records closed for longer than Records:RetentionYears (default 10) have their data
/// key destroyed (ADR 0019).
/// </summary>
public sealed partial class RetentionService(IServiceProvider services, IConfiguration configuration, JobLeader leader, ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var hours = configuration.GetValue("Records:RetentionCheckHours", 24.0);
        if (hours <= 0)
        {
            return;
        }

        await Task.Delay(TimeSpan.FromMinutes(configuration.GetValue("Records:RetentionFirstCheckMinutes", 5.0)), stoppingToken);
        using var timer = new PeriodicTimer(TimeSpan.FromHours(hours));
        do
        {
            try
            {
                await using var lease = await leader.TryAcquireAsync("record-retention", stoppingToken);
                if (lease is not null)
                {
                    using var scope = services.CreateScope();
                    var shredded = await scope.ServiceProvider.GetRequiredService<RecordRetention>().EnforceAsync(stoppingToken);
                    LogEnforced(logger, shredded);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.GetType().Name, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: {Count} closed record(s) past their retention had their data key destroyed")]
    private static partial void LogEnforced(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention enforcement failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
