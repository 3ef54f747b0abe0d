using System.Globalization;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory;

/// <summary>
/// What to look for in the directory of professionals. <see cref="Around"/> with a distance searches
/// around a place (a postal code, a city, or a position); without a distance, the postal code and
/// the city filter exactly.
/// </summary>
public sealed record DirectoryCriteria(
    string? Name = null,
    string? Profession = null,
    string? Specialty = null,
    string? PostalCode = null,
    string? City = null,
    GeoPoint? Around = null,
    double? DistanceKm = null,
    string? ProfessionalId = null);

/// <summary>One activity of one professional found, with its distance from the search's centre.</summary>
public sealed record DirectoryHit(PractitionerActivity Activity, Professional Professional, double? DistanceKm);

/// <summary>A page of activities, how many match in all (up to <see cref="DirectorySearch.MaxMatches"/>), and the matches per département (for the map).</summary>
public sealed record DirectoryResult(IReadOnlyList<DirectoryHit> Hits, int Total, bool Capped, IReadOnlyDictionary<string, int> ByDepartment);

/// <summary>
/// Directory search over the professionals' activities (RPPS) and the establishments (FINESS): by
/// name, profession, specialty, postal code, city and distance. Reference data, no patient data. A
/// search around a place first takes the latitude/longitude box (indexed), then the exact distance.
/// </summary>
public sealed class DirectorySearch(DmpDbContext db)
{
    /// <summary>The most matches a search counts and sorts (a page is at most 100 of them).</summary>
    public const int MaxMatches = 2000;
    /// <summary>The widest search around a place.</summary>
    public const double MaxDistanceKm = 200;

    /// <summary>The position of a postal code or a city (learnt from the FINESS establishments); 400 when the directory knows none.</summary>
    public async Task<GeoPoint> CentreAsync(string place, CancellationToken ct)
    {
        var p = place.Trim();
        if (p.Length is 0 or > 80)
        {
            throw DmpException.Invalid("give a postal code (5 digits) or a city to search around");
        }

        List<DirectoryPlace> places;
        if (p.Length == 5 && p.All(char.IsAsciiDigit))
        {
            places = await db.DirectoryPlaces.AsNoTracking().Where(x => x.PostalCode == p).ToListAsync(ct);
            if (places.Count == 0)
            {
                // A postal code shared by communes: any establishment of that postal code places it.
                var sites = await db.Organizations.AsNoTracking().Where(o => o.PostalCode == p && o.Latitude != null && o.DeactivatedAt == null)
                    .Select(o => new { o.Latitude, o.Longitude }).Take(200).ToListAsync(ct);
                if (sites.Count > 0)
                {
                    return new GeoPoint(sites.Average(s => s.Latitude!.Value), sites.Average(s => s.Longitude!.Value));
                }
            }
        }
        else
        {
            var city = SearchKeys.Words(p);
            places = await db.DirectoryPlaces.AsNoTracking().Where(x => x.SearchCity == city).ToListAsync(ct);
        }

        if (places.Count == 0)
        {
            throw DmpException.Invalid($"the directory knows no position for '{p}': give a postal code or a city that has an establishment in the FINESS extraction");
        }

        return new GeoPoint(places.Average(x => x.Latitude), places.Average(x => x.Longitude));
    }

    /// <summary>Searches the activities; a page of <paramref name="count"/> from <paramref name="offset"/>.</summary>
    public async Task<DirectoryResult> SearchAsync(DirectoryCriteria c, int offset, int count, CancellationToken ct)
    {
        if (c.DistanceKm is { } km && (km <= 0 || km > MaxDistanceKm))
        {
            throw DmpException.Invalid($"the distance is between 0 and {MaxDistanceKm.ToString(CultureInfo.InvariantCulture)} km");
        }

        if (c.DistanceKm is not null && c.Around is null)
        {
            throw DmpException.Invalid("a distance needs a place to search around");
        }

        var q = from a in db.PractitionerActivities.AsNoTracking()
                join p in db.Professionals.AsNoTracking() on a.ProfessionalId equals p.Id
                where a.EndedAt == null && p.DeactivatedAt == null
                select new { a, p };
        if (!string.IsNullOrWhiteSpace(c.Name))
        {
            var name = SearchKeys.Prefix(c.Name);
            q = q.Where(x => x.p.SearchName.Contains(name));
        }

        if (!string.IsNullOrWhiteSpace(c.Profession))
        {
            q = q.Where(x => x.a.ProfessionCode == c.Profession);
        }

        if (!string.IsNullOrWhiteSpace(c.Specialty))
        {
            q = q.Where(x => x.a.SkillCode == c.Specialty);
        }

        if (!string.IsNullOrWhiteSpace(c.ProfessionalId))
        {
            q = q.Where(x => x.p.Id == c.ProfessionalId);
        }

        if (c.Around is { } centre && c.DistanceKm is { } radius)
        {
            var (minLat, maxLat, minLon, maxLon) = Geo.Box(centre, radius);
            var (lat0, lon0, k) = (centre.Latitude, centre.Longitude, Geo.LongitudeScale(centre));
            // Nearest first in the database (plane approximation, the same order as the exact distance at these ranges), then the exact distance.
            var near = await q.Where(x => x.a.Latitude >= minLat && x.a.Latitude <= maxLat && x.a.Longitude >= minLon && x.a.Longitude <= maxLon)
                .OrderBy(x => (x.a.Latitude - lat0) * (x.a.Latitude - lat0) + (x.a.Longitude - lon0) * (x.a.Longitude - lon0) * k)
                .Take(MaxMatches).ToListAsync(ct);
            var within = near.Select(x => new DirectoryHit(x.a, x.p, Geo.DistanceKm(centre, new GeoPoint(x.a.Latitude!.Value, x.a.Longitude!.Value))))
                .Where(h => h.DistanceKm <= radius)
                .OrderBy(h => h.DistanceKm).ThenBy(h => h.Professional.Family, StringComparer.Ordinal).ThenBy(h => h.Activity.Id, StringComparer.Ordinal)
                .Take(MaxMatches).ToList();
            return new DirectoryResult([.. within.Skip(offset).Take(count)], within.Count, within.Count == MaxMatches, ByDepartment(within.Select(h => h.Activity.DepartmentCode)));
        }

        if (!string.IsNullOrWhiteSpace(c.PostalCode))
        {
            var postal = c.PostalCode.Trim();
            q = q.Where(x => x.a.PostalCode == postal);
        }

        if (!string.IsNullOrWhiteSpace(c.City))
        {
            var city = SearchKeys.Prefix(c.City);
            q = q.Where(x => x.a.SearchCity.StartsWith(city));
        }

        var total = await q.Take(MaxMatches).CountAsync(ct);
        var departments = await q.Take(MaxMatches).GroupBy(x => x.a.DepartmentCode).Select(g => new { g.Key, N = g.Count() }).ToListAsync(ct);
        var page = await q.OrderBy(x => x.p.Family).ThenBy(x => x.p.Given).ThenBy(x => x.a.Id).Skip(offset).Take(count).ToListAsync(ct);
        return new DirectoryResult([.. page.Select(x => new DirectoryHit(x.a, x.p, null))], total, total == MaxMatches,
            departments.Where(d => d.Key != null).ToDictionary(d => d.Key!, d => d.N, StringComparer.Ordinal));
    }

