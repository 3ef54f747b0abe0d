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
    private static DocumentFacts BiologyResult => ResultIntake.BiologyResult;

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
        var series = new List<NumericSeries>();
        foreach (var g in rows.GroupBy(r => (r.CodeSystem, r.Code)))
        {
            // One curve per kind of unit, in the unit of its latest result: results from laboratories
            // whose units differ by a UCUM factor (g/L, mg/dL) are converted; others get their own curve.
            var curves = new List<(string? Unit, List<NumericPoint> Points)>();
            foreach (var r in g.OrderByDescending(r => r.Effective))
            {
                var value = r.ValueNumber!.Value;
                var curve = curves.FindIndex(c => c.Unit == r.Unit || (c.Unit is not null && r.Unit is not null && Ucum.TryConvert(1, r.Unit, c.Unit, out _)));
                if (curve < 0)
                {
                    curves.Add((r.Unit, [new NumericPoint(r.Effective!.Value, value)]));
                    continue;
                }

                var target = curves[curve].Unit;
                if (target is not null && r.Unit is not null && target != r.Unit && Ucum.TryConvert(value, r.Unit, target, out var converted))
                {
                    value = converted;
                }

                curves[curve].Points.Add(new NumericPoint(r.Effective!.Value, value));
            }

            var display = g.Select(r => r.CodeDisplay).FirstOrDefault(d => d is not null);
            series.AddRange(curves.Select(c => new NumericSeries(g.Key.CodeSystem, g.Key.Code, display, c.Unit, c.Points.OrderBy(p => p.When).ToList())));
        }

        return series.OrderByDescending(s => s.Points[^1].When).ToList();
    }

    /// <summary>The latest result of each test (the most recent tests first), under a search decision already taken and audited (the synthesis).</summary>
    public async Task<IReadOnlyList<ObservationEntry>> LatestAsync(string recordId, GuardedAccess decision, int tests, CancellationToken ct)
    {
        if (!decision.Admits(BiologyResult))
        {
            return [];
        }

        var rows = await Visible(recordId, decision).Select(x => new { x.Id, x.CodeSystem, x.Code, x.Effective }).ToListAsync(ct);
        var ids = rows.GroupBy(r => (r.CodeSystem, r.Code))
            .Select(g => g.OrderByDescending(r => r.Effective).ThenBy(r => r.Id, StringComparer.Ordinal).First())
            .OrderByDescending(r => r.Effective)
            .Take(tests)
            .Select(r => r.Id)
            .ToList();
        return await Visible(recordId, decision).Where(x => ids.Contains(x.Id)).OrderByDescending(x => x.Effective).ThenBy(x => x.Id).ToListAsync(ct);
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
