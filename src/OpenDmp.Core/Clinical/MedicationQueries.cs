using System.Security.Cryptography;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// Prescription lines, dispensings and the medication list of a record, through the access policy
/// and the audit trail: an entry is seen exactly when the document it was filed with is (ADR 0018).
/// </summary>
public sealed class MedicationQueries(DmpDbContext db, RecordGuard guard, DocumentOptions options)
{
    public static readonly IReadOnlySet<string> RequestParams = new HashSet<string>(StringComparer.Ordinal)
    {
        "patient", "subject", "patient.identifier", "group-identifier", "code", "authoredon", "_count", "_offset", "_total",
    };

    public static readonly IReadOnlySet<string> DispenseParams = new HashSet<string>(StringComparer.Ordinal)
    {
        "patient", "subject", "patient.identifier", "prescription", "code", "whenhandedover", "_count", "_offset", "_total",
    };

    public static readonly IReadOnlySet<string> StatementParams = new HashSet<string>(StringComparer.Ordinal) { "patient", "subject", "patient.identifier" };

    /// <summary>
    /// Prescription lines of one patient. A prescription identifier (group-identifier, from the QR
    /// code) narrows the search but never replaces the patient: it is not an access key.
    /// </summary>
    public async Task<SearchPage> SearchRequestsAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(RequestParams);
        if (!sp.Has("patient") && !sp.Has("subject") && !sp.Has("patient.identifier"))
        {
            throw new DmpException(ErrorKind.BadRequest, sp.Has("group-identifier")
                ? "a prescription identifier is not an access key: name the patient too (patient.identifier=[system]|[INS] as read from the patient's card, or patient=[id]); your access to the record follows the usual rules"
                : "a patient is required: patient=[id] or patient.identifier=[system]|[INS]");
        }

        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        if (await DecideAsync(sp, actor, "MedicationRequest", channel, ct) is not { } decided)
        {
            return Empty(sp, offset, count);
        }

        var (recordId, decision) = decided;

        var q = Visible(recordId, "MedicationRequest", decision);
        foreach (var v in sp.All("group-identifier"))
        {
            var value = SearchParams.Token(v).Code;
            q = q.Where(x => x.GroupId == value);
        }

