namespace OpenDmp.Core.Directory;

/// <summary>A WGS 84 position in decimal degrees.</summary>
public readonly record struct GeoPoint(double Latitude, double Longitude);

/// <summary>
/// The map projections of the FINESS geolocation converted to WGS 84, and distances. Lambert-93
/// (EPSG:2154, metropolitan France) by the inverse Lambert conformal conic projection of the IGN's
/// algorithms; the overseas départements' UTM zones (RGAF09 / RGFG95 / RGR92 / RGM04, all on GRS 80
/// like WGS 84 to within a metre) by the inverse transverse Mercator series. Both on the GRS 80
/// ellipsoid: the datum shifts between RGF93 and WGS 84 are below a metre, well under what a
/// directory search needs.
/// </summary>
public static class Geo
{
    private const double A = 6378137.0;                // GRS 80 semi-major axis (m)
    private const double F = 1 / 298.257222101;        // GRS 80 flattening
    private static readonly double E2 = F * (2 - F);
    private static readonly double E = Math.Sqrt(E2);

    // Lambert-93: secant cone on 44° and 49° N, origin 46°30' N 3° E, false easting 700 km, northing 6,600 km.
    private static readonly double Phi1 = Rad(44), Phi2 = Rad(49), Phi0 = Rad(46.5), Lambda0 = Rad(3);
    private const double X0 = 700000, Y0 = 6600000;
    /// <summary>The cone constant n (IGN: 0.7256077650532670).</summary>
    internal static readonly double N = (Math.Log(Cos(Phi1) / Cos(Phi2)) + 0.5 * Math.Log((1 - E2 * Sin2(Phi2)) / (1 - E2 * Sin2(Phi1))))
                                       / (IsoLat(Phi2) - IsoLat(Phi1));
    private static readonly double C = A * Math.Cos(Phi1) / Math.Sqrt(1 - E2 * Sin2(Phi1)) / N * Math.Exp(N * IsoLat(Phi1));
    private static readonly double Ys = Y0 + C * Math.Exp(-N * IsoLat(Phi0));

    /// <summary>Converts Lambert-93 metres (x easting, y northing) to WGS 84.</summary>
    public static GeoPoint FromLambert93(double x, double y)
    {
        var dx = x - X0;
        var dy = Ys - y;
        var r = Math.Sqrt(dx * dx + dy * dy);
        var gamma = Math.Atan2(dx, dy);
        var lambda = Lambda0 + gamma / N;
        var l = -Math.Log(r / C) / N;
        return new GeoPoint(Deg(LatitudeFromIso(l)), Deg(lambda));
    }

    /// <summary>Converts WGS 84 to Lambert-93 metres (x easting, y northing): the projection the FINESS extraction publishes.</summary>
    public static (double X, double Y) ToLambert93(GeoPoint p)
    {
        var rho = C * Math.Exp(-N * IsoLat(Rad(p.Latitude)));
        var theta = N * (Rad(p.Longitude) - Lambda0);
        return (X0 + rho * Math.Sin(theta), Ys - rho * Math.Cos(theta));
    }

    /// <summary>Converts UTM metres of a zone (southern hemisphere when <paramref name="south"/>) to WGS 84.</summary>
    public static GeoPoint FromUtm(double easting, double northing, int zone, bool south)
    {
        const double k0 = 0.9996;
        var x = easting - 500000;
        var y = south ? northing - 10000000 : northing;
        var ep2 = E2 / (1 - E2);
        var m = y / k0;
        var mu = m / (A * (1 - E2 / 4 - 3 * E2 * E2 / 64 - 5 * E2 * E2 * E2 / 256));
        var e1 = (1 - Math.Sqrt(1 - E2)) / (1 + Math.Sqrt(1 - E2));
        var phi1 = mu + (3 * e1 / 2 - 27 * Math.Pow(e1, 3) / 32) * Math.Sin(2 * mu)
                      + (21 * e1 * e1 / 16 - 55 * Math.Pow(e1, 4) / 32) * Math.Sin(4 * mu)
                      + 151 * Math.Pow(e1, 3) / 96 * Math.Sin(6 * mu)
                      + 1097 * Math.Pow(e1, 4) / 512 * Math.Sin(8 * mu);
        var n1 = A / Math.Sqrt(1 - E2 * Sin2(phi1));
        var t1 = Math.Pow(Math.Tan(phi1), 2);
        var c1 = ep2 * Math.Pow(Math.Cos(phi1), 2);
        var r1 = A * (1 - E2) / Math.Pow(1 - E2 * Sin2(phi1), 1.5);
        var d = x / (n1 * k0);
        var lat = phi1 - n1 * Math.Tan(phi1) / r1 * (d * d / 2 - (5 + 3 * t1 + 10 * c1 - 4 * c1 * c1 - 9 * ep2) * Math.Pow(d, 4) / 24
                  + (61 + 90 * t1 + 298 * c1 + 45 * t1 * t1 - 252 * ep2 - 3 * c1 * c1) * Math.Pow(d, 6) / 720);
        var lon = (d - (1 + 2 * t1 + c1) * Math.Pow(d, 3) / 6 + (5 - 2 * c1 + 28 * t1 - 3 * c1 * c1 + 8 * ep2 + 24 * t1 * t1) * Math.Pow(d, 5) / 120) / Math.Cos(phi1);
        return new GeoPoint(Deg(lat), Deg(Rad(zone * 6 - 183) + lon));
    }

