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
        var t = term.Trim().ToUpperInvariant();
        if (t.Length < 2)
        {
            return [];
        }

#pragma warning disable CA1304, CA1311, CA1862 // translated to SQL upper(): no .NET culture involved
        var q = db.Professionals.AsNoTracking().Where(p => p.Rpps == t || p.Family.ToUpper().Contains(t));
#pragma warning restore CA1304, CA1311, CA1862
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
