using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Alerts;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Subscriptions;

/// <summary>A subscription event to write: for which subscription, about what, from which record event.</summary>
public sealed record SubscriptionMatch(string SubscriptionId, string OwnerId, string Topic, string Focus, string SourceId);

/// <summary>
/// Turns a record's events into subscription events, in the alert dispatcher's round (the same
/// outbox): a new document or a dispensing reaches a subscription only when the access policy lets
/// its owner read the document, as if they asked for it then; an alert reaches its recipient's
/// alert subscriptions. Each event is numbered per subscription and audited in the record's chain.
/// </summary>
public sealed class SubscriptionFanOut(DmpDbContext db, RecordGuard guard, AuditTrail audit)
{
    public const string DocumentEvent = "document";
    public const string DispenseEvent = "dispense";

    /// <summary>Before the gates: the active alert subscriptions of these recipients, by owner (one query for a lot of records).</summary>
    public async Task<ILookup<string, string>> AlertSubscriptionsAsync(IReadOnlyCollection<string> recipients, CancellationToken ct)
    {
        if (recipients.Count == 0)
        {
            return Array.Empty<string>().ToLookup(x => x, StringComparer.Ordinal);
        }

        var owners = recipients.ToList();
        var subs = await db.Subscriptions.AsNoTracking()
            .Where(s => s.Status == "active" && s.Topic == SubscriptionTopics.Alert && owners.Contains(s.OwnerId))
            .Select(s => new { s.Id, s.OwnerId }).ToListAsync(ct);
        return subs.ToLookup(s => s.OwnerId, s => s.Id, StringComparer.Ordinal);
    }

    /// <summary>An alert reaches each of its recipient's alert subscriptions.</summary>
    public static IEnumerable<SubscriptionMatch> MatchAlerts(IEnumerable<ProfessionalAlert> alerts, ILookup<string, string> subscriptions) =>
        alerts.SelectMany(a => subscriptions[a.RecipientId].Select(id => new SubscriptionMatch(id, a.RecipientId, SubscriptionTopics.Alert, "Communication/" + a.Id, a.EventId)));

