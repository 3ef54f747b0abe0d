using MimeKit;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Notifications;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Delivers the patients' notifications (every emergency access; first accesses, new documents and
/// reminders when the patient chose them by e-mail) to the address of their account, in the
/// account's language, through the configured SMTP server, every Messaging:NotificationSeconds
/// (default 10; 0 disables). The text names who accessed and how, or that a document arrived,
/// never health data. Marked "sent" after the SMTP server accepted it: a crash in between sends it
/// again (at least once). Notifications of patients without an address stay in the outbox, where
/// the patient API lists them.
/// </summary>
public sealed partial class NotificationMailService(IServiceProvider services, MessagingOptions options, IConfiguration configuration, OpenDmp.Core.Storage.JobLeader leader, ILogger<NotificationMailService> logger) : BackgroundService
{
    private const int BatchSize = 200;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seconds = configuration.GetValue("Messaging:NotificationSeconds", 10.0);
        if (!options.Enabled || seconds <= 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(seconds));
        do
        {
            try
            {
                // One instance sends at a time, so that a notification is not e-mailed twice.
                await using var lease = await leader.TryAcquireAsync("notification-mail", stoppingToken);
                if (lease is not null)
                {
                    await DeliverAsync(stoppingToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.GetType().Name, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Sends the pending notifications of patients who have an e-mail address; returns how many went out.</summary>
    public async Task<int> DeliverAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var delivery = scope.ServiceProvider.GetRequiredService<NotificationDelivery>();
        var due = await delivery.DueAsync(NotificationEvents.Email, BatchSize, null, ct);
        // The backlog: what waits to be e-mailed (counted only when this round could not take it all).
        OpenDmp.Core.Common.DmpTelemetry.SetNotificationBacklog(due.Count < BatchSize ? due.Count : await delivery.BacklogAsync(NotificationEvents.Email, ct));
        if (due.Count == 0)
        {
            return 0;
        }

        using var smtp = await MailConnections.ConnectSmtpAsync(options.Smtp, ct);
        foreach (var item in due)
        {
            var message = Message(item);
            await smtp.SendAsync(message, MailboxAddress.Parse(options.DepositAddress), message.To.Mailboxes, ct);
            await delivery.SentAsync(item.Notification, NotificationEvents.Email, ct);
        }

        await smtp.DisconnectAsync(true, ct);
        LogSent(logger, due.Count);
        return due.Count;
    }

    /// <summary>The e-mail of one notification, in the patient's language only (their account's choice).</summary>
    private MimeMessage Message(NotificationWork item)
    {
        var culture = Portal.Ui.Culture(item.Language);
        var text = Portal.Ui.Notification(item.Notification, culture) + "\r\n\r\n" + Portal.Ui.Resources.GetString("notification.footer", culture) + "\r\n";
        return PatientMail.Create(options.DepositAddress, item.To, Portal.Ui.NotificationSubject(item.Notification.Kind, culture), text, culture);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} notification(s) sent by e-mail")]
    private static partial void LogSent(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notification delivery failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
