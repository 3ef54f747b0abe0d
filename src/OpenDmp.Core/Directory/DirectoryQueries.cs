using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory;

/// <summary>mCSD-style directory searches (Practitioner, Organization). Reference data, no patient data.</summary>
public sealed class DirectoryQueries(DmpDbContext db)
{
    public static readonly IReadOnlySet<string> PractitionerParams = new HashSet<string>(StringComparer.Ordinal) { "_id", "identifier", "family", "given", "name", "_count", "_offset", "_total" };
    public static readonly IReadOnlySet<string> OrganizationParams = new HashSet<string>(StringComparer.Ordinal) { "_id", "identifier", "name", "_count", "_offset", "_total" };

    public async Task<SearchPage> SearchPractitionersAsync(SearchParams sp, CancellationToken ct)
    {
        sp.RequireKnown(PractitionerParams);
        var (count, offset) = sp.Paging(50, 500);
        var q = db.Professionals.AsNoTracking().AsQueryable();
        if (sp.First("_id") is { } id)
        {
            q = q.Where(x => x.Id == id);
        }

        foreach (var v in sp.All("identifier"))
        {
            var (system, value) = SearchParams.Token(v);
            var rpps = Rpps.FromIdentifier(system ?? Rpps.IdNatPsSystem, value) ?? (system is null && value.Length == 11 ? value : null);
            q = rpps is not null ? q.Where(x => x.Rpps == rpps) : q.Where(x => x.IdentifierValue == value && (system == null || x.IdentifierSystem == system));
        }

        foreach (var v in sp.All("family"))
        {
            q = q.Where(x => x.Family.StartsWith(v));
        }

        foreach (var v in sp.All("given"))
        {
            q = q.Where(x => x.Given.StartsWith(v));
        }

        foreach (var v in sp.All("name"))
        {
            q = q.Where(x => x.Family.StartsWith(v) || x.Given.StartsWith(v));
        }

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderBy(x => x.Family).ThenBy(x => x.Id).Skip(offset).Take(count + 1).ToListAsync(ct);
        return new SearchPage(rows.Take(count).Select(p => new SearchHit("Practitioner", p.Id, FhirJson.Serialize(Mappers.ToFhir(p)))).ToList(), offset, count, rows.Count > count, total);
    }

    public async Task<string> ReadPractitionerAsync(string id, CancellationToken ct)
    {
        var p = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct) ?? throw DmpException.NotFound($"Practitioner/{id} does not exist");
        return FhirJson.Serialize(Mappers.ToFhir(p));
    }

    public async Task<SearchPage> SearchOrganizationsAsync(SearchParams sp, CancellationToken ct)
    {
        sp.RequireKnown(OrganizationParams);
        var (count, offset) = sp.Paging(50, 500);
        var q = db.Organizations.AsNoTracking().AsQueryable();
        if (sp.First("_id") is { } id)
        {
            q = q.Where(x => x.Id == id);
        }

        foreach (var v in sp.All("identifier"))
        {
            var (system, value) = SearchParams.Token(v);
            q = q.Where(x => x.Finess == value || (x.IdentifierValue == value && (system == null || x.IdentifierSystem == system)));
        }

        foreach (var v in sp.All("name"))
        {
            q = q.Where(x => x.Name.StartsWith(v));
        }

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderBy(x => x.Name).ThenBy(x => x.Id).Skip(offset).Take(count + 1).ToListAsync(ct);
        return new SearchPage(rows.Take(count).Select(o => new SearchHit("Organization", o.Id, FhirJson.Serialize(Mappers.ToFhir(o)))).ToList(), offset, count, rows.Count > count, total);
    }

    public async Task<string> ReadOrganizationAsync(string id, CancellationToken ct)
    {
        var o = await db.Organizations.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct) ?? throw DmpException.NotFound($"Organization/{id} does not exist");
        return FhirJson.Serialize(Mappers.ToFhir(o));
    }
}