    /// <summary>Before the record's gate: which active subscriptions a record's new documents and dispensings reach (reads only).</summary>
    public async Task<List<SubscriptionMatch>> MatchDocumentsAsync(RecordFacts facts, IReadOnlyList<RecordEvent> events, IReadOnlyDictionary<string, DocumentFacts> documents, CancellationToken ct)
    {
        var matches = new List<SubscriptionMatch>();
        var recordId = facts.RecordId;
        var documentEvents = events.Where(e => e.Kind == DocumentEvent && e.DocumentId is not null && documents.ContainsKey(e.DocumentId)).ToList();
        var dispenseEvents = events.Where(e => e.Kind == DispenseEvent && e.DocumentId is not null && documents.ContainsKey(e.DocumentId)).ToList();
        if (documentEvents.Count == 0 && dispenseEvents.Count == 0)
        {
            return matches;
        }

        // Candidates only prune (the policy decides): those the record names — its treating physician,
        // grant holders, members of granted groups and establishments — and subscriptions filtered on it.
        var holders = facts.Grants.Select(g => g.HolderId).Append(facts.TreatingPhysicianId ?? string.Empty).Distinct().ToList();
        var candidates = new List<(string Id, string OwnerId, string Topic)>();
        if (documentEvents.Count > 0)
        {
            var subs = await db.Subscriptions.AsNoTracking()
                .Where(s => s.Status == "active" && s.Topic == SubscriptionTopics.NewDocument
                    && (s.RecordFilter == recordId
                        || (s.RecordFilter == null && (holders.Contains(s.OwnerId)
                            || db.CareGroupMembers.Any(m => m.ProfessionalId == s.OwnerId && holders.Contains(m.GroupId))
                            || db.Professionals.Any(p => p.Id == s.OwnerId && p.OrganizationId != null && holders.Contains(p.OrganizationId))))))
                .Select(s => new { s.Id, s.OwnerId }).ToListAsync(ct);
            candidates.AddRange(subs.Select(s => (s.Id, s.OwnerId, SubscriptionTopics.NewDocument)));
        }

        // A dispensing reaches the prescriber of the line it executes.
        var prescriberOf = new Dictionary<string, string>(StringComparer.Ordinal);
        if (dispenseEvents.Count > 0)
        {
            var dispenseIds = dispenseEvents.Select(e => e.SubjectId).ToList();
            var lines = await (from d in db.ClinicalEntries.AsNoTracking()
                               where d.RecordId == recordId && dispenseIds.Contains(d.Id)
                               join r in db.ClinicalEntries.AsNoTracking() on new { d.RecordId, Id = d.RequestId! } equals new { r.RecordId, r.Id }
                               select new { Dispense = d.Id, Prescriber = r.AuthorId }).ToListAsync(ct);
            foreach (var l in lines.Where(l => l.Prescriber is not null))
            {
                prescriberOf[l.Dispense] = l.Prescriber!;
            }

            var prescribers = prescriberOf.Values.Distinct().ToList();
            var subs = await db.Subscriptions.AsNoTracking()
                .Where(s => s.Status == "active" && s.Topic == SubscriptionTopics.PrescriptionExecuted && prescribers.Contains(s.OwnerId))
                .Select(s => new { s.Id, s.OwnerId }).ToListAsync(ct);
            candidates.AddRange(subs.Select(s => (s.Id, s.OwnerId, SubscriptionTopics.PrescriptionExecuted)));
        }

        if (candidates.Count == 0)
        {
            return matches;
        }

        var owners = candidates.Select(c => c.OwnerId).Distinct().ToList();
        var actors = (await db.Professionals.AsNoTracking().Where(p => owners.Contains(p.Id) && p.DeactivatedAt == null)
            .Select(p => new { p.Id, p.Given, p.Family, p.ProfessionCode, p.SpecialtyCode }).ToListAsync(ct))
            .ToDictionary(p => p.Id, p => new Actor(ActorKind.Professional, p.Id, $"{p.Given} {p.Family}", p.ProfessionCode, Specialty: p.SpecialtyCode), StringComparer.Ordinal);
        var completed = new Dictionary<string, AccessRequest>(StringComparer.Ordinal);
        foreach (var actor in actors.Values)
        {
            completed[actor.Id] = await guard.CompleteAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), ct);
        }

        bool MayRead(string owner, DocumentFacts document) =>
            completed.TryGetValue(owner, out var request) && AccessPolicy.Decide(request with { Action = AccessAction.ReadDocument, Document = document }).Permitted;

        foreach (var c in candidates.Where(c => c.Topic == SubscriptionTopics.NewDocument))
        {
            matches.AddRange(documentEvents
                .Where(e => MayRead(c.OwnerId, documents[e.DocumentId!]))
                .Select(e => new SubscriptionMatch(c.Id, c.OwnerId, c.Topic, "DocumentReference/" + e.DocumentId, e.Id)));
        }

        foreach (var c in candidates.Where(c => c.Topic == SubscriptionTopics.PrescriptionExecuted))
        {
            matches.AddRange(dispenseEvents
                .Where(e => prescriberOf.GetValueOrDefault(e.SubjectId) == c.OwnerId && MayRead(c.OwnerId, documents[e.DocumentId!]))
                .Select(e => new SubscriptionMatch(c.Id, c.OwnerId, c.Topic, "MedicationDispense/" + e.SubjectId, e.Id)));
        }

        return matches;
    }

    /// <summary>
    /// Under the lot's gates, in the dispatcher's transaction: reserves consecutive numbers for the
    /// matches of each subscription (one update and one read per subscription for the whole lot; the
    /// counter's row stays locked until the commit, so concurrent lots never share a number). Matches
    /// of a subscription ended meanwhile get none.
    /// </summary>
    public async Task<Dictionary<SubscriptionMatch, long>> NumberAsync(IEnumerable<SubscriptionMatch> matches, CancellationToken ct)
    {
        var numbers = new Dictionary<SubscriptionMatch, long>();
        foreach (var group in matches.Distinct().GroupBy(m => m.SubscriptionId, StringComparer.Ordinal))
        {
            var items = group.ToList();
            var n = items.Count;
            var updated = await db.Subscriptions.Where(s => s.Id == group.Key && s.Status == "active")
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.EventCount, s => s.EventCount + n), ct);
            if (updated == 0)
            {
                continue; // ended meanwhile
            }

            var number = await db.Subscriptions.Where(s => s.Id == group.Key).Select(s => s.EventCount).FirstAsync(ct) - n;
            foreach (var m in items)
            {
                numbers[m] = ++number;
            }
        }

        return numbers;
    }

    /// <summary>Writes one record's numbered subscription events and audits each in the record's chain. Returns how many were written.</summary>
    public async Task<int> AppendAsync(string recordId, IEnumerable<SubscriptionMatch> matches, IReadOnlyDictionary<SubscriptionMatch, long> numbers, DateTimeOffset now, CancellationToken ct)
    {
        var written = 0;
        foreach (var m in matches.Distinct())
        {
            if (!numbers.TryGetValue(m, out var number))
            {
                continue;
            }

            db.SubscriptionEvents.Add(new SubscriptionEvent { SubscriptionId = m.SubscriptionId, Number = number, Focus = m.Focus, RecordId = recordId, SourceId = m.SourceId, CreatedAt = now });
            await audit.AppendAsync(db, new AuditItem(recordId, Actor.Operator, AuditAction.Notify, "success", Channels.Alerts, "Subscription", m.SubscriptionId, Detail: $"{m.Topic} event {number} ({m.Focus}) to professional {m.OwnerId}"), ct);
            written++;
        }

        return written;
    }
}
