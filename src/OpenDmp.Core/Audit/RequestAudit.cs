using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace OpenDmp.Core.Audit;

/// <summary>
/// What one request (or one unit of background work) did with patient data: whether it queried a
/// table holding patient data, and which audit entries it appended. The host opens one per request;
/// <see cref="AuditTrail"/> and <see cref="PatientDataInterceptor"/> fill it wherever the code runs,
/// so the check at the end of the request does not depend on any handler remembering it.
/// </summary>
public sealed class RequestAuditLog
{
    private static readonly AsyncLocal<RequestAuditLog?> CurrentLog = new();
    private readonly ConcurrentQueue<(AuditAction Action, string Outcome)> _entries = new();

    /// <summary>The log of the current request, if one is open.</summary>
    public static RequestAuditLog? Current => CurrentLog.Value;

    /// <summary>Whether the request queried or changed a table that holds patient data.</summary>
    public bool TouchedPatientData { get; private set; }

    public IReadOnlyCollection<(AuditAction Action, string Outcome)> Entries => _entries;

    /// <summary>Whether a permit of this request carries an obligation still to fulfil (RecordGuard).</summary>
    public bool HasObligations { get; private set; }

    internal void ObligationPending() => HasObligations = true;

    /// <summary>Opens a log for the current asynchronous flow (a request).</summary>
    public static RequestAuditLog Begin()
    {
        var log = new RequestAuditLog();
        CurrentLog.Value = log;
        return log;
    }

    public static void End() => CurrentLog.Value = null;

    internal void Appended(AuditAction action, string outcome) => _entries.Enqueue((action, outcome));

    internal void Touched() => TouchedPatientData = true;
}

/// <summary>
/// Marks the current <see cref="RequestAuditLog"/> when a command reads or writes a table holding
/// patient data (design D16: those tables carry record_id). Authentication tables (sessions,
/// accounts) and reference data (directory) are not patient data.
/// </summary>
public sealed partial class PatientDataInterceptor : DbCommandInterceptor
{
    public static readonly IReadOnlySet<string> PatientTables = new HashSet<string>(StringComparer.Ordinal)
    {
        "patients", "patient_identifiers", "records", "documents", "document_links", "submission_sets", "observations", "clinical_entries",
        "audit_entries", "content_blobs", "grants", "blocked_professionals", "record_accessors", "notifications", "notification_choices", "reminders", "measurements", "monitoring_thresholds", "device_tokens",
        "personal_entries", "saved_views", "record_keys", "record_events", "professional_alerts", "subscription_events", "identity_duplicates", "record_merges", "network_enrolments", "network_documents",
    };

    private static readonly ConcurrentDictionary<string, bool> Seen = new(StringComparer.Ordinal);

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        Observe(command);
        return result;
    }

    public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        Observe(command);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        Observe(command);
        return result;
    }

    public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<object> result, CancellationToken cancellationToken = default)
    {
        Observe(command);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        Observe(command);
        return result;
    }

    public override ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        Observe(command);
        return ValueTask.FromResult(result);
    }

    /// <summary>Whether a SQL text names a table holding patient data (FROM, JOIN, INTO, UPDATE, DELETE FROM).</summary>
    public static bool TouchesPatientData(string sql)
    {
        if (Seen.TryGetValue(sql, out var known))
        {
            return known;
        }

        var touches = false;
        foreach (Match m in Table().Matches(sql))
        {
            if (PatientTables.Contains(m.Groups[1].Value))
            {
                touches = true;
                break;
            }
        }

        if (Seen.Count < 50_000)
        {
            Seen[sql] = touches;
        }

        return touches;
    }

    private static void Observe(DbCommand command) => Observe(command.CommandText);

    /// <summary>Marks the current request when <paramref name="sql"/> touches patient data (for statements run outside EF).</summary>
    public static void Observe(string sql)
    {
        if (RequestAuditLog.Current is { TouchedPatientData: false } log && TouchesPatientData(sql))
        {
            log.Touched();
        }
    }

    [GeneratedRegex("\\b(?:FROM|JOIN|INTO|UPDATE)\\s+\"?([a-z_]+)\"?", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Table();
}
