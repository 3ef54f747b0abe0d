using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Alerts;

/// <summary>An alert as its recipient sees it: who, where, when — nothing clinical.</summary>
public sealed record AlertView(string Id, string RecordId, string Kind, string PatientName, DateOnly BirthDate, string? OrganizationName, string? DocumentId, DateTimeOffset CreatedAt, DateTimeOffset? AcknowledgedAt = null);

/// <summary>An alert waiting to be e-mailed to its recipient.</summary>
public sealed record AlertMail(string RecordId, string Id, string Kind, string Email, string PatientName, string? OrganizationName);

/// <summary>Wakes the dispatcher as soon as a filing wrote an event (it also runs on its own period).</summary>
public sealed class AlertSignal : WakeSignal;

/// <summary>
/// Professional alerts (mission M8): events written with the changes that cause them (an emergency
/// admission, a validated result crossing a rule) are turned into alerts for the patient's treating
/// physician and, for a result, the professional who ordered it — each recipient decided by the
/// access policy as if they read what triggered the alert (a blocked professional, a masked
/// document or the profession × document-type matrix: no alert). Every alert is in the record's
/// audit trail; an alert names the patient (and the establishment of an admission), never a value.
/// </summary>
public sealed class AlertService(DmpDbContext db, RecordGuard guard, WriteGate gate, AuditTrail audit, TimeProvider time, Subscriptions.SubscriptionFanOut fanOut, Subscriptions.SubscriptionSignal subscriptionSignal)
{
    public const string EmergencyAdmission = "emergency-admission";
    public const string Result = "result";
    /// <summary>A patient-entered measurement crossed a threshold the treating physician asked to be alerted of.</summary>
    public const string Measurement = "measurement";
    /// <summary>Events taken per dispatch.</summary>
    public const int BatchSize = 200;

    /// <summary>Adds to the unit of work one event per rule a batch of results fires (the write path: no query).</summary>
    public static int AddResultEvents(DmpDbContext db, AlertOptions options, string recordId, string? documentId, IEnumerable<ObservationEntry> results, string? prescriberRpps, DateTimeOffset now)
    {
        var added = 0;
        var fired = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in results)
        {
            foreach (var rule in options.Fired(r))
            {
                // One event per rule and document: three high INR values in one report are one alert.
                if (documentId is not null && !fired.Add(rule.Id))
                {
                    continue;
                }

                db.RecordEvents.Add(new RecordEvent
                {
                    RecordId = recordId,
                    Id = Ids.New(),
                    Kind = Result,
                    SubjectId = r.Id,
                    DocumentId = documentId,
                    RuleId = rule.Id,
                    PrescriberRpps = prescriberRpps,
                    CreatedAt = now,
                });
                added++;
            }
        }