        q = Filter(q, sp, "authoredon");
        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderByDescending(x => x.Date).ThenBy(x => x.Id).Skip(offset).Take(count + 1).ToListAsync(ct);
        var hits = await AnnotateAsync(rows.Take(count).ToList(), recordId, decision, actor, ct);
        return new SearchPage(hits, offset, count, rows.Count > count, total);
    }

    /// <summary>One prescription line, with its execution when the reader may see the dispensing.</summary>
    public async Task<string> ReadRequestAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var (entry, decision) = await RequireEntryAsync(id, "MedicationRequest", actor, channel, ct);
        return (await AnnotateAsync([entry], entry.RecordId, decision, actor, ct))[0].Json;
    }

    /// <summary>The prescription identifier of a line, for the QR code printed on the paper copy (a read of the line, audited).</summary>
    public async Task<string> PrescriptionIdentifierAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var (entry, _) = await RequireEntryAsync(id, "MedicationRequest", actor, channel, ct);
        return entry.GroupId ?? throw DmpException.NotFound($"MedicationRequest/{id} has no prescription identifier");
    }

    /// <summary>Dispensings of one patient, optionally of one prescription line (prescription=MedicationRequest/[id]).</summary>
    public async Task<SearchPage> SearchDispensesAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(DispenseParams);
        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        if (await DecideAsync(sp, actor, "MedicationDispense", channel, ct) is not { } decided)
        {
            return Empty(sp, offset, count);
        }

        var (recordId, decision) = decided;

        var q = Visible(recordId, "MedicationDispense", decision);
        foreach (var v in sp.All("prescription"))
        {
            var requestId = References.LogicalId(v, "MedicationRequest") ?? v;
            q = q.Where(x => x.RequestId == requestId);
        }

        q = Filter(q, sp, "whenhandedover");
        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderByDescending(x => x.Date).ThenBy(x => x.Id).Skip(offset).Take(count + 1).Select(x => new { x.Id, x.ResourceJson }).ToListAsync(ct);
        return new SearchPage(rows.Take(count).Select(r => new SearchHit("MedicationDispense", r.Id, r.ResourceJson)).ToList(), offset, count, rows.Count > count, total);
    }

    /// <summary>A treatment listed by a letter (a source of the medication list).</summary>
    public async Task<string> ReadStatementAsync(string id, Actor actor, string channel, CancellationToken ct) =>
        (await RequireEntryAsync(id, "MedicationStatement", actor, channel, ct)).Entry.ResourceJson;

    public async Task<string> ReadDispenseAsync(string id, Actor actor, string channel, CancellationToken ct) =>
        (await RequireEntryAsync(id, "MedicationDispense", actor, channel, ct)).Entry.ResourceJson;

    /// <summary>
    /// The patient's medications, each shown once with its sources (ADR 0018): prescription lines and
    /// the dispensings that execute them are one medication; lines of the same medication (ANSM
    /// substance code first) from several prescriptions, and pharmacy reimbursements of that
    /// medication, are one medication with several sources.
    /// </summary>
    public async Task<SearchPage> MedicationListAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(StatementParams);
        if (await DecideAsync(sp, actor, "MedicationStatement", channel, ct) is not { } decided)
        {
            return new SearchPage([], 0, 0, false, null);
        }

        var (recordId, decision) = decided;

        var items = await MedicationsAsync(recordId, decision, ct);
        var now = guard.Now;
        var hits = items.Select(m => new SearchHit("MedicationStatement", m.Id, FhirJson.Serialize(m.ToStatement(recordId, now)))).ToList();
        return new SearchPage(hits, 0, hits.Count, false, hits.Count);
    }

    /// <summary>The medication list under a decision already taken (the synthesis).</summary>
    public async Task<IReadOnlyList<MedicationItem>> MedicationsAsync(string recordId, GuardedAccess decision, CancellationToken ct)
    {
        var rows = await Visible(recordId, null, decision)
            .Where(x => x.ResourceType == "MedicationRequest" || x.ResourceType == "MedicationDispense" || x.ResourceType == "MedicationStatement" || (x.ResourceType == "ExplanationOfBenefit" && x.GroupId == "pharmacy" && x.Code != null))
            .Select(x => new { x.Id, x.ResourceType, x.CodeSystem, x.Code, x.CodeDisplay, x.Date, x.RequestId, x.ValidUntil, x.Quantity, x.Repeats })
            .ToListAsync(ct);
        var lineKey = rows.Where(r => r.ResourceType == "MedicationRequest").ToDictionary(r => r.Id, r => $"{r.CodeSystem}|{r.Code}", StringComparer.Ordinal);
        var now = guard.Now;
        return rows
            .GroupBy(r => r.RequestId is { } rid && lineKey.TryGetValue(rid, out var k) ? k : $"{r.CodeSystem}|{r.Code}", StringComparer.Ordinal)
            .Select(g =>
            {
                var first = g.OrderBy(r => r.ResourceType == "MedicationRequest" ? 0 : 1).ThenByDescending(r => r.Date).First();
                var lines = g.Where(r => r.ResourceType == "MedicationRequest").ToList();
                var active = lines.Any(l => l.ValidUntil is { } until && until >= now);
                var sources = g.OrderBy(r => r.Date).Select(r => new MedicationSource(r.ResourceType, r.Id, r.Date)).ToList();
                return new MedicationItem(
                    StableId(g.Key), first.CodeSystem, first.Code, first.CodeDisplay, active,
                    g.Min(r => r.Date), g.Max(r => r.Date), sources);
            })
            .OrderByDescending(m => m.Active).ThenByDescending(m => m.Last)
            .ToList();
    }

    private static string StableId(string key) =>
        "med-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24];

    private static SearchPage Empty(SearchParams sp, int offset, int count) =>
        new([], offset, count, false, sp.First("_total") is "accurate" or "estimate" ? 0 : null);

    private static IQueryable<ClinicalEntry> Filter(IQueryable<ClinicalEntry> q, SearchParams sp, string dateParam)
    {
        foreach (var v in sp.All("code"))
        {
            var codes = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.Code != null && codes.Contains(x.Code));
        }

        foreach (var v in sp.All(dateParam))
        {
            q = SearchFilters.Date(q, dateParam, v, x => x.Date);
        }

        return q;
    }

    /// <summary>The record named by the search and the audited decision on it; null when there is no such record (audited too).</summary>
    private async Task<(string RecordId, GuardedAccess Decision)?> DecideAsync(SearchParams sp, Actor actor, string type, string channel, CancellationToken ct)
    {
        var recordId = await References.RecordOfPatientParamAsync(db, sp, ct);
        var facts = recordId is null ? null : await guard.FactsAsync(recordId, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Search, type, recordId ?? string.Empty, channel, ct);
            return null;
        }

        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Search, type, null, channel, auditPermit: true, ct);
        return (facts.RecordId, decision);
    }

    private Task<(ClinicalEntry Entry, GuardedAccess Decision)> RequireEntryAsync(string id, string type, Actor actor, string channel, CancellationToken ct) =>
        ClinicalQueries.RequireAsync(db, guard, type, id, actor, channel, ct);

    private IQueryable<ClinicalEntry> Visible(string recordId, string? type, GuardedAccess decision) => ClinicalQueries.Visible(db, recordId, type, decision);

    /// <summary>
    /// Prescription lines with their execution, computed from the dispensings this reader may see —
    /// and only when the reader may see dispensing at all: no execution is shown to a profession
    /// whose matrix excludes dispensing, nor to the prescriber when the patient opposes it (an
    /// "unexecuted" answer would be false, the absence is not).
    /// </summary>
    private async Task<List<SearchHit>> AnnotateAsync(List<ClinicalEntry> lines, string recordId, GuardedAccess decision, Actor actor, CancellationToken ct)
    {
        if (lines.Count == 0)
        {
            return [];
        }

        var groups = lines.Select(l => l.GroupId).Where(g => g is not null).Distinct().ToList();
        var allLines = await Visible(recordId, "MedicationRequest", decision).Where(x => groups.Contains(x.GroupId)).ToListAsync(ct);
        var lineIds = allLines.Select(l => l.Id).Concat(lines.Select(l => l.Id)).Distinct().ToList();
        var dispensed = (await Visible(recordId, "MedicationDispense", decision).Where(x => lineIds.Contains(x.RequestId!))
                .Select(x => new { x.RequestId, x.Quantity, x.Date }).ToListAsync(ct))
            .GroupBy(x => x.RequestId!)
            .ToDictionary(g => g.Key, g => (Sum: g.Sum(x => x.Quantity ?? 0), Last: g.Max(x => x.Date)), StringComparer.Ordinal);

        Execution? ExecutionOf(ClinicalEntry line)
        {
            var seesDispensing = decision.Scope.Admits(new DocumentFacts("dispensing", null, null, "43", "60593-1", PrescriberId: line.AuthorId));
            if (!seesDispensing)
            {
                return null;
            }

            var d = dispensed.GetValueOrDefault(line.Id);
            return Prescriptions.ExecutionOf(line, d.Sum, d.Last);
        }

        var hits = new List<SearchHit>(lines.Count);
        foreach (var line in lines)
        {
            var execution = ExecutionOf(line);
            var state = execution is null ? null : Prescriptions.PrescriptionState(allLines.Where(l => l.GroupId == line.GroupId).Select(l => ExecutionOf(l)!).Where(e => e is not null));
            var resource = Prescriptions.Annotate(FhirJson.Parse<MedicationRequest>(line.ResourceJson), execution, state);
            hits.Add(new SearchHit("MedicationRequest", line.Id, FhirJson.Serialize(resource)));
        }

        return hits;
    }
}

