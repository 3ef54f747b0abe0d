using OpenDmp.Core.Notifications;
using OpenDmp.Core.Reminders;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Turns due reminders into patient notifications every Reminders:DispatchSeconds (one instance at
/// a time, lease "reminders"); the e-mail and SMS senders deliver them on the channels the patient
/// chose.
/// </summary>
public sealed partial class ReminderDispatchService(IServiceProvider services, ReminderOptions options, JobLeader leader, NotificationSignal signal, TimeProvider time, ILogger<ReminderDispatchService> logger) : BackgroundService
{
    private const int BatchSize = 500;

    // Woken by nothing but its period: a reminder is due at a minute, not at an event.
    private readonly ReminderSignal _never = new();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.DispatchSeconds <= 0
        ? Task.CompletedTask
        : leader.LeadAsync("reminders", TimeSpan.FromSeconds(options.DispatchSeconds), _never, RoundAsync, ex => LogFailed(logger, ex.GetType().Name, ex), stoppingToken);

    private async Task RoundAsync(CancellationToken ct)
    {
        int written;
        do
        {
            using var scope = services.CreateScope();
            written = await scope.ServiceProvider.GetRequiredService<ReminderService>().DispatchDueAsync(time.GetUtcNow(), BatchSize, ct);
            if (written > 0)
            {
                LogDue(logger, written);
                signal.Wake();
            }
        }
        while (written == BatchSize);
    }

    public override void Dispose()
    {
        _never.Dispose();
        base.Dispose();
    }

    private sealed class ReminderSignal : OpenDmp.Core.Common.WakeSignal;

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} reminder(s) due")]
    private static partial void LogDue(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reminder dispatch failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
