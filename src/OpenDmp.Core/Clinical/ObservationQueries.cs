using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Clinical;

/// <summary>Structured results of a record (Observation search), through the access policy and the audit trail.</summary>
public sealed class ObservationQueries(DmpDbContext db, RecordGuard guard, DocumentOptions options)
{
    public static readonly IReadOnlySet<string> SearchParamNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "patient", "subject", "code", "category", "date", "_count", "_offset", "_total",
    };

    /// <summary>How a structured result is seen by the policy: a biology report (class 10, LOINC 11502-2), never masked.</summary>
    private static readonly DocumentFacts BiologyResult = new("observation", null, null, "10", "11502-2");

    public async Task<SearchPage> SearchAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(SearchParamNames);
        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        var reference = sp.First("patient") ?? sp.First("subject") ?? throw new DmpException(ErrorKind.BadRequest, "a patient is required: patient=[id]");
        var recordId = References.LogicalId(reference, "Patient") ?? reference;
        var facts = await guard.FactsAsync(recordId, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Search, "Observation", recordId, channel, ct);
            return new SearchPage([], offset, count, false, null);
        }

        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Search, "Observation", null, channel, auditPermit: true, ct);

        if (!decision.Admits(BiologyResult))
        {
            // Structured results count as biology reports in the profession × document-type matrix.
            return new SearchPage([], offset, count, false, sp.First("_total") is "accurate" or "estimate" ? 0 : null);
        }

        var q = Visible(recordId, decision);
        foreach (var v in sp.All("code"))
        {
            var codes = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => codes.Contains(x.Code));
        }

        foreach (var v in sp.All("category"))
        {
            var codes = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.Category != null && codes.Contains(x.Category));
        }

        foreach (var v in sp.All("date"))
        {
            q = SearchFilters.Date(q, "date", v, x => x.Effective);
        }

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderByDescending(x => x.Effective).ThenBy(x => x.Id).Skip(offset).Take(count + 1).Select(x => new { x.Id, x.ResourceJson }).ToListAsync(ct);
        return new SearchPage(rows.Take(count).Select(r => new SearchHit("Observation", r.Id, r.ResourceJson)).ToList(), offset, count, rows.Count > count, total);
    }

    /// <summary>
    /// The numeric results of a record grouped by code (for curves), under the same decision as a
    /// search: the access is audited, and professions without biology in their matrix get none.
    /// </summary>
    public async Task<IReadOnlyList<NumericSeries>> NumericSeriesAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Search, "Observation", channel, ct);
        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Search, "Observation", null, channel, auditPermit: true, ct);
        if (!decision.Admits(BiologyResult))
        {
            return [];
        }

        var rows = await Visible(recordId, decision)
            .Where(x => x.ValueNumber != null && x.Effective != null)
            .Select(x => new { x.CodeSystem, x.Code, x.CodeDisplay, x.Unit, x.ValueNumber, x.Effective })
            .ToListAsync(ct);
        return rows.GroupBy(r => (r.CodeSystem, r.Code))
            .Select(g => new NumericSeries(g.Key.CodeSystem, g.Key.Code, g.Select(r => r.CodeDisplay).FirstOrDefault(d => d is not null), g.Select(r => r.Unit).FirstOrDefault(u => u is not null),
                g.Select(r => new NumericPoint(r.Effective!.Value, r.ValueNumber!.Value)).OrderBy(p => p.When).ToList()))
            .OrderByDescending(s => s.Points[^1].When)
            .ToList();
    }

    /// <summary>
    /// The results this decision lets the actor see: results read from a document only when the
    /// actor may see that document (same scope as ITI-67: masking, invisibility, the profession
    /// matrix; an erased or deleted document takes its results with it).
    /// </summary>
    private IQueryable<ObservationEntry> Visible(string recordId, GuardedAccess decision)
    {
        var documents = db.Documents.AsNoTracking().Where(d => d.RecordId == recordId && !d.Erased).Where(decision.Scope.ToExpression()).Select(d => d.Id);
        return db.Observations.AsNoTracking().Where(x => x.RecordId == recordId && (x.DocumentId == null || documents.Contains(x.DocumentId)));
    }
}

/// <summary>One numeric result.</summary>
public sealed record NumericPoint(DateTimeOffset When, double Value);

/// <summary>The numeric results of one code (LOINC or other) in time order.</summary>
public sealed record NumericSeries(string? System, string Code, string? Display, string? Unit, IReadOnlyList<NumericPoint> Points);
