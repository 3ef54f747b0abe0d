using System.Diagnostics.Metrics;

namespace OpenDmp.Core.Common;

/// <summary>
/// OpenDMP's own metrics (meter "OpenDmp"), exported by the host through OpenTelemetry. Tags carry outcomes and kinds only — never an identifier, a name, a
/// title, a code of a patient's document or any content (docs/OPERATIONS.md lists the instruments).
/// </summary>
public static class DmpTelemetry
{
    public const string Name = "OpenDmp";

    private static readonly Meter Meter = new(Name);

    private static long _depositQueue;
    private static long _notificationBacklog;

    /// <summary>Documents committed by ITI-65 (and by the deposit mailbox, which goes through it).</summary>
    public static readonly Counter<long> DocumentsFiled = Meter.CreateCounter<long>("opendmp.documents.filed", "{document}", "Documents filed and committed");

    /// <summary>Answers of the single access-policy function, tagged with the outcome and the kind of actor.</summary>
    public static readonly Counter<long> PolicyDecisions = Meter.CreateCounter<long>("opendmp.policy.decisions", "{decision}", "Access-policy decisions by outcome");

    /// <summary>Audit entries appended to a chain (counted when staged in their unit of work).</summary>
    public static readonly Counter<long> AuditAppends = Meter.CreateCounter<long>("opendmp.audit.appends", "{entry}", "Audit entries appended");

    /// <summary>Requests answered 503 because the database could not serve (unreachable, failing over).</summary>
    public static readonly Counter<long> DatabaseUnavailable = Meter.CreateCounter<long>("opendmp.db.unavailable", "{request}", "Requests refused because the database could not serve (failover)");

    /// <summary>Professional alerts written by the dispatcher.</summary>
    public static readonly Counter<long> AlertEventsSetAside = Meter.CreateCounter<long>("opendmp.alerts.events_set_aside", "{event}", "Record events set aside after repeated dispatch failures (failed_at; requeued by the operator)");
    public static readonly Counter<long> AccessSignals = Meter.CreateCounter<long>("opendmp.access.signals", "{signal}", "Signals of improper access raised for the access-review role");
    public static readonly Counter<long> AlertsCreated = Meter.CreateCounter<long>("opendmp.alerts.created", "{alert}", "Professional alerts created");

    /// <summary>From the event's commit to its alerts' commit (the dispatcher's delay).</summary>
    public static readonly Histogram<double> AlertLatency = Meter.CreateHistogram<double>("opendmp.alerts.latency", "ms", "Event to alert");

    /// <summary>Subscription notification attempts, by outcome (delivered, failed).</summary>
    public static readonly Counter<long> SubscriptionNotifications = Meter.CreateCounter<long>("opendmp.subscriptions.notifications", "{notification}", "Subscription notification attempts");

    /// <summary>ITI-65 commits whose acknowledgement was lost, checked on the database afterwards, tagged with what the check found.</summary>
    public static readonly Counter<long> CommitChecks = Meter.CreateCounter<long>("opendmp.db.commit_checks", "{transaction}", "Commits with a lost acknowledgement, checked afterwards");

    /// <summary>Entries written by one group commit of the audit trail (reads, searches, refusals).</summary>
    public static readonly Histogram<long> AuditGroupEntries = Meter.CreateHistogram<long>("opendmp.audit.group_entries", "{entry}", "Audit entries per group commit");

    /// <summary>One group commit: lock, chain heads, insert, commit.</summary>
    public static readonly Histogram<double> AuditGroupDuration = Meter.CreateHistogram<double>("opendmp.audit.group_duration", "ms", "Time to write and commit one group of audit entries");

    /// <summary>Groups of the audit trail that failed whole and were written again entry by entry (one bad entry fails only its request).</summary>
    public static readonly Counter<long> AuditGroupRetries = Meter.CreateCounter<long>("opendmp.audit.group_retries", "{group}", "Audit groups that failed whole and were written entry by entry");

    /// <summary>From a request's append to its entry being durable: the wait for the group in progress, then its own.</summary>
    public static readonly Histogram<double> AuditWait = Meter.CreateHistogram<double>("opendmp.audit.wait", "ms", "Time a request waits for its audit entry to be durable");

    static DmpTelemetry()
    {
        Meter.CreateObservableGauge("opendmp.deposit.queue", () => Volatile.Read(ref _depositQueue), "{message}", "Messages waiting in the deposit mailbox at its last poll");
        Meter.CreateObservableGauge("opendmp.notifications.backlog", () => Volatile.Read(ref _notificationBacklog), "{notification}", "Patient notifications not yet e-mailed at the last delivery round");
    }

    public static void SetDepositQueue(long messages) => Volatile.Write(ref _depositQueue, messages);

    public static void SetNotificationBacklog(long notifications) => Volatile.Write(ref _notificationBacklog, notifications);
}