    /// <summary>The establishments around a place (FHIR Location?near), nearest first, or filtered by postal code, city, name and category.</summary>
    public async Task<(IReadOnlyList<(Organization Site, double? DistanceKm)> Hits, int Total)> SearchEstablishmentsAsync(
        string? name, string? type, string? postalCode, string? city, GeoPoint? around, double? km, int offset, int count, CancellationToken ct)
    {
        var q = db.Organizations.AsNoTracking().Where(o => o.DeactivatedAt == null);
        if (!string.IsNullOrWhiteSpace(name))
        {
            var n = SearchKeys.Prefix(name);
            q = q.Where(o => o.SearchName.Contains(n));
        }

        if (!string.IsNullOrWhiteSpace(type))
        {
            q = q.Where(o => o.TypeCode == type);
        }

        if (!string.IsNullOrWhiteSpace(postalCode))
        {
            q = q.Where(o => o.PostalCode == postalCode);
        }

        if (!string.IsNullOrWhiteSpace(city))
        {
            var c = SearchKeys.Prefix(city);
            q = q.Where(o => o.SearchCity.StartsWith(c));
        }

        if (around is { } centre && km is { } radius)
        {
            var (minLat, maxLat, minLon, maxLon) = Geo.Box(centre, radius);
            var (lat0, lon0, k) = (centre.Latitude, centre.Longitude, Geo.LongitudeScale(centre));
            var near = await q.Where(o => o.Latitude >= minLat && o.Latitude <= maxLat && o.Longitude >= minLon && o.Longitude <= maxLon)
                .OrderBy(o => (o.Latitude - lat0) * (o.Latitude - lat0) + (o.Longitude - lon0) * (o.Longitude - lon0) * k)
                .Take(MaxMatches).ToListAsync(ct);
            var within = near.Select(o => (Site: o, DistanceKm: (double?)Geo.DistanceKm(centre, new GeoPoint(o.Latitude!.Value, o.Longitude!.Value))))
                .Where(h => h.DistanceKm <= radius).OrderBy(h => h.DistanceKm).ThenBy(h => h.Site.Id, StringComparer.Ordinal).Take(MaxMatches).ToList();
            return ([.. within.Skip(offset).Take(count)], within.Count);
        }

        var total = await q.Take(MaxMatches).CountAsync(ct);
        var page = await q.OrderBy(o => o.Name).ThenBy(o => o.Id).Skip(offset).Take(count).ToListAsync(ct);
        return ([.. page.Select(o => (o, (double?)null))], total);
    }

    /// <summary>Parses a FHIR <c>near</c> value "latitude|longitude|distance|unit" (unit km or m; 10 km when no distance is given).</summary>
    public static (GeoPoint Centre, double Km) ParseNear(string value)
    {
        var parts = value.Split('|');
        if (parts.Length < 2 || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var lat) || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var lon)
            || lat is < -90 or > 90 || lon is < -180 or > 180)
        {
            throw new DmpException(ErrorKind.BadRequest, $"near is latitude|longitude|distance|unit (e.g. 45.76|4.84|10|km), got '{value}'");
        }

        var km = 10.0;
        if (parts.Length >= 3 && parts[2].Length > 0)
        {
            if (!double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out km))
            {
                throw new DmpException(ErrorKind.BadRequest, $"the distance of near is a number, got '{parts[2]}'");
            }

            var unit = parts.Length >= 4 ? parts[3] : "km";
            km = unit switch
            {
                "km" or "" => km,
                "m" => km / 1000,
                _ => throw new DmpException(ErrorKind.BadRequest, $"the unit of near is km or m, got '{unit}'"),
            };
        }

        if (km <= 0 || km > MaxDistanceKm)
        {
            throw new DmpException(ErrorKind.BadRequest, $"the distance of near is between 0 and {MaxDistanceKm.ToString(CultureInfo.InvariantCulture)} km");
        }

        return (new GeoPoint(lat, lon), km);
    }

    private static Dictionary<string, int> ByDepartment(IEnumerable<string?> departments) =>
        departments.Where(d => d is not null).GroupBy(d => d!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
}
