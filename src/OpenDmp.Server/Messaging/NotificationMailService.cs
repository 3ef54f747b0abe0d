using Microsoft.EntityFrameworkCore;
using MimeKit;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Delivers the patients' notifications (first access by a professional, every emergency access)
/// by e-mail to the address of their account, through the configured SMTP server, every
/// Messaging:NotificationSeconds (default 10; 0 disables). The text names who accessed and how,
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
        var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
        var guard = scope.ServiceProvider.GetRequiredService<RecordGuard>();
        var waiting = db.Notifications.AsNoTracking().Where(n => n.Status == "pending")
            .Join(db.PatientAccounts.Where(a => a.Email != null), n => n.RecordId, a => a.RecordId, (n, a) => new { Notification = n, a.Email, a.NotifyFirstAccess });
        var batch = await waiting.OrderBy(x => x.Notification.CreatedAt).Take(BatchSize).ToListAsync(ct);
        // First accesses the patient chose not to receive by e-mail stay listed in the patient space only.
        var muted = batch.Where(x => x.Notification.Kind == "first-access" && !x.NotifyFirstAccess).Select(x => x.Notification.Id).ToList();
        if (muted.Count > 0)
        {
            await db.Notifications.Where(x => muted.Contains(x.Id)).ExecuteUpdateAsync(u => u.SetProperty(x => x.Status, "not-emailed"), ct);
        }

        var pending = batch.Where(x => !muted.Contains(x.Notification.Id)).ToList();
        // The backlog: what waits to be e-mailed (counted only when this round could not take it all).
        OpenDmp.Core.Common.DmpTelemetry.SetNotificationBacklog(batch.Count < BatchSize ? pending.Count : await waiting.CountAsync(ct));
        if (pending.Count == 0)
        {
            return 0;
        }

        using var smtp = await MailConnections.ConnectSmtpAsync(options.Smtp, ct);
        var sent = 0;
        foreach (var item in pending)
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("OpenDMP — mon dossier", options.DepositAddress));
            message.To.Add(MailboxAddress.Parse(item.Email!));
            // French first, then English: each paragraph in one language.
            var fr = System.Globalization.CultureInfo.GetCultureInfo("fr-FR");
            var en = System.Globalization.CultureInfo.GetCultureInfo("en");
            message.Subject = Portal.Ui.Resources.GetString(item.Notification.Kind == "emergency-access" ? "notification.subject.emergency" : "notification.subject.first", fr) ?? "OpenDMP";
            message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("opendmp.notifications");
            message.Headers.Add("Auto-Submitted", "auto-generated");
            var body = new TextPart("plain")
            {
                Text = Portal.Ui.Notification(item.Notification, fr) + "\r\n" + Portal.Ui.Resources.GetString("notification.footer", fr) + "\r\n\r\n"
                    + Portal.Ui.Notification(item.Notification, en) + "\r\n" + Portal.Ui.Resources.GetString("notification.footer", en) + "\r\n",
            };
            body.ContentType.Charset = "utf-8";
            message.Body = body;
            await smtp.SendAsync(message, MailboxAddress.Parse(options.DepositAddress), message.To.Mailboxes, ct);
            var n = item.Notification;
            await db.Notifications.Where(x => x.RecordId == n.RecordId && x.Id == n.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.Status, "sent"), ct);
            // The delivery fulfils a permit's notification obligation; it is in the record's trail too.
            await guard.AuditAsync(new AuditItem(n.RecordId, Actor.Operator, AuditAction.Notify, "success", Channels.Messaging, "Communication", n.Id, Detail: "sent by e-mail"), ct);
            sent++;
        }

        await smtp.DisconnectAsync(true, ct);
        LogSent(logger, sent);
        return sent;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} notification(s) sent by e-mail")]
    private static partial void LogSent(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Notification delivery failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