/// <summary>One source of a medication: a prescription line or a dispensing.</summary>
public sealed record MedicationSource(string ResourceType, string Id, DateTimeOffset? Date);

/// <summary>One medication of the patient, once, with its sources.</summary>
public sealed record MedicationItem(string Id, string? System, string? Code, string? Display, bool Active, DateTimeOffset? First, DateTimeOffset? Last, IReadOnlyList<MedicationSource> Sources)
{
    /// <summary>Where the medication is known from: prescription, dispensing, discharge-letter, reimbursement.</summary>
    public IEnumerable<string> SourceKinds => Sources.Select(s => s.ResourceType switch
    {
        "MedicationRequest" => "prescription",
        "MedicationDispense" => "dispensing",
        "MedicationStatement" => "discharge-letter",
        _ => "reimbursement",
    }).Distinct();

    public MedicationStatement ToStatement(string recordId, DateTimeOffset now)
    {
        var s = new MedicationStatement
        {
            Id = Id,
            Status = Active ? MedicationStatement.MedicationStatusCodes.Active : MedicationStatement.MedicationStatusCodes.Completed,
            Medication = new CodeableConcept(System, Code, Display, Display),
            Subject = new ResourceReference("Patient/" + recordId),
            Effective = new Period { Start = First?.ToString("o"), End = Last?.ToString("o") },
            DateAsserted = now.ToString("o"),
            DerivedFrom = Sources.Select(x => new ResourceReference($"{x.ResourceType}/{x.Id}")).ToList(),
        };
        foreach (var kind in SourceKinds)
        {
            s.Extension.Add(new Extension("urn:opendmp:extension:medication-source", new Code(kind)));
        }

        return s;
    }
}
