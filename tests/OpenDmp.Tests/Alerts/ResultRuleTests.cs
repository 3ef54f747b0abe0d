using OpenDmp.Core.Alerts;
using OpenDmp.Core.Clinical;

namespace OpenDmp.Tests.Alerts;

/// <summary>The result rules on their own: validated results only, units converted, laboratory flags, other code systems.</summary>
public sealed class ResultRuleTests
{
    private static ObservationEntry Result(string code, double? value, string? unit, string status = "final", string? interpretation = null, string? system = ResultIntake.Loinc) => new()
    {
        RecordId = "r",
        Id = "o",
        CodeSystem = system,
        Code = code,
        Status = status,
        ValueNumber = value,
        Unit = unit,
        ResourceJson = "{}",
        Interpretation = interpretation,
    };

    private static IEnumerable<string> Fired(ObservationEntry o) => new AlertOptions().Fired(o).Select(r => r.Id);

    [Fact]
    public void DefaultRules_FireOnValidatedResultsOnly()
    {
        Assert.Equal(["inr-high"], Fired(Result("6301-6", 5.4, null)));
        Assert.Empty(Fired(Result("6301-6", 5.0, null)));
        Assert.Empty(Fired(Result("6301-6", 7.0, null, status: "preliminary")));
        Assert.Equal(["inr-high"], Fired(Result("6301-6", 7.0, null, status: "corrected")));
        Assert.Equal(["potassium-high"], Fired(Result("2823-3", 6.3, "mmol/L")));
        Assert.Equal(["potassium-low"], Fired(Result("2823-3", 2.2, "mmol/L")));
    }

    [Fact]
    public void AValueInAnotherUnit_IsConverted_OneThatCannotBe_DoesNotFire()
    {
        // 65 g/L is 6.5 g/dL: below 7 g/dL.
        Assert.Equal(["haemoglobin-low"], Fired(Result("718-7", 65, "g/L")));
        Assert.Empty(Fired(Result("718-7", 75, "g/L")));
        Assert.Empty(Fired(Result("718-7", 5, null)));
        Assert.Empty(Fired(Result("2823-3", 9, "%")));
    }

    [Fact]
    public void LaboratoryFlags_AndOtherCodeSystems()
    {
        Assert.Equal(["critical"], Fired(Result("2345-7", 40, "mmol/L", interpretation: "HH")));
        Assert.Empty(Fired(Result("2345-7", 40, "mmol/L", interpretation: "H")));
        // A local code 6301-6 is not the LOINC one.
        Assert.Empty(Fired(Result("6301-6", 9, null, system: "urn:oid:1.2.250.1.999")));
    }

    [Fact]
    public void ConfiguredRules_ReplaceTheDefaults()
    {
        var options = new AlertOptions { ResultRules = [new ResultRule { Id = "inr-4", Codes = ["6301-6"], Above = 4 }] };
        Assert.Equal(["inr-4"], options.Fired(Result("6301-6", 4.5, null)).Select(r => r.Id));
        Assert.Empty(options.Fired(Result("2823-3", 6.5, "mmol/L")));
        Assert.Empty(options.Problems());
    }
}
