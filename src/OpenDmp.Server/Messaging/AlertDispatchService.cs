using System.Globalization;
using MimeKit;
using OpenDmp.Core.Alerts;
using OpenDmp.Core.Messaging;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Runs the alert dispatcher (events → alerts for professionals, decided by the policy) as soon as a
/// filing wakes it and at least every Alerts:DispatchSeconds (0 disables), on one instance at a
/// time (lease "alerts"), then e-mails the new alerts to recipients who have an address (when
/// messaging is enabled). The e-mail names the patient and the establishment of an emergency
/// admission; a result alert says only that a result needs attention, with the link to open it.
/// </summary>
public sealed partial class AlertDispatchService(IServiceProvider services, AlertOptions options, AlertSignal signal, MessagingOptions messaging, OpenDmp.Core.Fhir.ServerOptions server, OpenDmp.Core.Storage.JobLeader leader, ILogger<AlertDispatchService> logger) : BackgroundService
{
    private const int MailBatch = 100;

    /// <summary>Records dispatched at once (each a few round trips and one commit).</summary>
    private const int Parallelism = 4;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.DispatchSeconds <= 0
        ? Task.CompletedTask
        : leader.LeadAsync("alerts", TimeSpan.FromSeconds(options.DispatchSeconds), signal, RoundAsync, ex => LogFailed(logger, ex.GetType().Name, ex), stoppingToken);

    /// <summary>One round: dispatch the pending events (a burst is drained batch by batch), then e-mail what waits.</summary>
    public async Task RoundAsync(CancellationToken ct)
    {
        List<RecordEvent> events;
        do
        {
            using (var scope = services.CreateScope())
            {
                events = await scope.ServiceProvider.GetRequiredService<AlertService>().PendingEventsAsync(ct);
            }

            // Records are independent (each under its own gate, in its own transaction): a few at once.
            // A record whose dispatch fails does not stop the others: its events count an attempt and,
            // after Alerts:MaxAttempts, are set aside for the operator (no poison record holds the queue).
            await Parallel.ForEachAsync(events.GroupBy(e => e.RecordId, StringComparer.Ordinal), new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (record, token) =>
            {
                try
                {
                    using var scope = services.CreateScope();
                    await scope.ServiceProvider.GetRequiredService<AlertService>().DispatchRecordAsync(record.Key, record.ToList(), token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    using var scope = services.CreateScope();
                    var aside = await scope.ServiceProvider.GetRequiredService<AlertService>().FailedAsync(record.Key, record.Select(e => e.Id).ToList(), ex.GetType().Name, options.MaxAttempts, token);
                    LogRecordFailed(logger, record.Count(), ex.GetType().Name, aside, ex);
                }
            });
        }
        while (events.Count == AlertService.BatchSize && !ct.IsCancellationRequested);

        if (messaging.Enabled)
        {
            await MailAsync(ct);
        }
    }

    private async Task MailAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var alerts = scope.ServiceProvider.GetRequiredService<AlertService>();
        var pending = await alerts.PendingMailAsync(MailBatch, ct);
        if (pending.Count == 0)
        {
            return;
        }

        using var smtp = await MailConnections.ConnectSmtpAsync(messaging.Smtp, ct);
        foreach (var alert in pending)
        {
            var message = Compose(alert);
            await smtp.SendAsync(message, MailboxAddress.Parse(messaging.DepositAddress), message.To.Mailboxes, ct);
            await alerts.MarkMailedAsync(alert, ct);
        }

        await smtp.DisconnectAsync(true, ct);
        LogSent(logger, pending.Count);
    }

    /// <summary>The alert e-mail: French, then the same in English, each paragraph in one language.</summary>
    private MimeMessage Compose(AlertMail alert)
    {
        var link = (server.PublicBaseUrl?.TrimEnd('/') ?? string.Empty) + "/pro";
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("OpenDMP — alertes", messaging.DepositAddress));
        message.To.Add(MailboxAddress.Parse(alert.Email));
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("opendmp.alerts");
        message.Headers.Add("Auto-Submitted", "auto-generated");
        var admission = alert.Kind == AlertService.EmergencyAdmission;
        string Paragraph(CultureInfo culture)
        {
            string T(string key) => Portal.Ui.Resources.GetString(key, culture) ?? key;
            var what = admission
                ? string.Format(culture, T("alertmail.admission"), alert.PatientName, alert.OrganizationName ?? T("alerts.establishment"))
                : T("alertmail." + (alert.Kind == AlertService.Measurement ? "measurement" : "result"));
            return what + "\r\n" + string.Format(culture, T("alertmail.open"), link) + "\r\n";
        }

        var fr = CultureInfo.GetCultureInfo("fr-FR");
        message.Subject = Portal.Ui.Resources.GetString("alertmail.subject." + (admission ? "admission" : alert.Kind == AlertService.Measurement ? "measurement" : "result"), fr) ?? "OpenDMP";
        var text = Paragraph(fr) + "\r\n" + Paragraph(CultureInfo.GetCultureInfo("en"));
        var body = new TextPart("plain") { Text = text };
        body.ContentType.Charset = "utf-8";
        message.Body = body;
        return message;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dispatch of {Count} event(s) of one record failed ({ExceptionType}); {SetAside} set aside after repeated failures (record_events.failed_at)")]
    private static partial void LogRecordFailed(ILogger logger, int count, string exceptionType, int setAside, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} alert(s) sent by e-mail")]
    private static partial void LogSent(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert dispatch failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