        return added;
    }

    /// <summary>
    /// Records a failed dispatch of a record's events (its transaction rolled back): one attempt more;
    /// events that failed <paramref name="maxAttempts"/> times are set aside (processed, failed) so the
    /// queue moves on. Returns how many were set aside.
    /// </summary>
    public async Task<int> FailedAsync(string recordId, IReadOnlyList<string> eventIds, string failure, int maxAttempts, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        var ids = eventIds.ToList();
        await db.RecordEvents.Where(e => e.RecordId == recordId && ids.Contains(e.Id) && e.ProcessedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(e => e.Attempts, e => e.Attempts + 1).SetProperty(e => e.Failure, failure), ct);
        var now = time.GetUtcNow();
        var aside = await db.RecordEvents.Where(e => e.RecordId == recordId && ids.Contains(e.Id) && e.ProcessedAt == null && e.Attempts >= maxAttempts)
            .ExecuteUpdateAsync(u => u.SetProperty(e => e.ProcessedAt, now).SetProperty(e => e.FailedAt, now), ct);
        if (aside > 0)
        {
            DmpTelemetry.AlertEventsSetAside.Add(aside);
        }

        return aside;
    }

    /// <summary>Puts the events set aside back in the queue (after the operator fixed the cause); returns how many.</summary>
    public Task<int> RequeueFailedAsync(CancellationToken ct) =>
        db.RecordEvents.Where(e => e.FailedAt != null)
            .ExecuteUpdateAsync(u => u.SetProperty(e => e.ProcessedAt, (DateTimeOffset?)null).SetProperty(e => e.FailedAt, (DateTimeOffset?)null).SetProperty(e => e.Attempts, 0), ct);

    /// <summary>The oldest pending events, up to <see cref="BatchSize"/>.</summary>
    public Task<List<RecordEvent>> PendingEventsAsync(CancellationToken ct) =>
        db.RecordEvents.AsNoTracking().Where(e => e.ProcessedAt == null).OrderBy(e => e.CreatedAt).Take(BatchSize).ToListAsync(ct);

    /// <summary>One record's pending events → alerts, in one transaction under the record's gate (see <see cref="DispatchRecordsAsync"/>).</summary>
    public Task<int> DispatchRecordAsync(string recordId, List<RecordEvent> events, CancellationToken ct) =>
        DispatchRecordsAsync([(recordId, events)], ct);

    /// <summary>What one record's events lead to, decided before any lock.</summary>
    private sealed record Plan(string RecordId, List<RecordEvent> Events, List<ProfessionalAlert> Alerts, List<Subscriptions.SubscriptionMatch> Matches);

    /// <summary>
    /// Several records' pending events → alerts and subscription events, decided per record by the
    /// policy (reads for the whole lot at once, before any lock), then written in <b>one</b>
    /// transaction holding those records' gates (locked in record-id order, as the audit group commit
    /// does: one commit for the lot); events another round processed meanwhile are skipped. A failure
    /// fails the lot: the caller retries record by record to isolate the cause.
    /// </summary>
    public async Task<int> DispatchRecordsAsync(IReadOnlyList<(string RecordId, List<RecordEvent> Events)> records, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var plans = await PlanAsync(records, now, ct);

        db.ChangeTracker.Clear();
        var recordIds = plans.Select(p => p.RecordId).Distinct(StringComparer.Ordinal).ToList();
        await using var unit = await gate.EnterManyAsync(db, recordIds, ct);
        var ids = plans.SelectMany(p => p.Events).Select(e => e.Id).ToList();
        var pending = await db.RecordEvents.Where(e => recordIds.Contains(e.RecordId) && ids.Contains(e.Id) && e.ProcessedAt == null).ToListAsync(ct);
        var still = pending.Select(e => (e.RecordId, e.Id)).ToHashSet();
        var numbers = await fanOut.NumberAsync(plans.SelectMany(p => p.Matches.Where(m => still.Contains((p.RecordId, m.SourceId)))), ct);
        var written = 0;
        var notified = 0;
        foreach (var plan in plans)
        {
            var recordId = plan.RecordId;
            if (unit.Heads.TryGetValue(recordId, out var head))
            {
                // The record's first entry continues the head read under its lock.
                db.LockedChainHead = head;
            }

            foreach (var alert in plan.Alerts.Where(a => still.Contains((recordId, a.EventId))))
            {
                db.ProfessionalAlerts.Add(alert);
                await audit.AppendAsync(db, new AuditItem(recordId, Actor.Operator, AuditAction.Notify, "success", Channels.Alerts, "Alert", alert.Id, Detail: $"{alert.Kind} alert to professional {alert.RecipientId}"), ct);
                written++;
            }

            notified += await fanOut.AppendAsync(recordId, plan.Matches, numbers, now, ct);
            db.LockedChainHead = null;
        }

        foreach (var e in pending)
        {
            e.ProcessedAt = now;
        }

        await db.SaveChangesAsync(ct);
        await unit.Scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        if (notified > 0)
        {
            subscriptionSignal.Wake();
        }

        DmpTelemetry.AlertsCreated.Add(written);
        foreach (var e in pending.Where(e => IsAlerting(e.Kind)))
        {
            DmpTelemetry.AlertLatency.Record((now - e.CreatedAt).TotalMilliseconds);
        }

        return written;
    }

    private static bool IsAlerting(string kind) => kind is EmergencyAdmission or Result or Measurement;

    /// <summary>
    /// Reads only, a constant number of queries for the whole lot: the records' facts, their
    /// documents' policy facts (not their stored resources), the recipients, the alert subscriptions
    /// reached; then each record's decisions (and its new-document or dispensing subscriptions, when
    /// it has such events).
    /// </summary>
    private async Task<List<Plan>> PlanAsync(IReadOnlyList<(string RecordId, List<RecordEvent> Events)> records, DateTimeOffset now, CancellationToken ct)
    {
        var facts = await guard.FactsManyAsync(records.Select(r => r.RecordId).ToList(), ct);
        var known = records.Where(r => facts.ContainsKey(r.RecordId)).ToList();
        var documents = await DocumentFactsAsync(known, ct);
        var alerting = known.Where(r => r.Events.Any(e => IsAlerting(e.Kind))).ToList();
        var directory = await RecipientsAsync(
            alerting.Select(r => facts[r.RecordId].TreatingPhysicianId).OfType<string>().Distinct().ToList(),
            alerting.SelectMany(r => r.Events).Select(e => e.PrescriberRpps).OfType<string>().Distinct().ToList(),
            ct);
        var decided = new List<(string RecordId, List<RecordEvent> Events, List<ProfessionalAlert> Alerts)>();
        foreach (var (recordId, events) in records)
        {
            var alerts = facts.TryGetValue(recordId, out var record)
                ? await DecideAsync(record, events, documents.GetValueOrDefault(recordId) ?? [], directory, now, ct)
                : [];
            decided.Add((recordId, events, alerts));
        }

        // Subscriptions (practice software): the alerts just decided, new documents, dispensings.
        var alertSubscriptions = await fanOut.AlertSubscriptionsAsync(decided.SelectMany(d => d.Alerts).Select(a => a.RecipientId).Distinct().ToList(), ct);
        var plans = new List<Plan>(decided.Count);
        foreach (var (recordId, events, alerts) in decided)
        {
            var matches = Subscriptions.SubscriptionFanOut.MatchAlerts(alerts, alertSubscriptions).ToList();
            if (facts.TryGetValue(recordId, out var record))
            {
                matches.AddRange(await fanOut.MatchDocumentsAsync(record, events, documents.GetValueOrDefault(recordId) ?? [], ct));
            }

            plans.Add(new Plan(recordId, events, alerts, matches));
        }

        return plans;
    }

    /// <summary>The policy facts of the lot's current documents named by events, by record (one query).</summary>
    private async Task<Dictionary<string, Dictionary<string, DocumentFacts>>> DocumentFactsAsync(IReadOnlyList<(string RecordId, List<RecordEvent> Events)> records, CancellationToken ct)
    {
        var documentIds = records.SelectMany(r => r.Events).Select(e => e.DocumentId).OfType<string>().Distinct().ToList();
        if (documentIds.Count == 0)
        {
            return [];
        }

        var recordIds = records.Select(r => r.RecordId).ToList();
        var rows = await db.Documents.AsNoTracking()
            .Where(x => recordIds.Contains(x.RecordId) && documentIds.Contains(x.Id) && !x.Erased && x.Status == "current")
            .Select(x => new { x.RecordId, x.Id, x.AuthorProfessionalId, x.SubmitterId, x.ClassCode, x.TypeCode, x.Masked, x.HiddenFromPatient, x.Draft, x.HiddenFromRepresentatives, x.PrescriberId })
            .ToListAsync(ct);
        return rows.GroupBy(x => x.RecordId, StringComparer.Ordinal).ToDictionary(
            g => g.Key,
            g => g.ToDictionary(x => x.Id, x => new DocumentFacts(x.Id, x.AuthorProfessionalId, x.SubmitterId, x.ClassCode, x.TypeCode, x.Masked, x.HiddenFromPatient, x.Draft, x.HiddenFromRepresentatives, x.PrescriberId), StringComparer.Ordinal),
            StringComparer.Ordinal);
    }

    /// <summary>One record's alerts: each recipient (treating physician, named prescriber) decided by the policy as if reading what triggered it.</summary>
    private async Task<List<ProfessionalAlert>> DecideAsync(RecordFacts facts, List<RecordEvent> events, Dictionary<string, DocumentFacts> documents, List<Recipient> directory, DateTimeOffset now, CancellationToken ct)
    {
        var alerts = new List<ProfessionalAlert>();
        var triggers = events.Where(e => IsAlerting(e.Kind)).ToList();
        if (triggers.Count == 0)
        {
            return alerts;
        }

        var prescribers = triggers.Select(e => e.PrescriberRpps).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var recipients = directory
            .Where(r => r.Actor.Id == facts.TreatingPhysicianId || (r.Rpps is not null && prescribers.Contains(r.Rpps)))
            .Select(r => r with { Treating = r.Actor.Id == facts.TreatingPhysicianId })
            .ToList();
        var completed = new Dictionary<string, AccessRequest>(StringComparer.Ordinal);
        foreach (var r in recipients)
        {
            completed[r.Actor.Id] = await guard.CompleteAsync(new AccessRequest(r.Actor, AccessAction.SearchRecord, facts), ct);
        }

        foreach (var ev in triggers)
        {
            DocumentFacts? document = null;
            if (ev.Kind == Result)
            {
                document = ev.DocumentId is null ? ResultIntake.BiologyResult : documents.GetValueOrDefault(ev.DocumentId);

                // Erased or replaced meanwhile, or masked by the patient: an alert pushes what the patient
                // wished kept quiet, so a masked document alerts no one (whoever may still open it).
                if (document is null || document.Masked)
                {
                    continue;
                }
            }

            foreach (var recipient in recipients.Where(r => r.Treating || (ev.PrescriberRpps is not null && r.Rpps == ev.PrescriberRpps)))
            {
                var request = completed[recipient.Actor.Id] with { Action = document is null ? AccessAction.SearchRecord : AccessAction.ReadDocument, Document = document };
                if (!AccessPolicy.Decide(request).Permitted)
                {
                    continue;
                }

                alerts.Add(new ProfessionalAlert
                {
                    RecordId = facts.RecordId,
                    Id = Ids.New(),
                    RecipientId = recipient.Actor.Id,
                    Kind = ev.Kind,
                    EventId = ev.Id,
                    OrganizationId = ev.OrganizationId,
                    DocumentId = ev.DocumentId,
                    CreatedAt = now,
                    EmailStatus = recipient.Email is null ? "no-address" : "pending",
                });
            }
        }

        return alerts;
    }

    private sealed record Recipient(Actor Actor, string? Email, string? Rpps, bool Treating);

    /// <summary>The lot's treating physicians and named prescribers, active in the directory (one query).</summary>
    private async Task<List<Recipient>> RecipientsAsync(List<string> treating, List<string> prescribers, CancellationToken ct)
    {
        if (treating.Count == 0 && prescribers.Count == 0)
        {
            return [];
        }

        var pros = await db.Professionals.AsNoTracking()
            .Where(p => p.DeactivatedAt == null && (treating.Contains(p.Id) || (p.Rpps != null && prescribers.Contains(p.Rpps))))
            .Select(p => new { p.Id, p.Given, p.Family, p.ProfessionCode, p.SpecialtyCode, p.Email, p.Rpps })
            .ToListAsync(ct);
        return pros.Select(p => new Recipient(new Actor(ActorKind.Professional, p.Id, $"{p.Given} {p.Family}", p.ProfessionCode, Specialty: p.SpecialtyCode), p.Email, p.Rpps, false)).ToList();
    }

    /// <summary>
    /// A professional's unacknowledged alerts, newest first. Each is shown only while the policy still
    /// lets its recipient reach the record (a professional blocked since sees nothing of it); every
    /// record shown is in its audit trail.
    /// </summary>
    public async Task<IReadOnlyList<AlertView>> InboxAsync(Actor actor, string channel, CancellationToken ct)
    {
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.FindPatient), AuditAction.Search, "Alert", null, channel, auditPermit: false, ct, "alerts are for professionals");
        var alerts = await db.ProfessionalAlerts.AsNoTracking()
            .Where(a => a.RecipientId == actor.Id && a.AcknowledgedAt == null)
            .OrderByDescending(a => a.CreatedAt).Take(100)
            .ToListAsync(ct);
        // The patients are named only once the policy let the recipient reach their record.
        var reachable = new List<string>();
        foreach (var record in alerts.GroupBy(a => a.RecordId, StringComparer.Ordinal))
        {
            var facts = await guard.FactsAsync(record.Key, ct);
            if (facts is not null && AccessPolicy.Decide(await guard.CompleteAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), ct)).Permitted)
            {
                await guard.AuditAsync(new AuditItem(record.Key, actor, AuditAction.Search, "success", channel, "Alert", null, permit.Mode, $"alerts listed: {record.Count()}"), ct);
                reachable.Add(record.Key);
            }
        }

        var patients = await db.Patients.AsNoTracking().Where(p => reachable.Contains(p.RecordId)).ToDictionaryAsync(p => p.RecordId, p => (Name: $"{p.Given} {p.Family}", p.BirthDate), ct);
        var organizations = alerts.Select(a => a.OrganizationId).OfType<string>().Distinct().ToList();
        var names = await db.Organizations.AsNoTracking().Where(o => organizations.Contains(o.Id)).ToDictionaryAsync(o => o.Id, o => o.Name, ct);
        var shown = alerts.Where(a => patients.ContainsKey(a.RecordId))
            .Select(a => new AlertView(a.Id, a.RecordId, a.Kind, patients[a.RecordId].Name, patients[a.RecordId].BirthDate, a.OrganizationId is { } o && names.TryGetValue(o, out var n) ? n : null, a.DocumentId, a.CreatedAt))
            .ToList();
        await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Search, "success", channel, "Alert", null, permit.Mode, $"alerts shown: {shown.Count}"), ct);
        return shown;
    }

    /// <summary>
    /// One alert, for its recipient's software (FHIR Communication/[id], the focus of an alert
    /// subscription's notification): re-decided by the policy (a professional blocked since is refused)
    /// and audited in the record's chain; someone else's, or an unknown one, is 404.
    /// </summary>
    public async Task<AlertView> ReadAsync(string alertId, Actor actor, string channel, CancellationToken ct)
    {
        var alert = await OwnAlertAsync(alertId, actor, AuditAction.Read, channel, ct);
        var facts = await guard.FactsAsync(alert.RecordId, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Read, "Alert", alert.Id, channel, auditPermit: true, ct);
        var patient = await db.Patients.AsNoTracking().Where(p => p.RecordId == alert.RecordId).Select(p => new { p.Given, p.Family, p.BirthDate }).FirstAsync(ct);
        var organization = alert.OrganizationId is null ? null : await db.Organizations.AsNoTracking().Where(o => o.Id == alert.OrganizationId).Select(o => o.Name).FirstOrDefaultAsync(ct);
        return new AlertView(alert.Id, alert.RecordId, alert.Kind, $"{patient.Given} {patient.Family}", patient.BirthDate, organization, alert.DocumentId, alert.CreatedAt, alert.AcknowledgedAt);
    }

    private async Task<ProfessionalAlert> OwnAlertAsync(string alertId, Actor actor, AuditAction verb, string channel, CancellationToken ct)
    {
        var alert = actor.Kind == ActorKind.Professional
            ? await db.ProfessionalAlerts.AsNoTracking().FirstOrDefaultAsync(a => a.RecipientId == actor.Id && a.Id == alertId, ct)
            : null;
        if (alert is null)
        {
            await guard.AuditAsync(new AuditItem(null, actor, verb, AuditOutcomes.NotFound, channel, "Alert", alertId.Length > 64 ? alertId[..64] : alertId, Detail: "no such alert"), ct);
            throw DmpException.NotFound($"no alert {alertId} for you");
        }

        return alert;
    }

    /// <summary>The recipient acknowledges an alert; someone else's, or an unknown one, is 404.</summary>
    public async Task AcknowledgeAsync(string alertId, Actor actor, string channel, CancellationToken ct)
    {
        var alert = await OwnAlertAsync(alertId, actor, AuditAction.Update, channel, ct);
        if (alert.AcknowledgedAt is not null)
        {
            return;
        }

        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, alert.RecordId, ct);
        var now = time.GetUtcNow();
        await db.ProfessionalAlerts.Where(a => a.RecordId == alert.RecordId && a.Id == alert.Id && a.AcknowledgedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.AcknowledgedAt, now), ct);
        await audit.AppendAsync(db, new AuditItem(alert.RecordId, actor, AuditAction.Update, "success", channel, "Alert", alert.Id, Detail: "acknowledged"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>Alerts waiting to be e-mailed (recipients with an address).</summary>
    public async Task<IReadOnlyList<AlertMail>> PendingMailAsync(int max, CancellationToken ct)
    {
        var rows = await db.ProfessionalAlerts.AsNoTracking().Where(a => a.EmailStatus == "pending").OrderBy(a => a.CreatedAt).Take(max)
            .Join(db.Professionals, a => a.RecipientId, p => p.Id, (a, p) => new { Alert = a, p.Email })
            .Join(db.Patients, x => x.Alert.RecordId, p => p.RecordId, (x, p) => new { x.Alert, x.Email, p.Family, p.Given })
            .ToListAsync(ct);
        var organizations = rows.Select(r => r.Alert.OrganizationId).OfType<string>().Distinct().ToList();
        var names = await db.Organizations.AsNoTracking().Where(o => organizations.Contains(o.Id)).ToDictionaryAsync(o => o.Id, o => o.Name, ct);
        return rows.Where(r => r.Email is not null).Select(r => new AlertMail(r.Alert.RecordId, r.Alert.Id, r.Alert.Kind, r.Email!, $"{r.Given} {r.Family}", r.Alert.OrganizationId is { } o && names.TryGetValue(o, out var n) ? n : null)).ToList();
    }

    /// <summary>Marks an alert e-mailed (after the SMTP server accepted it: at least once), in the record's trail.</summary>
    public async Task MarkMailedAsync(AlertMail mail, CancellationToken ct)
    {
        await using (var scope = await gate.EnterBookkeepingAsync(db, ct))
        {
            await db.ProfessionalAlerts.Where(a => a.RecordId == mail.RecordId && a.Id == mail.Id).ExecuteUpdateAsync(u => u.SetProperty(a => a.EmailStatus, "sent"), ct);
            await scope.CommitAsync(ct);
        }

        await guard.AuditAsync(new AuditItem(mail.RecordId, Actor.Operator, AuditAction.Notify, "success", Channels.Messaging, "Alert", mail.Id, Detail: "alert sent by e-mail"), ct);
    }
}
