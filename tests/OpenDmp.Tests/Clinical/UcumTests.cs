using OpenDmp.Core.Clinical;

namespace OpenDmp.Tests.Clinical;

/// <summary>The UCUM subset that makes results of different laboratories comparable.</summary>
public sealed class UcumTests
{
    [Theory]
    [InlineData(1.0, "g/L", "mg/dL", 100.0)]
    [InlineData(5.4, "mmol/L", "umol/L", 5400.0)]
    [InlineData(7.5, "10*9/L", "10*3/uL", 7.5)]
    [InlineData(42.0, "%", "1", 0.42)]
    [InlineData(3.0, "mg/L", "ug/mL", 3.0)]
    [InlineData(90.0, "mL/min", "L/h", 5.4)]
    [InlineData(12.0, "[IU]/L", "m[IU]/mL", 12.0)]
    [InlineData(6.2, "mmol/L{glucose}", "mmol/L", 6.2)]
    public void ConvertibleUnits_Convert(double value, string from, string to, double expected)
    {
        Assert.True(Ucum.TryConvert(value, from, to, out var converted));
        Assert.Equal(expected, converted, 9);
    }

    [Theory]
    [InlineData("mg/dL", "mmol/L")]
    [InlineData("g/L", "g")]
    [InlineData("U/L", "[IU]/L")]
    [InlineData("mmol/L", "nonsense")]
    public void UnitsOfDifferentKinds_AreNotConverted(string from, string to) =>
        Assert.False(Ucum.TryConvert(1, from, to, out _));

    [Theory]
    [InlineData("mmol/L", true)]
    [InlineData("10*12/L", true)]
    [InlineData("mm[Hg]", false)]
    [InlineData("kg/m2", true)]
    [InlineData("a/b/c", false)]
    [InlineData("", false)]
    public void KnownUnits(string unit, bool known) => Assert.Equal(known, Ucum.IsKnown(unit));
}
