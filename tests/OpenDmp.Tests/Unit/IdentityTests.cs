using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OpenDmp.Core.Identity;

namespace OpenDmp.Tests.Unit;

public class InsTests
{
    [Theory]
    [InlineData("180017505600103")] // PDSm example patient
    [InlineData("156037505602424")]
    [InlineData("188112A00401219")] // Corsica, Corse-du-Sud
    [InlineData("2 79 02 13 055 017 57")] // spaces are tolerated
    public void Validate_ValidIns_ReturnsNull(string ins) => Assert.Null(Ins.Validate(ins));

    [Fact]
    public void Validate_WrongKey_SaysExpectedKey()
    {
        var error = Ins.Validate("180017505600104");
        Assert.NotNull(error);
        Assert.Contains("key", error, StringComparison.Ordinal);
        Assert.Contains("03", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("18001750560010", "15 characters")]
    [InlineData("1800175056001033", "15 characters")]
    [InlineData("", "empty")]
    [InlineData("580017505600103", "sex digit")]
    [InlineData("18001750X600103", "digits")]
    public void Validate_Malformed_SaysWhy(string ins, string reason)
    {
        var error = Ins.Validate(ins);
        Assert.NotNull(error);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_CorsicaHauteCorse_UsesEighteenForKey()
    {
        var ins = Ins.WithKey("175042B033012");
        Assert.Null(Ins.Validate(ins));
        // The same number with the Corse-du-Sud department must not validate with that key.
        Assert.NotNull(Ins.Validate(ins.Replace("2B", "2A", StringComparison.Ordinal)));
    }

    [Property(MaxTest = 200)]
    public Property WithKey_AlwaysValidates_AndAnyOtherKeyFails(PositiveInt seed)
    {
        var r = new Random(seed.Get);
        var nir = $"{r.Next(1, 3)}{r.Next(0, 100):00}{r.Next(1, 13):00}{r.Next(1, 96):00}{r.Next(1, 1000):000}{r.Next(1, 1000):000}";
        var ins = Ins.WithKey(nir);
        var key = int.Parse(ins[13..], System.Globalization.CultureInfo.InvariantCulture);
        var other = nir + ((key % 97) + 1).ToString("00", System.Globalization.CultureInfo.InvariantCulture);
        return (Ins.Validate(ins) is null && Ins.Validate(other) is not null).ToProperty();
    }
}

public class RppsTests
{
    [Theory]
    [InlineData("10000000017")]
    [InlineData("10000000025")]
    [InlineData("10000000033")]
    public void Validate_ValidRpps_ReturnsNull(string rpps) => Assert.Null(Rpps.Validate(rpps));

    [Theory]
    [InlineData("10000000018", "check digit")]
    [InlineData("1000000001", "11 digits")]
    [InlineData("1011848351", "11 digits")] // 10 digits, as in the PDSm example's author
    [InlineData("1000000001A", "11 digits")]
    [InlineData("", "empty")]
    public void Validate_Invalid_SaysWhy(string rpps, string reason)
    {
        var error = Rpps.Validate(rpps);
        Assert.NotNull(error);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Property(MaxTest = 200)]
    public Property WithCheckDigit_Validates_AndOneDigitChangeIsDetected(PositiveInt seed, PositiveInt position)
    {
        var r = new Random(seed.Get);
        var body = "1" + r.NextInt64(0, 1_000_000_000).ToString("000000000", System.Globalization.CultureInfo.InvariantCulture);
        var rpps = Rpps.WithCheckDigit(body);
        var i = position.Get % 11;
        var changed = rpps[..i] + (char)('0' + ((rpps[i] - '0' + 1) % 10)) + rpps[(i + 1)..];
        return (Rpps.Validate(rpps) is null && Rpps.Validate(changed) is not null).ToProperty();
    }

    [Theory]
    [InlineData("urn:oid:1.2.250.1.71.4.2.1", "810000000017", "10000000017")]
    [InlineData("https://rpps.esante.gouv.fr", "10000000017", "10000000017")]
    [InlineData("https://rpps.esante.gouv.fr", "1011848351", null)]
    [InlineData("http://hl7.org/fhir/sid/us-npi", "9999984591", null)]
    public void FromIdentifier_MapsNationalIdentifiers(string system, string value, string? expected) =>
        Assert.Equal(expected, Rpps.FromIdentifier(system, value));

    [Fact]
    public void Nomenclatures_PhysicianNeedsSpecialty_PharmacistDoesNot()
    {
        Assert.Null(Nomenclatures.Validate("10", "SM54"));
        Assert.NotNull(Nomenclatures.Validate("10", null));
        Assert.Null(Nomenclatures.Validate("21", null));
        Assert.Contains("unknown profession", Nomenclatures.Validate("99", null), StringComparison.Ordinal);
        Assert.Contains("unknown specialty", Nomenclatures.Validate("10", "SM999"), StringComparison.Ordinal);
    }
}
