using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory;

/// <summary>One current member of a group practice.</summary>
public sealed record GroupMember(string Id, string Name, string? Rpps, string? ProfessionCode);

/// <summary>
/// A group practice and its current members (active in the directory), with the version of that
/// list: a declaration of access for the group names the version the patient was shown.
/// </summary>
public sealed record GroupMembers(string Id, string Name, string Kind, IReadOnlyList<GroupMember> Members, string Version);

/// <summary>mCSD-style directory searches (Practitioner, Organization). Reference data, no patient data.</summary>
public sealed class DirectoryQueries(DmpDbContext db, DirectorySearch search)
{
    public static readonly IReadOnlySet<string> PractitionerParams = new HashSet<string>(StringComparer.Ordinal) { "_id", "identifier", "family", "given", "name", "active", "_count", "_offset", "_total" };
    public static readonly IReadOnlySet<string> OrganizationParams = new HashSet<string>(StringComparer.Ordinal) { "_id", "identifier", "name", "type", "active", "address-postalcode", "address-city", "_count", "_offset", "_total" };
    public static readonly IReadOnlySet<string> PractitionerRoleParams = new HashSet<string>(StringComparer.Ordinal)
    {
        "_id", "practitioner", "specialty", "role", "practitioner.name", "location.near", "location.address-postalcode", "location.address-city", "_count", "_offset", "_total",
    };
    public static readonly IReadOnlySet<string> LocationParams = new HashSet<string>(StringComparer.Ordinal) { "_id", "near", "name", "type", "address-postalcode", "address-city", "_count", "_offset", "_total" };

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

        // FHIR string search: the beginning, case and accents ignored (the search keys).
        foreach (var v in sp.All("family"))
        {
            var key = SearchKeys.Prefix(v);
            q = q.Where(x => x.SearchName.StartsWith(key));
        }

        foreach (var v in sp.All("given"))
        {
            var key = SearchKeys.Prefix(v);
            q = q.Where(x => x.SearchName.Contains(key));
        }

        foreach (var v in sp.All("name"))
        {
            var key = SearchKeys.Prefix(v);
            q = q.Where(x => x.SearchName.Contains(key));
        }

        if (sp.First("active") is { } active)
        {
            q = Bool("active", active) ? q.Where(x => x.DeactivatedAt == null) : q.Where(x => x.DeactivatedAt != null);
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
            var key = SearchKeys.Prefix(v);
            q = q.Where(x => x.SearchName.Contains(key));
        }

        foreach (var v in sp.All("type"))
        {
            var (_, code) = SearchParams.Token(v);
            q = q.Where(x => x.TypeCode == code);
        }

        foreach (var v in sp.All("address-postalcode"))
        {
            q = q.Where(x => x.PostalCode == v);
        }

        foreach (var v in sp.All("address-city"))
        {
            var city = SearchKeys.Prefix(v);
            q = q.Where(x => x.SearchCity.StartsWith(city));
        }

