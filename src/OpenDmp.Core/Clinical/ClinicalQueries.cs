using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// Stays (Encounter), diagnoses (Condition), acts (Procedure), vaccinations (Immunization) and
/// reimbursed care (ExplanationOfBenefit) of a
/// record, through the access policy and the audit trail: an entry is seen exactly when the document
/// it was filed with is (ADR 0018).
/// </summary>
public sealed class ClinicalQueries(DmpDbContext db, RecordGuard guard, DocumentOptions options)
{
    /// <summary>The types served here.</summary>
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal) { "Encounter", "Condition", "Procedure", "Immunization", "ExplanationOfBenefit", "AllergyIntolerance" };

    public static readonly IReadOnlySet<string> SearchParamNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "patient", "subject", "patient.identifier", "code", "date", "encounter", "_count", "_offset", "_total",
    };

    /// <summary>The entries of a record whose document the decision admits (masking, visibility, the matrix, oppositions).</summary>
    public static IQueryable<ClinicalEntry> Visible(DmpDbContext db, string recordId, string? type, GuardedAccess decision)
    {
        var documents = db.Documents.AsNoTracking().Where(d => d.RecordId == recordId && !d.Erased).Where(decision.Scope.ToExpression()).Select(d => d.Id);
        var q = db.ClinicalEntries.AsNoTracking().Where(x => x.RecordId == recordId && documents.Contains(x.DocumentId));
        return type is null ? q : q.Where(x => x.ResourceType == type);
    }

    public async Task<SearchPage> SearchAsync(string type, SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(SearchParamNames);
        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        var recordId = await References.RecordOfPatientParamAsync(db, sp, ct);
        var facts = recordId is null ? null : await guard.FactsAsync(recordId, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Search, type, recordId ?? string.Empty, channel, ct);
            return new SearchPage([], offset, count, false, sp.First("_total") is "accurate" or "estimate" ? 0 : null);
        }

        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Search, type, null, channel, auditPermit: true, ct);
        var q = Visible(db, facts.RecordId, type, decision);
        foreach (var v in sp.All("code"))
        {
            var codes = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.Code != null && codes.Contains(x.Code));
        }

        foreach (var v in sp.All("date"))
        {
            q = SearchFilters.Date(q, "date", v, x => x.Date);
        }

        foreach (var v in sp.All("encounter"))
        {
            var stay = References.LogicalId(v, "Encounter") ?? v;
            q = q.Where(x => x.GroupId == stay);
        }

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderByDescending(x => x.Date).ThenBy(x => x.Id).Skip(offset).Take(count + 1).Select(x => new { x.Id, x.ResourceJson }).ToListAsync(ct);
        return new SearchPage(rows.Take(count).Select(r => new SearchHit(type, r.Id, r.ResourceJson)).ToList(), offset, count, rows.Count > count, total);
    }

    /// <summary>One entry: 404 when it does not exist, the policy's decision on its document otherwise (audited either way).</summary>
    public async Task<string> ReadAsync(string type, string id, Actor actor, string channel, CancellationToken ct) =>
        (await RequireAsync(db, guard, type, id, actor, channel, ct)).Entry.ResourceJson;

    /// <summary>An entry and the decision on its document (shared by the medication reads).</summary>
    public static async Task<(ClinicalEntry Entry, GuardedAccess Decision)> RequireAsync(DmpDbContext db, RecordGuard guard, string type, string id, Actor actor, string channel, CancellationToken ct)
    {
        var entry = await db.ClinicalEntries.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id && x.ResourceType == type, ct);
        var doc = entry is null ? null : await db.Documents.AsNoTracking().FirstOrDefaultAsync(d => d.RecordId == entry.RecordId && d.Id == entry.DocumentId, ct);
        var facts = await guard.FactsAsync(entry?.RecordId ?? id, ct);
        if (entry is null || doc is null || facts is null || doc.Erased)
        {
            await guard.AuditAsync(new AuditItem(entry?.RecordId, actor, AuditAction.Read, "not-found", channel, type, id), ct);
            throw DmpException.NotFound($"{type}/{id} does not exist");
        }

        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.ReadDocument, facts, DocumentResources.Facts(doc)), AuditAction.Read, type, id, channel, auditPermit: true, ct);
        return (entry, decision);
    }
}
