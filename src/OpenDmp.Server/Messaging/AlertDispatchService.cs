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

    /// <summary>Lots dispatched at once.</summary>
    private const int Parallelism = 2;

    /// <summary>Records per transaction (each a few reads before the lock; one commit for the lot).</summary>
    private const int RecordsPerLot = 32;

    private readonly OpenDmp.Core.Common.RoundPacer _pacer = new(TimeSpan.FromMilliseconds(options.GatherMilliseconds), TimeProvider.System);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.DispatchSeconds <= 0
        ? Task.CompletedTask
        : leader.LeadAsync("alerts", TimeSpan.FromSeconds(options.DispatchSeconds), signal, RoundAsync, ex => LogFailed(logger, ex.GetType().Name, ex), stoppingToken);

    /// <summary>One round: dispatch the pending events (a burst is drained batch by batch), then e-mail what waits.</summary>
    public async Task RoundAsync(CancellationToken ct)
    {
        // Paced under load: a round that follows the previous one too closely waits the rest of
        // Alerts:GatherMilliseconds, and the events written meanwhile go in the same lots.
        var wait = _pacer.Next();
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, ct);
        }

        List<RecordEvent> events;
        do
        {
            using (var scope = services.CreateScope())
            {
                events = await scope.ServiceProvider.GetRequiredService<AlertService>().PendingEventsAsync(ct);
            }

            // Records are written a lot at a time (one transaction and one commit per lot, their gates
            // taken in record-id order); two lots at once. A lot that fails is retried record by record,
            // so that a record whose dispatch keeps failing does not stop the others: its events count
            // an attempt and, after Alerts:MaxAttempts, are set aside for the operator.
            var lots = events.GroupBy(e => e.RecordId, StringComparer.Ordinal).Select(g => (g.Key, g.ToList())).Chunk(RecordsPerLot).ToList();
            await Parallel.ForEachAsync(lots, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (lot, token) =>
            {
                try
                {
                    using var scope = services.CreateScope();
                    await scope.ServiceProvider.GetRequiredService<AlertService>().DispatchRecordsAsync(lot, token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException && lot.Length > 1)
                {
                    var failure = ex.GetType().Name;
                    LogLotFailed(logger, lot.Length, failure);
                    foreach (var record in lot)
                    {
                        await DispatchAloneAsync(record.Key, record.Item2, token);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    await SetAsideAsync(lot[0].Key, lot[0].Item2, ex, token);
                }
            });
        }
        while (events.Count == AlertService.BatchSize && !ct.IsCancellationRequested);

        if (messaging.Enabled)
        {
            await MailAsync(ct);
        }
    }

    private async Task DispatchAloneAsync(string recordId, List<RecordEvent> events, CancellationToken ct)
    {
        try
        {
            using var scope = services.CreateScope();
            await scope.ServiceProvider.GetRequiredService<AlertService>().DispatchRecordAsync(recordId, events, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await SetAsideAsync(recordId, events, ex, ct);
        }
    }

    private async Task SetAsideAsync(string recordId, List<RecordEvent> events, Exception ex, CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var aside = await scope.ServiceProvider.GetRequiredService<AlertService>().FailedAsync(recordId, events.Select(e => e.Id).ToList(), ex.GetType().Name, options.MaxAttempts, ct);
        LogRecordFailed(logger, events.Count, ex.GetType().Name, aside, ex);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "A lot of {Count} records failed to dispatch ({ExceptionType}); retrying them one by one")]
    private static partial void LogLotFailed(ILogger logger, int count, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} alert(s) sent by e-mail")]
    private static partial void LogSent(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert dispatch failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
