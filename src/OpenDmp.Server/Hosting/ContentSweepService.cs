using OpenDmp.Core.Content;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Sweeps the file content store (leader only) a minute after start and every
/// Content:SweepHours (default 6), removing files older than Content:SweepMinAgeMinutes (default 60)
/// that no committed document uses. Nothing to do with the database content store (transactional).
/// </summary>
public sealed partial class ContentSweepService(IServiceProvider services, DataDirectory data, IConfiguration configuration, JobLeader leader, ILogger<ContentSweepService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var hours = configuration.GetValue("Content:SweepHours", 6.0);
        if (hours <= 0)
        {
            return;
        }

        var minAge = TimeSpan.FromMinutes(configuration.GetValue("Content:SweepMinAgeMinutes", 60.0));
        await Task.Delay(TimeSpan.FromMinutes(1), stoppingToken);
        using var timer = new PeriodicTimer(TimeSpan.FromHours(hours));
        do
        {
            try
            {
                await using var lease = await leader.TryAcquireAsync("content-sweep", stoppingToken);
                if (lease is not null)
                {
                    using var scope = services.CreateScope();
                    var report = await scope.ServiceProvider.GetRequiredService<ContentSweeper>().SweepAsync(data.Content, minAge, stoppingToken);
                    LogSwept(logger, report.Temporary, report.Orphans);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.GetType().Name, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Content sweep: {Temporary} temporary and {Orphans} orphan file(s) removed")]
    private static partial void LogSwept(ILogger logger, int temporary, int orphans);

    [LoggerMessage(Level = LogLevel.Error, Message = "Content sweep failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
