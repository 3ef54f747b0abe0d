using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Tests.Unit;

public class SearchParamsTests
{
    [Theory]
    [InlineData("2024", "eq", "2024-01-01T00:00:00Z", "2024-12-31T23:59:59.9999999Z")]
    [InlineData("ge2024-03", "ge", "2024-03-01T00:00:00Z", "2024-03-31T23:59:59.9999999Z")]
    [InlineData("lt2024-03-15", "lt", "2024-03-15T00:00:00Z", "2024-03-15T23:59:59.9999999Z")]
    public void Date_ParsesPrefixAndPrecision(string value, string prefix, string low, string high)
    {
        var (p, l, h) = SearchParams.Date("date", value);
        Assert.Equal(prefix, p);
        Assert.Equal(DateTimeOffset.Parse(low, System.Globalization.CultureInfo.InvariantCulture), l);
        Assert.Equal(DateTimeOffset.Parse(high, System.Globalization.CultureInfo.InvariantCulture), h);
    }

    [Theory]
    [InlineData("xx2024")]
    [InlineData("yesterday")]
    public void Date_Invalid_IsBadRequest(string value) =>
        Assert.Equal(ErrorKind.BadRequest, Assert.Throws<DmpException>(() => SearchParams.Date("date", value)).Kind);

    [Fact]
    public void RequireKnown_UnknownParameter_IsBadRequestListingSupported()
    {
        var sp = new SearchParams([new("patient", "x"), new("colour", "red")]);
        var ex = Assert.Throws<DmpException>(() => sp.RequireKnown(DocumentQueries.DocumentSearchParams));
        Assert.Contains("colour", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Token_SplitsSystemAndCode()
    {
        Assert.Equal(("http://loinc.org", "11488-4"), SearchParams.Token("http://loinc.org|11488-4"));
        Assert.Equal((null, "11488-4"), SearchParams.Token("11488-4"));
        Assert.Equal((null, "x"), SearchParams.Token("|x"));
    }
}

public class TerminologyTests
{
    [Fact]
    public void ValueSets_AcceptAnsCodesUnderOidOrUrl()
    {
        Assert.NotNull(Terminology.ClassCodes.Find(Terminology.ClassSystem, "10"));
        Assert.NotNull(Terminology.ClassCodes.Find("urn:oid:1.2.250.1.213.1.1.4.1", "10"));
        Assert.NotNull(Terminology.TypeCodes.Find("urn:oid:2.16.840.1.113883.6.1", "11488-4"));
        Assert.NotNull(Terminology.FacilityTypes.Find(Terminology.FacilitySystem, "SA01"));
        Assert.NotNull(Terminology.PracticeSettings.Find(Terminology.PracticeSettingSystem, "ETABLISSEMENT"));
        Assert.NotNull(Terminology.FormatCodes.Find(Terminology.FormatSystem, "urn:ihe:iti:xds-sd:pdf:2008"));
        Assert.NotNull(Terminology.ConfidentialityCodes.Find(Terminology.VisibilitySystem, "MASQUE_PS"));
        Assert.Null(Terminology.ConfidentialityCodes.Find(Terminology.VisibilitySystem, "N"));
        Assert.Null(Terminology.ClassCodes.Find(Terminology.ClassSystem, "12"));
        Assert.Null(Terminology.TypeCodes.Find("http://loinc.org", "34117-2"));
    }

    [Fact]
    public void AuditHash_ChangesWithAnyField()
    {
        var e = new AuditEntry { RecordId = "r", Seq = 1, Time = DateTimeOffset.UnixEpoch, ActorKind = "Professional", ActorId = "a", Action = "read", Outcome = "success", Channel = "api", PrevHash = AuditTrail.Genesis, Hash = "" };
        var h1 = AuditTrail.ComputeHash(e);
        e.ActorId = "b";
        Assert.NotEqual(h1, AuditTrail.ComputeHash(e));
        Assert.Equal(64, h1.Length);
    }
}
