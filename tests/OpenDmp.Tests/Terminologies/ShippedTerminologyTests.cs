using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Tests.Terminologies;

/// <summary>The ANS publications shipped as data: every code of the JDVs, under URL and OID, retired codes, displays.</summary>
public class ShippedTerminologyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, int> JdvSizes => new()
    {
        // Code counts of the ANS publications (../shared/testdata/ans-terminology/README.md).
        { Terminology.FacilityTypesUrl, 64 },
        { Terminology.PracticeSettingsUrl, 11 },
        { Terminology.ClassCodesUrl, 13 },
        { Terminology.TypeCodesUrl, 114 },
        { Terminology.ConfidentialityCodesUrl, 6 },
        { Terminology.FormatCodesUrl, 89 },
        { Terminology.AuthorSpecialtiesUrl, 378 },
        { Terminology.RelationsUrl, 37 },
    };

    [Theory]
    [MemberData(nameof(JdvSizes))]
    public void EveryCodeOfTheJdv_IsKnown_ActiveOnesUsable_RetiredOnesRefused(string url, int expected)
    {
        var set = TerminologySet.Shipped;
        var vs = set.ValueSet(url)!;
        var all = set.Expand(vs, null, activeOnly: false, Now).ToList();
        Assert.Equal(expected, all.Count);
        foreach (var item in all)
        {
            var check = set.Check(url, item.System, item.Code, Now);
            Assert.NotNull(check.Concept);
            if (item.Inactive)
            {
                Assert.Contains("retired", check.Problem, StringComparison.Ordinal);
            }
            else
            {
                Assert.True(check.Ok, $"{item.System}|{item.Code}: {check.Problem}");
            }

            // The OID form of the system (urn:oid: and bare, as CDA and XDS write it) is the same code.
            if (set.OidOf(item.System) is { } oid)
            {
                Assert.NotNull(set.Find(url, "urn:oid:" + oid, item.Code));
                Assert.NotNull(set.Find(url, oid, item.Code));
            }
        }

        Assert.Null(set.Find(url, all[0].System, "PAS-UN-CODE"));
        Assert.False(set.Check(url, "http://example.org/other", all[0].Code, Now).Ok);
    }

    [Fact]
    public void FormerlyRefusedCodes_AreAccepted_AndRetiredOnesExplained()
    {
        var set = TerminologySet.Shipped;

        // Examples refused by the hand-typed subsets: the CI-SIS volets' own format codes, facility and type codes.
        Assert.True(set.Check(Terminology.FormatCodesUrl, "urn:oid:1.2.250.1.213.1.1.4.2.282", "urn:asip:ci-sis:vsm:2012", Now).Ok);
        Assert.True(set.Check(Terminology.FormatCodesUrl, "https://mos.esante.gouv.fr/NOS/TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire", "urn:ans:ci-sis:cse-mde:2023", Now).Ok);
        Assert.True(set.Check(Terminology.FacilityTypesUrl, "1.2.250.1.71.4.2.4", "SA24", Now).Ok);
        Assert.True(set.Check(Terminology.TypeCodesUrl, "2.16.840.1.113883.6.1", "29274-8", Now).Ok);

        // In J10, but retired in TRE_A11 on 2024-01-26: still displayed, refused for a new document.
        var retired = set.Check(Terminology.FormatCodesUrl, Terminology.FormatSystem, "urn:ihe:pat:apsr:breast:2010", Now);
        Assert.False(retired.Ok);
        Assert.Contains("retired on 2024-01-26", retired.Problem, StringComparison.Ordinal);
        Assert.Equal("Compte rendu d'anatomie et de cytologie pathologiques - Sein", set.Display(Terminology.FormatSystem, "urn:ihe:pat:apsr:breast:2010"));
        Assert.True(set.Check(Terminology.FormatCodesUrl, Terminology.FormatSystem, "urn:ihe:pat:apsr:breast:2010", new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero)).Ok);
    }

    [Fact]
    public void HistoricalSpellings_MapToThePublishedSystems()
    {
        var set = TerminologySet.Shipped;
        Assert.Equal(Terminology.VisibilityCanonicalSystem, set.Canonical(Terminology.VisibilitySystem));
        Assert.Equal(Terminology.ConfidentialityAnsSystem, set.Canonical("http://terminology.hl7.org/CodeSystem/v3-Confidentiality"));
        Assert.Equal("Très restreint", set.Find(Terminology.ConfidentialityCodesUrl, "2.16.840.1.113883.5.25", "V")!.Display);
        Assert.Equal("1.2.250.1.213.1.1.4.12", set.OidOf(Terminology.TypeCodeSystem));
        Assert.Equal(Terminology.ClassSystem, set.SystemOfOid("1.2.250.1.213.1.1.4.1"));
    }

    [Fact]
    public void Expand_FiltersOnCodeAndDisplay_IgnoringCaseAndAccents()
    {
        var set = TerminologySet.Shipped;
        var j02 = set.ValueSet(Terminology.FacilityTypesUrl)!;
        var hits = set.Expand(j02, "etablissement sante", activeOnly: true, Now).ToList();
        Assert.NotEmpty(hits);
        Assert.All(hits, h => Assert.Contains("tablissement", h.Display, StringComparison.OrdinalIgnoreCase));
        Assert.Contains(hits, h => h.Code == "SA01");
    }

    [Fact]
    public void Publications_ThatCannotBeHonoured_AreRefusedWithTheElementNamed()
    {
        var filter = """{"resourceType":"ValueSet","id":"x","url":"https://example.org/vs","version":"1","compose":{"include":[{"system":"http://loinc.org","filter":[{"property":"class","op":"=","value":"DOC"}]}]}}""";
        Assert.Contains("compose.include[0]", Assert.Throws<DmpException>(() => TerminologyJson.Parse(filter, "f.json")).Message, StringComparison.Ordinal);
        var noVersion = """{"resourceType":"CodeSystem","id":"x","url":"https://example.org/cs","concept":[]}""";
        Assert.Contains("version", Assert.Throws<DmpException>(() => TerminologyJson.Parse(noVersion, "f.json")).Message, StringComparison.Ordinal);
        var notTerminology = """{"resourceType":"Patient","id":"x","url":"u","version":"1"}""";
        Assert.Contains("not a terminology resource", Assert.Throws<DmpException>(() => TerminologyJson.Parse(notTerminology, "f.json")).Message, StringComparison.Ordinal);
        var deep = new string('[', 200) + new string(']', 200);
        Assert.Contains("not valid JSON", Assert.Throws<DmpException>(() => TerminologyJson.Parse(deep, "f.json")).Message, StringComparison.Ordinal);
    }
}
