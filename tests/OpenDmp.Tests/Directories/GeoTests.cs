using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OpenDmp.Core.Directory;

namespace OpenDmp.Tests.Directories;

/// <summary>The projections of the FINESS geolocation, checked against the IGN's published constants and real places.</summary>
public sealed class GeoTests
{
    [Fact]
    public void Lambert93_HasTheIgnConstants_AndItsOriginIsTheProjectionCentre()
    {
        Assert.Equal(0.7256077650532670, Geo.N, 12);
        var origin = Geo.FromLambert93(700000, 6600000);
        Assert.Equal(46.5, origin.Latitude, 9);
        Assert.Equal(3.0, origin.Longitude, 9);
    }

    [Fact]
    public void AFinessPosition_IsReadBackWhereTheEstablishmentIs()
    {
        // CH de Fleyriat (FINESS 010000024), Viriat, as the extraction geolocates it.
        var p = Geo.FromFiness(870215.7, 6571590.5, "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93")!.Value;
        Assert.InRange(p.Latitude, 46.20, 46.24);
        Assert.InRange(p.Longitude, 5.19, 5.23);
        // Lyon to Grenoble: 94 km as the crow flies.
        Assert.InRange(Geo.DistanceKm(new GeoPoint(45.7597, 4.8422), new GeoPoint(45.1885, 5.7245)), 92, 96);
        // La Réunion in UTM 40 South (Saint-Denis: 340 000 E, 7 690 000 N).
        var reunion = Geo.FromFiness(340000, 7690000, "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,UTM_S40")!.Value;
        Assert.InRange(reunion.Latitude, -20.95, -20.85);
        Assert.InRange(reunion.Longitude, 55.40, 55.50);
        Assert.Null(Geo.FromFiness(1, 1, "EPSG:9999"));
    }

    [Property(MaxTest = 300)]
    public Property Lambert93_RoundTrips_OverMetropolitanFrance() =>
        Prop.ForAll(Gen.Choose(41_000, 51_500).Select(x => x / 1000.0).ToArbitrary(), Gen.Choose(-5_500, 10_000).Select(x => x / 1000.0).ToArbitrary(), (lat, lon) =>
        {
            var (x, y) = Geo.ToLambert93(new GeoPoint(lat, lon));
            var back = Geo.FromLambert93(x, y);
            return Math.Abs(back.Latitude - lat) < 1e-9 && Math.Abs(back.Longitude - lon) < 1e-9;
        });
}
