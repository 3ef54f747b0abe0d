using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Audit;

/// <summary>
/// The audit trail of a record as FHIR AuditEvent resources (IHE BALP shape): who (agent), what
/// (entity: the record's patient and the object), the RESTful interaction, outcome, mode and channel.
/// Read through the access policy; the reading itself is audited.
/// </summary>
public sealed class AuditQueries(DmpDbContext db, RecordGuard guard, DocumentOptions options, IAuditLabels labels)
{
    public static readonly IReadOnlySet<string> SearchParamNames = new HashSet<string>(StringComparer.Ordinal) { "patient", "_count", "_offset", "_total" };

    private const string DcmSystem = "http://dicom.nema.org/resources/ontology/DCM";
    private const string RestfulSystem = "http://hl7.org/fhir/restful-interaction";

    /// <summary>OpenDMP's own action code (AuditAction), next to the RESTful interaction.</summary>
    public const string ActionSystem = "urn:opendmp:audit-action";

    public async Task<SearchPage> SearchAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(SearchParamNames);
        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        var reference = sp.First("patient") ?? throw new DmpException(ErrorKind.BadRequest, "a patient is required: patient=[id]");
        var recordId = References.LogicalId(reference, "Patient") ?? reference;
        var facts = await guard.FactsAsync(recordId, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Search, "AuditEvent", recordId, channel, ct);
            return new SearchPage([], offset, count, false, null);
        }

        var (q, several) = await VisibleAsync(facts, actor, channel, ct);
        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await Newest(q, several).Skip(offset).Take(count + 1).ToListAsync(ct);
        var page = rows.Take(count).ToList();
        var ids = page.Where(e => e.ActorKind == "Professional").Select(e => e.ActorId)
            .Concat(page.Where(e => e.OnBehalfOf is not null).Select(e => e.OnBehalfOf!)).Distinct().ToList();
        var professionals = (await db.Professionals.AsNoTracking().Where(p => ids.Contains(p.Id)).ToListAsync(ct))
            .ToDictionary(p => p.Id, p => new AuditProfessional(p.Id, p.Rpps, p.IdentifierSystem, p.IdentifierValue, p.DisplayName), StringComparer.Ordinal);
        var staffIds = page.Where(e => e.ActorKind == "Staff").Select(e => e.ActorId).Distinct().ToList();
        foreach (var m in await db.StaffMembers.AsNoTracking().Where(m => staffIds.Contains(m.Id)).ToListAsync(ct))
        {
            professionals[m.Id] = new AuditProfessional(m.Id, null, StaffIdentifierSystem, m.Identifier, m.DisplayName);
        }
        var hits = page.Select(e => new SearchHit("AuditEvent", $"{e.RecordId}.{e.Seq}", FhirJson.Serialize(ToFhir(e, professionals, labels)))).ToList();
        return new SearchPage(hits, offset, count, rows.Count > count, total);
    }

    /// <summary>The latest entries of a record's trail that this actor may see (portal view), newest first; the reading is audited.</summary>
    public async Task<IReadOnlyList<AuditEntry>> LatestAsync(string recordId, Actor actor, string channel, int count, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Search, "AuditEvent", channel, ct);
        var (q, several) = await VisibleAsync(facts, actor, channel, ct);
        return await Newest(q, several).Take(count).ToListAsync(ct);
    }

    /// <summary>When this person (patient or representative) signed in before the current session, from the record's trail (for "new since your last visit").</summary>
    public async Task<DateTimeOffset?> PreviousSignInAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = actor.OwnRecordId ?? throw new DmpException(ErrorKind.Forbidden, "only the patient or a legal representative has sign-ins");
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Search, "AuditEvent", channel, ct);
        var (q, several) = await VisibleAsync(facts, actor, channel, ct);
        var login = AuditAction.Login.Code();
        return await Newest(q.Where(e => e.ActorId == actor.Id && e.Action == login && e.Outcome == AuditOutcomes.Success), several).Skip(1).Select(e => (DateTimeOffset?)e.Time).FirstOrDefaultAsync(ct);
    }

    /// <summary>Newest first: by sequence on one chain; by time across the chains of merged identities.</summary>
    private static IOrderedQueryable<AuditEntry> Newest(IQueryable<AuditEntry> q, bool severalChains) =>
        severalChains ? q.OrderByDescending(e => e.Time).ThenByDescending(e => e.Seq) : q.OrderByDescending(e => e.Seq);

    /// <summary>
    /// Decides ReadAudit (audited) and returns the entries this actor may see: the record's chain and
    /// those of the identities merged into it (their accesses are the patient's too).
    /// </summary>
    private async Task<(IQueryable<AuditEntry> Query, bool SeveralChains)> VisibleAsync(RecordFacts facts, Actor actor, string channel, CancellationToken ct)
    {
        var recordId = facts.RecordId;
        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.ReadAudit, facts), AuditAction.Search, "AuditEvent", null, channel, auditPermit: true, ct);
        var chains = await Identity.IdentityMerges.ChainsAsync(db, recordId, ct);

        IQueryable<AuditEntry> q = chains.Count == 1 ? db.AuditEntries.AsNoTracking().Where(e => e.RecordId == recordId) : db.AuditEntries.AsNoTracking().Where(e => chains.Contains(e.RecordId));
        if (actor.ActsForPatient)
        {
            // The patient sees every access, except those about documents not yet released to them
            // (invisible until the announcement consultation, drafts): they appear once released.
            // A legal representative additionally never sees accesses to documents kept from them.
            // Nothing about such a document may show: its own entries, the entry of the submission set
            // that filed it (it names the author and the time), and the supersession of the document
            // it replaced.
            var representative = actor.Kind == ActorKind.Representative;
            var hiddenDocs = db.Documents.Where(d => d.RecordId == recordId && (d.HiddenFromPatient || d.Draft || (representative && d.HiddenFromRepresentatives)));
            var hidden = hiddenDocs.Select(d => d.Id);
            var hiddenSets = hiddenDocs.Where(d => d.SubmissionSetId != null).Select(d => d.SubmissionSetId!);
            var replacedByHidden = db.DocumentLinks.Where(l => l.RecordId == recordId && l.Kind == "replaces" && hidden.Contains(l.DocumentId)).Select(l => l.Target);
            q = q.Where(e => e.ObjectId == null
                || (!hidden.Contains(e.ObjectId)
                    && !(e.ObjectType == "List" && hiddenSets.Contains(e.ObjectId))
                    && !(e.Action == "replace" && replacedByHidden.Contains(e.ObjectId))));
        }
        else if (decision.Mode != "treating-physician" && decision.Mode != "operator")
        {
            // Other professionals see only their own accesses.
            q = q.Where(e => e.ActorId == actor.Id);
        }

        return (q, chains.Count > 1);
    }

    /// <summary>What the patient (or a representative) may not learn about: documents kept from them, the submission sets that filed them, the documents they replaced.</summary>
    public sealed record HiddenObjects(IReadOnlySet<string> Documents, IReadOnlySet<string> SubmissionSets, IReadOnlySet<string> Replaced)
    {
        /// <summary>The same rule as the patient's AuditEvent view (VisibleAsync), on one entry.</summary>
        public bool Hides(AuditEntry e) => e.ObjectId is { } id
            && (Documents.Contains(id) || (e.ObjectType == "List" && SubmissionSets.Contains(id)) || (e.Action == "replace" && Replaced.Contains(id)));
    }

    public static async Task<HiddenObjects> HiddenObjectsAsync(DmpDbContext db, string recordId, bool representative, CancellationToken ct)
    {
        var docs = await db.Documents.AsNoTracking().Where(d => d.RecordId == recordId && (d.HiddenFromPatient || d.Draft || (representative && d.HiddenFromRepresentatives)))
            .Select(d => new { d.Id, d.SubmissionSetId }).ToListAsync(ct);
        var ids = docs.Select(d => d.Id).ToHashSet(StringComparer.Ordinal);
        var replaced = await db.DocumentLinks.AsNoTracking().Where(l => l.RecordId == recordId && l.Kind == "replaces" && ids.Contains(l.DocumentId)).Select(l => l.Target).ToListAsync(ct);
        return new HiddenObjects(ids, docs.Where(d => d.SubmissionSetId is not null).Select(d => d.SubmissionSetId!).ToHashSet(StringComparer.Ordinal), replaced.ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>Who a professional agent is, for IHE BALP: national identifier (IdNatPs) and name.</summary>
    public sealed record AuditProfessional(string Id, string? Rpps, string? IdentifierSystem, string? IdentifierValue, string DisplayName);

    private const string ParticipationSystem = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

    /// <summary>The identifier system of staff cards in AuditEvents.</summary>
    public const string StaffIdentifierSystem = "urn:opendmp:staff-card";

    /// <summary>HL7 v3 ActReason, the purposeOfEvent of emergency accesses.</summary>
    private const string ActReasonSystem = "http://terminology.hl7.org/CodeSystem/v3-ActReason";

    public static AuditEvent ToFhir(AuditEntry e) => ToFhir(e, new Dictionary<string, AuditProfessional>(StringComparer.Ordinal), new NoAuditLabels());

    /// <summary>
    /// An entry as an IHE BALP AuditEvent: the professional agent named by their national identifier
    /// (IdNatPs = 8 + RPPS) and name, emergency accesses with their purposeOfEvent (BTG, ETREAT),
    /// the action and mode with the French labels patients read in the portal.
    /// </summary>
    public static AuditEvent ToFhir(AuditEntry e, IReadOnlyDictionary<string, AuditProfessional> professionals, IAuditLabels labels)
    {
        // The closed set of actions maps each value to its meaning; an unknown stored code (a trail
        // written by a later version) is shown as an operation rather than guessed.
        var (interaction, action) = AuditActions.Parse(e.Action) is { } known
            ? (known.Interaction().Interaction, known.Interaction().Code)
            : ("operation", AuditEvent.AuditEventAction.E);
        var ae = new AuditEvent
        {
            Id = $"{e.RecordId}.{e.Seq}",
            Type = new Coding(DcmSystem, "110110", "Patient Record"),
            Subtype = [new Coding(RestfulSystem, interaction), new Coding(ActionSystem, AuditActions.Parse(e.Action)?.Code() ?? e.Action, labels.Action(AuditActions.Parse(e.Action)?.Code() ?? e.Action))],
            Action = action,
            Recorded = e.Time,
            Outcome = e.Outcome == "success" ? AuditEvent.AuditEventOutcome.N0 : AuditEvent.AuditEventOutcome.N4,
            OutcomeDesc = e.Outcome == "success" ? null : e.Outcome,
            Source = new AuditEvent.SourceComponent { Site = "OpenDMP", Observer = new ResourceReference { Display = "OpenDMP" } },
        };
        var who = e.ActorKind switch
        {
            "Professional" when professionals.TryGetValue(e.ActorId, out var p) => new ResourceReference("Practitioner/" + e.ActorId)
            {
                Identifier = p.Rpps is { } rpps ? new Identifier(Rpps.IdNatPsSystem, Rpps.ToIdNatPs(rpps)) : p.IdentifierValue is { } v ? new Identifier(p.IdentifierSystem, v) : null,
                Display = p.DisplayName,
            },
            "Professional" => new ResourceReference("Practitioner/" + e.ActorId),
            "Patient" => new ResourceReference("Patient/" + e.ActorId),
            "Representative" => new ResourceReference("RelatedPerson/" + e.ActorId) { Display = "représentant légal / legal representative" },
            "Device" => new ResourceReference("Device/" + e.ActorId) { Display = "patient's device" },
            "Staff" when professionals.TryGetValue(e.ActorId, out var m) => new ResourceReference { Identifier = new Identifier(m.IdentifierSystem, m.IdentifierValue), Display = m.DisplayName },
            "Organization" => new ResourceReference("Organization/" + e.ActorId),
            _ => new ResourceReference { Display = e.ActorId },
        };
        var agent = new AuditEvent.AgentComponent { Who = who, Requestor = true, Type = new CodeableConcept(ParticipationSystem, e.ActorKind == "System" ? "CST" : "IRCP") };
        ae.Agent.Add(agent);
        if (e.ViaStructure is { } structure)
        {
            // The professional acted through an establishment's system (organisation certificate and VIHF).
            ae.Agent.Add(new AuditEvent.AgentComponent
            {
                Who = new ResourceReference("Organization/" + structure),
                Requestor = false,
                Type = new CodeableConcept("http://dicom.nema.org/resources/ontology/DCM", "110150", "Application"),
            });
        }

        if (e.OnBehalfOf is { } responsible)
        {
            // A staff member acted for a professional: both are named, the professional as the responsible party.
            var p = professionals.GetValueOrDefault(responsible);
            ae.Agent.Add(new AuditEvent.AgentComponent
            {
                Who = new ResourceReference("Practitioner/" + responsible) { Identifier = p?.Rpps is { } rpps ? new Identifier(Rpps.IdNatPsSystem, Rpps.ToIdNatPs(rpps)) : null, Display = p?.DisplayName },
                Requestor = false,
                Type = new CodeableConcept(ParticipationSystem, "RESP", "responsible party"),
            });
        }
        if (e.Mode is "break-glass" or "centre-15")
        {
            var purpose = new CodeableConcept(ActReasonSystem, "ETREAT", "emergency treatment") { Text = labels.Mode(e.Mode) };
            if (e.Mode == "break-glass")
            {
                purpose.Coding.Add(new Coding(ActReasonSystem, "BTG", "break the glass"));
            }

            ae.PurposeOfEvent.Add(purpose);
            agent.PurposeOfUse.Add(purpose);
        }
        var patientEntity = new AuditEvent.EntityComponent { What = new ResourceReference("Patient/" + e.RecordId), Role = new Coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient") };
        if (e.RecordId != AuditTrail.SystemChain)
        {
            ae.Entity.Add(patientEntity);
        }

        if (e.ObjectType is not null)
        {
            var obj = new AuditEvent.EntityComponent { What = e.ObjectId is null ? new ResourceReference { Display = e.ObjectType } : new ResourceReference($"{e.ObjectType}/{e.ObjectId}") };
            obj.Detail.Add(new AuditEvent.DetailComponent { Type = "channel", Value = new FhirString(e.Channel) });
            if (e.Mode is not null)
            {
                obj.Detail.Add(new AuditEvent.DetailComponent { Type = "mode", Value = new FhirString(e.Mode) });
                if (labels.Mode(e.Mode) is { } modeLabel)
                {
                    obj.Detail.Add(new AuditEvent.DetailComponent { Type = "mode-label", Value = new FhirString(modeLabel) });
                }
            }

            ae.Entity.Add(obj);
        }

        return ae;
    }
}