        if (sp.First("active") is { } active)
        {
            q = Bool("active", active) ? q.Where(x => x.DeactivatedAt == null) : q.Where(x => x.DeactivatedAt != null);
        }

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderBy(x => x.Name).ThenBy(x => x.Id).Skip(offset).Take(count + 1).ToListAsync(ct);
        return new SearchPage(rows.Take(count).Select(o => new SearchHit("Organization", o.Id, FhirJson.Serialize(McsdMappers.ToOrganization(o)))).ToList(), offset, count, rows.Count > count, total);
    }

    /// <summary>mCSD PractitionerRole search: a professional's activities, by specialty, profession, postal code, city, or around a place (<c>location.near</c>, nearest first).</summary>
    public async Task<SearchPage> SearchPractitionerRolesAsync(SearchParams sp, CancellationToken ct)
    {
        sp.RequireKnown(PractitionerRoleParams);
        var (count, offset) = sp.Paging(50, 200);
        GeoPoint? centre = null;
        double? km = null;
        if (sp.First("location.near") is { } near)
        {
            (var c, var d) = DirectorySearch.ParseNear(near);
            (centre, km) = (c, d);
        }

        var criteria = new DirectoryCriteria(
            Name: sp.First("practitioner.name"),
            Profession: sp.First("role") is { } role ? SearchParams.Token(role).Code : null,
            Specialty: sp.First("specialty") is { } specialty ? SearchParams.Token(specialty).Code : null,
            PostalCode: sp.First("location.address-postalcode"),
            City: sp.First("location.address-city"),
            Around: centre,
            DistanceKm: km,
            ProfessionalId: sp.First("practitioner") is { } pr ? pr.Replace("Practitioner/", string.Empty, StringComparison.Ordinal) : null);
        if (sp.First("_id") is { } id)
        {
            return new SearchPage([new SearchHit("PractitionerRole", id, await ReadPractitionerRoleAsync(id, ct))], 0, count, false, null);
        }

        var result = await search.SearchAsync(criteria, offset, count, ct);

        var sites = await OrganizationsBySiteAsync(result.Hits.Select(h => h.Activity.SiteFiness), ct);
        var hits = result.Hits.Select(h => new SearchHit("PractitionerRole", h.Activity.Id,
            FhirJson.Serialize(McsdMappers.ToPractitionerRole(h.Activity, h.Professional, h.Activity.SiteFiness is { } f ? sites.GetValueOrDefault(f) : null)), h.DistanceKm)).ToList();
        return new SearchPage(hits, offset, count, offset + result.Hits.Count < result.Total, sp.First("_total") is "accurate" or "estimate" ? result.Total : null);
    }

    public async Task<string> ReadPractitionerRoleAsync(string id, CancellationToken ct)
    {
        var row = await (from a in db.PractitionerActivities.AsNoTracking()
                         join p in db.Professionals.AsNoTracking() on a.ProfessionalId equals p.Id
                         where a.Id == id
                         select new { a, p }).FirstOrDefaultAsync(ct) ?? throw DmpException.NotFound($"PractitionerRole/{id} does not exist");
        var sites = await OrganizationsBySiteAsync([row.a.SiteFiness], ct);
        return FhirJson.Serialize(McsdMappers.ToPractitionerRole(row.a, row.p, row.a.SiteFiness is { } f ? sites.GetValueOrDefault(f) : null));
    }

    /// <summary>mCSD Location search over the establishments: around a place (<c>near</c>, nearest first), by name, category, postal code or city.</summary>
    public async Task<SearchPage> SearchLocationsAsync(SearchParams sp, CancellationToken ct)
    {
        sp.RequireKnown(LocationParams);
        var (count, offset) = sp.Paging(50, 200);
        GeoPoint? centre = null;
        double? km = null;
        if (sp.First("near") is { } near)
        {
            (var c, var d) = DirectorySearch.ParseNear(near);
            (centre, km) = (c, d);
        }

        if (sp.First("_id") is { } id)
        {
            return new SearchPage([new SearchHit("Location", id, await ReadLocationAsync(id, ct))], 0, count, false, null);
        }

        var (hits, total) = await search.SearchEstablishmentsAsync(sp.First("name"), sp.First("type") is { } t ? SearchParams.Token(t).Code : null,
            sp.First("address-postalcode"), sp.First("address-city"), centre, km, offset, count, ct);
        return new SearchPage([.. hits.Select(h => new SearchHit("Location", h.Site.Id, FhirJson.Serialize(McsdMappers.ToLocation(h.Site)), h.DistanceKm))],
            offset, count, offset + hits.Count < total, sp.First("_total") is "accurate" or "estimate" ? total : null);
    }

    /// <summary>A Location: an establishment's site (same id as its Organization) or a professional's activity site (same id as the PractitionerRole).</summary>
    public async Task<string> ReadLocationAsync(string id, CancellationToken ct)
    {
        if (await db.Organizations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, ct) is { } o)
        {
            return FhirJson.Serialize(McsdMappers.ToLocation(o));
        }

        var a = await db.PractitionerActivities.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct) ?? throw DmpException.NotFound($"Location/{id} does not exist");
        var sites = await OrganizationsBySiteAsync([a.SiteFiness], ct);
        return FhirJson.Serialize(McsdMappers.ToLocation(a, a.SiteFiness is { } f ? sites.GetValueOrDefault(f) : null));
    }

    private async Task<Dictionary<string, string>> OrganizationsBySiteAsync(IEnumerable<string?> finess, CancellationToken ct)
    {
        var list = finess.Where(f => f is not null).Select(f => f!).Distinct(StringComparer.Ordinal).ToList();
        if (list.Count == 0)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        return (await db.Organizations.AsNoTracking().Where(o => o.Finess != null && list.Contains(o.Finess)).Select(o => new { o.Finess, o.Id }).ToListAsync(ct))
            .GroupBy(o => o.Finess!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Id, StringComparer.Ordinal);
    }

    private static bool Bool(string name, string value) => value switch
    {
        "true" => true,
        "false" => false,
        _ => throw DmpException.Invalid($"{name} is true or false, got '{value}'"),
    };

    public async Task<string> ReadOrganizationAsync(string id, CancellationToken ct)
    {
        var o = await db.Organizations.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct) ?? throw DmpException.NotFound($"Organization/{id} does not exist");
        return FhirJson.Serialize(McsdMappers.ToOrganization(o));
    }

    /// <summary>A group and its current members, by name; 404 for an unknown group.</summary>
    public async Task<GroupMembers> GroupAsync(string id, CancellationToken ct)
    {
        var group = await db.CareGroups.AsNoTracking().FirstOrDefaultAsync(g => g.Id == id, ct) ?? throw DmpException.NotFound($"Group/{id} does not exist");
        var members = await (from m in db.CareGroupMembers.AsNoTracking()
                             where m.GroupId == id
                             join p in db.Professionals.AsNoTracking() on m.ProfessionalId equals p.Id
                             where p.DeactivatedAt == null
                             select new { p.Id, p.Prefix, p.Given, p.Family, p.Rpps, p.ProfessionCode }).ToListAsync(ct);
        var list = members.OrderBy(m => m.Family, StringComparer.Ordinal).ThenBy(m => m.Given, StringComparer.Ordinal)
            .Select(m => new GroupMember(m.Id, $"{m.Prefix} {m.Given} {m.Family}".Trim(), m.Rpps, m.ProfessionCode)).ToList();
        return new GroupMembers(group.Id, group.Name, group.Kind, list, VersionOf(list.Select(m => m.Id)));
    }

    /// <summary>The groups a professional belongs to, each with its current members.</summary>
    public async Task<IReadOnlyList<GroupMembers>> GroupsOfAsync(string professionalId, CancellationToken ct)
    {
        var ids = await db.CareGroupMembers.AsNoTracking().Where(m => m.ProfessionalId == professionalId).Select(m => m.GroupId).OrderBy(g => g).ToListAsync(ct);
        var groups = new List<GroupMembers>(ids.Count);
        foreach (var id in ids)
        {
            groups.Add(await GroupAsync(id, ct));
        }

        return groups;
    }

    /// <summary>The version of a member list: changes whenever a member joins or leaves.</summary>
    public static string VersionOf(IEnumerable<string> memberIds) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', memberIds.Order(StringComparer.Ordinal)))))[..16].ToLowerInvariant();

    /// <summary>GET /fhir/Group/{id}: the group as a FHIR Group of practitioners, its version in meta.versionId.</summary>
    public async Task<string> ReadGroupAsync(string id, CancellationToken ct)
    {
        var g = await GroupAsync(id, ct);
        var group = new Hl7.Fhir.Model.Group
        {
            Id = g.Id,
            Meta = new Hl7.Fhir.Model.Meta { VersionId = g.Version },
            Type = Hl7.Fhir.Model.Group.GroupType.Practitioner,
            Actual = true,
            Name = g.Name,
            Code = new Hl7.Fhir.Model.CodeableConcept("urn:opendmp:group-kind", g.Kind),
            Quantity = g.Members.Count,
            Member = g.Members.Select(m => new Hl7.Fhir.Model.Group.MemberComponent { Entity = new Hl7.Fhir.Model.ResourceReference("Practitioner/" + m.Id, m.Name) }).ToList(),
        };
        return FhirJson.Serialize(group);
    }

    /// <summary>Display names of professionals and groups by directory id (for pages listing grants and accesses).</summary>
    public async Task<Dictionary<string, string>> NamesAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        var list = ids.Distinct(StringComparer.Ordinal).ToList();
        var names = (await db.Professionals.AsNoTracking().Where(p => list.Contains(p.Id)).Select(p => new { p.Id, p.Prefix, p.Given, p.Family }).ToListAsync(ct))
            .ToDictionary(p => p.Id, p => $"{p.Prefix} {p.Given} {p.Family}".Trim(), StringComparer.Ordinal);
        foreach (var g in await db.CareGroups.AsNoTracking().Where(g => list.Contains(g.Id)).Select(g => new { g.Id, g.Name }).ToListAsync(ct))
        {
            names[g.Id] = g.Name;
        }

        foreach (var m in await db.StaffMembers.AsNoTracking().Where(m => list.Contains(m.Id)).Select(m => new { m.Id, m.Given, m.Family }).ToListAsync(ct))
        {
            names[m.Id] = $"{m.Given} {m.Family}";
        }

        foreach (var o in await db.Organizations.AsNoTracking().Where(o => list.Contains(o.Id)).Select(o => new { o.Id, o.Name }).ToListAsync(ct))
        {
            names[o.Id] = o.Name;
        }

        return names;
    }

    /// <summary>The RPPS of professionals by directory id (those that have one).</summary>
    public async Task<Dictionary<string, string>> RppsAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        var list = ids.Distinct(StringComparer.Ordinal).ToList();
        return (await db.Professionals.AsNoTracking().Where(p => list.Contains(p.Id) && p.Rpps != null).Select(p => new { p.Id, p.Rpps }).ToListAsync(ct))
            .ToDictionary(p => p.Id, p => p.Rpps!, StringComparer.Ordinal);
    }

    /// <summary>Professionals by RPPS or family name (at least two characters), for the patient's block list.</summary>
    public async Task<IReadOnlyList<(string Name, string Rpps)>> FindProfessionalsAsync(string term, int max, CancellationToken ct)
    {
        var t = term.Trim();
        if (t.Length < 2)
        {
            return [];
        }

        var key = SearchKeys.Prefix(t);
        var q = db.Professionals.AsNoTracking().Where(p => p.Rpps == t || p.SearchName.Contains(key));
        return (await q.OrderBy(p => p.Family).Take(max).ToListAsync(ct))
            .Select(p => ($"{p.Prefix} {p.Given} {p.Family}".Trim(), p.Rpps ?? p.Id)).ToList();
    }

    /// <summary>The specialty (TRE_R38) or else the profession (TRE_G15) of professionals, by RPPS.</summary>
    public async Task<Dictionary<string, string?>> SpecialtiesByRppsAsync(IEnumerable<string> rpps, CancellationToken ct)
    {
        var list = rpps.Distinct(StringComparer.Ordinal).ToList();
        var rows = await db.Professionals.AsNoTracking().Where(p => p.Rpps != null && list.Contains(p.Rpps)).Select(p => new { p.Rpps, p.SpecialtyCode, p.ProfessionCode }).ToListAsync(ct);
        return rows.ToDictionary(p => p.Rpps!, p =>
            p.SpecialtyCode is not null && Nomenclatures.Specialties.TryGetValue(p.SpecialtyCode, out var s) ? s
            : p.ProfessionCode is not null && Nomenclatures.Professions.TryGetValue(p.ProfessionCode, out var pr) ? pr
            : null, StringComparer.Ordinal);
    }
}