    /// <summary>
    /// Converts the coordinates of a FINESS geolocation record to WGS 84 by the projection its source
    /// field names: "…,LAMBERT_93" or "…,UTM_N20" (zone and hemisphere) as the extraction publishes it,
    /// or an EPSG code; Lambert-93 when it names none. Null for a projection OpenDMP does not know.
    /// </summary>
    public static GeoPoint? FromFiness(double x, double y, string? source)
    {
        if (source is not null && UtmOf(source) is { } utm)
        {
            return FromUtm(x, y, utm.Zone, utm.South);
        }

        if (source is not null && source.Contains("LAMBERT_93", StringComparison.OrdinalIgnoreCase))
        {
            return FromLambert93(x, y);
        }

        var epsg = EpsgOf(source) ?? 2154;
        return epsg switch
        {
            2154 => FromLambert93(x, y),
            5490 or 4559 or 32620 => FromUtm(x, y, 20, south: false), // Guadeloupe, Martinique
            2972 or 32622 => FromUtm(x, y, 22, south: false),        // Guyane
            2975 or 32740 => FromUtm(x, y, 40, south: true),         // La Réunion
            4471 or 32738 => FromUtm(x, y, 38, south: true),         // Mayotte
            _ => null,
        };
    }

    /// <summary>The UTM zone a source field names as "UTM_N20" / "UTM_S40", or null.</summary>
    private static (int Zone, bool South)? UtmOf(string source)
    {
        var i = source.IndexOf("UTM_", StringComparison.OrdinalIgnoreCase);
        if (i < 0 || i + 6 > source.Length || char.ToUpperInvariant(source[i + 4]) is not ('N' or 'S'))
        {
            return null;
        }

        var j = i + 5;
        var k = j;
        while (k < source.Length && char.IsAsciiDigit(source[k]))
        {
            k++;
        }

        return k > j && int.TryParse(source.AsSpan(j, k - j), out var zone) && zone is >= 1 and <= 60
            ? (zone, char.ToUpperInvariant(source[i + 4]) == 'S') : null;
    }

    /// <summary>The EPSG code a FINESS source field names ("… EPSG:2154 RGF93 / Lambert-93 …"), or null.</summary>
    public static int? EpsgOf(string? source)
    {
        if (string.IsNullOrEmpty(source))
        {
            return null;
        }

        var i = source.IndexOf("EPSG:", StringComparison.OrdinalIgnoreCase);
        if (i < 0)
        {
            return null;
        }

        var j = i + 5;
        var k = j;
        while (k < source.Length && char.IsAsciiDigit(source[k]))
        {
            k++;
        }

        return k > j && int.TryParse(source.AsSpan(j, k - j), out var code) ? code : null;
    }

    /// <summary>Great-circle distance in kilometres (haversine, mean Earth radius).</summary>
    public static double DistanceKm(GeoPoint a, GeoPoint b)
    {
        var dLat = Rad(b.Latitude - a.Latitude);
        var dLon = Rad(b.Longitude - a.Longitude);
        var h = Math.Pow(Math.Sin(dLat / 2), 2) + Math.Cos(Rad(a.Latitude)) * Math.Cos(Rad(b.Latitude)) * Math.Pow(Math.Sin(dLon / 2), 2);
        return 2 * 6371.0088 * Math.Asin(Math.Min(1, Math.Sqrt(h)));
    }

    /// <summary>The latitude/longitude box that holds every point within <paramref name="km"/> of a centre (for an index range before the exact distance).</summary>
    public static (double MinLat, double MaxLat, double MinLon, double MaxLon) Box(GeoPoint centre, double km)
    {
        var dLat = km / 111.0;
        var cos = Math.Max(0.01, Math.Cos(Rad(centre.Latitude)));
        var dLon = km / (111.32 * cos);
        return (centre.Latitude - dLat, centre.Latitude + dLat, centre.Longitude - dLon, centre.Longitude + dLon);
    }

    /// <summary>cos²(latitude): a degree of longitude's length relative to a degree of latitude, squared (for ordering by distance in SQL).</summary>
    public static double LongitudeScale(GeoPoint centre) => Math.Pow(Math.Cos(Rad(centre.Latitude)), 2);

    private static double IsoLat(double phi) =>
        Math.Log(Math.Tan(Math.PI / 4 + phi / 2) * Math.Pow((1 - E * Math.Sin(phi)) / (1 + E * Math.Sin(phi)), E / 2));

    private static double LatitudeFromIso(double l)
    {
        var phi = 2 * Math.Atan(Math.Exp(l)) - Math.PI / 2;
        for (var i = 0; i < 20; i++)
        {
            var next = 2 * Math.Atan(Math.Pow((1 + E * Math.Sin(phi)) / (1 - E * Math.Sin(phi)), E / 2) * Math.Exp(l)) - Math.PI / 2;
            if (Math.Abs(next - phi) < 1e-12)
            {
                return next;
            }

            phi = next;
        }

        return phi;
    }

    private static double Rad(double deg) => deg * Math.PI / 180;
    private static double Deg(double rad) => rad * 180 / Math.PI;
    private static double Cos(double x) => Math.Cos(x);
    private static double Sin2(double x) => Math.Sin(x) * Math.Sin(x);
}
