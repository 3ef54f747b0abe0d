using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Core.Terminologies;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;
using ValueSet = Hl7.Fhir.Model.ValueSet;

namespace OpenDmp.Tests.Terminologies;

/// <summary>
/// The ANS terminology as data through the API: every code of the JDVs filed by ITI-65, codes
/// outside refused naming the field with nothing written, the public terminology services, and an
/// operator's import of a newer publication (in force, previous readable, idempotent, audited).
/// </summary>
public abstract class TerminologyApiTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static List<ExpansionItem> Active(string url) =>
        [.. TerminologySet.Shipped.Expand(TerminologySet.Shipped.ValueSet(url)!, null, activeOnly: true, DateTimeOffset.UtcNow)];

    private static DocumentToSubmit Note(string typeCode = "11488-4", string classCode = "10", string format = "urn:ihe:iti:xds-sd:text:2008", string facility = "SA07", string setting = "AMBULATOIRE", string confidentiality = "N", string? visibility = null) =>
        new(Encoding.UTF8.GetBytes("Compte rendu"), "text/plain", "Note", typeCode, classCode, format, facility, setting, confidentiality, Visibility: visibility);

    [Fact]
    public async Task EveryActiveCodeOfTheJdvs_IsAccepted_ByIti65()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var types = Active(Terminology.TypeCodesUrl);
        var classes = Active(Terminology.ClassCodesUrl);
        var formats = Active(Terminology.FormatCodesUrl);
        var facilities = Active(Terminology.FacilityTypesUrl);
        var settings = Active(Terminology.PracticeSettingsUrl);
        var confidentiality = Active(Terminology.ConfidentialityCodesUrl).Where(c => c.System == Terminology.ConfidentialityAnsSystem).ToList();
        var visibility = Active(Terminology.ConfidentialityCodesUrl).Where(c => c.System == Terminology.VisibilityCanonicalSystem).ToList();
        Assert.Equal((114, 13, 67, 64, 11, 3, 3), (types.Count, classes.Count, formats.Count, facilities.Count, settings.Count, confidentiality.Count, visibility.Count));

        var n = new[] { types.Count, classes.Count, formats.Count, facilities.Count, settings.Count }.Max();
        var docs = Enumerable.Range(0, n).Select(i => Note(types[i % types.Count].Code, classes[i % classes.Count].Code, formats[i % formats.Count].Code, facilities[i % facilities.Count].Code,
            settings[i % settings.Count].Code, confidentiality[i % confidentiality.Count].Code, i < visibility.Count ? visibility[i].Code : null)).ToList();
        var before = await Server.CountDocumentsAsync();
        foreach (var half in docs.Chunk((n + 1) / 2))
        {
            using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, half)));
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(before + n, await Server.CountDocumentsAsync());
    }

    public static TheoryData<string, string, string> OutsideCodes => new()
    {
        { "type", ".type", "is not in JDV_J07" },
        { "category", ".category", "is not in JDV_J06" },
        { "format", ".content[0].format", "is not in JDV_J10" },
        { "retired-format", ".content[0].format", "retired on 2024-01-26" },
        { "facility", ".context.facilityType", "is not in JDV_J02" },
        { "setting", ".context.practiceSetting", "is not in JDV_J04" },
        { "confidentiality", ".securityLabel", "is not in JDV_J08" },
        { "visibility", ".securityLabel", "is not in JDV_J08" },
    };

    [Theory]
    [MemberData(nameof(OutsideCodes))]
    public async Task ACodeOutsideTheJdv_Is422_NamingTheField_NothingWritten(string field, string expression, string message)
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var doc = field switch
        {
            "type" => Note(typeCode: "34117-2"),
            "category" => Note(classCode: "10"),
            "format" => Note(format: "urn:example:format:2026"),
            "retired-format" => Note(format: "urn:ihe:pat:apsr:breast:2010"),
            "facility" => Note(facility: "SA99"),
            "setting" => Note(setting: "URGENCES"),
            "confidentiality" => Note(confidentiality: "U"),
            _ => Note(visibility: "MASQUE_PT"),
        };
        var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [doc]);
        if (field == "category")
        {
            var d = bundle.Entry.Select(e => e.Resource).OfType<DocumentReference>().Single();
            d.Category = [new CodeableConcept(Terminology.ClassSystem, "12")];
        }

        var before = await Server.CountDocumentsAsync();
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(bundle));
        var oo = await FhirAssert.OutcomeAsync(response, HttpStatusCode.UnprocessableEntity, message);
        Assert.Contains(oo.Issue.SelectMany(i => i.Expression), e => e.EndsWith(expression, StringComparison.Ordinal));
        Assert.Equal(before, await Server.CountDocumentsAsync());
    }

    [Fact]
    public async Task TerminologyServices_ArePublic_AndAnswerPickListQuestions()
    {
        var anonymous = Server.Http(null);

        var search = FhirJson.Parse<Bundle>(await anonymous.GetStringAsync("/fhir/ValueSet?url=" + Uri.EscapeDataString(Terminology.TypeCodesUrl)));
        Assert.Equal(1, search.Total);
        Assert.Equal("20240927120000", ((ValueSet)search.Entry[0].Resource).Version);
        Assert.Equal("in-force", search.Entry[0].Resource.Meta.Tag[0].Code);
        Assert.True(FhirJson.Parse<Bundle>(await anonymous.GetStringAsync("/fhir/CodeSystem")).Total >= 18);

        var expansion = FhirJson.Parse<ValueSet>(await anonymous.GetStringAsync("/fhir/ValueSet/JDV-J10-XdsFormatCode-CISIS/$expand?filter=biologie&activeOnly=true"));
        Assert.Contains(expansion.Expansion.Contains, c => c.Code == "urn:ihe:lab:xd-lab:2008");
        Assert.DoesNotContain(expansion.Expansion.Contains, c => c.Inactive == true);
        var page = FhirJson.Parse<ValueSet>(await anonymous.GetStringAsync($"/fhir/ValueSet/$expand?url={Uri.EscapeDataString(Terminology.FacilityTypesUrl)}&count=10&offset=60"));
        Assert.Equal((64, 4), (page.Expansion.Total, page.Expansion.Contains.Count));

        var valid = FhirJson.Parse<Parameters>(await anonymous.GetStringAsync($"/fhir/ValueSet/$validate-code?url={Uri.EscapeDataString(Terminology.ClassCodesUrl)}&system=urn:oid:1.2.250.1.213.1.1.4.1&code=11"));
        Assert.True(((FhirBoolean)valid.GetSingleValue<FhirBoolean>("result")).Value);
        Assert.Equal("Synthèse", valid.GetSingleValue<FhirString>("display").Value);
        var retired = FhirJson.Parse<Parameters>(await anonymous.GetStringAsync($"/fhir/ValueSet/JDV-J10-XdsFormatCode-CISIS/$validate-code?system={Uri.EscapeDataString(Terminology.FormatSystem)}&code=urn:ihe:pat:apsr:lung:2010"));
        Assert.False(retired.GetSingleValue<FhirBoolean>("result").Value);
        Assert.Contains("retired", retired.GetSingleValue<FhirString>("message").Value, StringComparison.Ordinal);

        var lookup = FhirJson.Parse<Parameters>(await anonymous.GetStringAsync("/fhir/CodeSystem/$lookup?system=1.2.250.1.71.4.2.4&code=SA33"));
        Assert.Equal("TRE_R02_SecteurActivite", lookup.GetSingleValue<FhirString>("name").Value);
        Assert.Equal("Pharmacie d'officine", lookup.GetSingleValue<FhirString>("display").Value);

        using (var unknown = await anonymous.GetAsync("/fhir/CodeSystem/$lookup?system=1.2.250.1.71.4.2.4&code=SA999"))
        {
            await FhirAssert.OutcomeAsync(unknown, HttpStatusCode.NotFound, "not a code of");
        }

        using (var bad = await anonymous.GetAsync($"/fhir/ValueSet/$expand?url={Uri.EscapeDataString(Terminology.FacilityTypesUrl)}&count=-1"))
        {
            await FhirAssert.OutcomeAsync(bad, HttpStatusCode.BadRequest, "'count' must be a non-negative integer");
        }
    }

    [Fact]
    public async Task Import_PutsANewVersionInForce_KeepsThePreviousReadable_IsIdempotentAndAudited()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);

        // A document filed under TRE_A11 as shipped, with a format the new publication retires.
        using (var old = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note(format: "urn:ihe:iti:xds-sd:text:2008")]))))
        {
            Assert.Equal(HttpStatusCode.OK, old.StatusCode);
        }

        using (var before = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note(typeCode: "34117-2")]))))
        {
            await FhirAssert.OutcomeAsync(before, HttpStatusCode.UnprocessableEntity, "is not in JDV_J07");
        }

        // The newer publications: J07 with one more LOINC type; TRE_A11 retiring the plain-text format.
        var dir = Directory.CreateTempSubdirectory("opendmp-terminology-").FullName;
        var j07 = JsonNode.Parse(File.ReadAllText(ShippedFile("ValueSet-JDV-J07-XdsTypeCode-CISIS.json")).TrimStart('\uFEFF'))!.AsObject();
        j07["version"] = "20261130000000";
        j07["compose"]!["include"]!.AsArray().First(i => (string?)i!["system"] == Terminology.Loinc)!["concept"]!.AsArray()
            .Add(new JsonObject { ["code"] = "34117-2", ["display"] = "Observation d'histoire et d'examen clinique" });
        var j07File = Path.Combine(dir, "j07.json");
        await File.WriteAllTextAsync(j07File, j07.ToJsonString());
        var a11 = JsonNode.Parse(File.ReadAllText(ShippedFile("CodeSystem-TRE-A11-IheFormatCode.json")).TrimStart('\uFEFF'))!.AsObject();
        a11["version"] = "1.2.0";
        a11["concept"]!.AsArray().First(c => (string?)c!["code"] == "urn:ihe:iti:xds-sd:text:2008")!["property"]!.AsArray()
            .Add(new JsonObject { ["code"] = "dateFin", ["valueDateTime"] = "2026-01-01T00:00:00+01:00" });
        var a11File = Path.Combine(dir, "a11.json");
        await File.WriteAllTextAsync(a11File, a11.ToJsonString());

        var (code, output, error) = await CliAsync("terminology", "import", j07File, a11File);
        Assert.True(code == 0, error);
        Assert.Contains("imported, now in force", output, StringComparison.Ordinal);

        // The running instance re-reads the table within TerminologyCatalog.RefreshInterval; the test does not wait for it.
        await Server.Services.GetRequiredService<TerminologyCatalog>().RefreshAsync(force: true, CancellationToken.None);

        using (var after = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note(typeCode: "34117-2", format: "urn:ihe:iti:xds-sd:pdf:2008")]))))
        {
            Assert.True(after.StatusCode == HttpStatusCode.OK, await after.Content.ReadAsStringAsync());
        }

        using (var retired = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note(format: "urn:ihe:iti:xds-sd:text:2008")]))))
        {
            await FhirAssert.OutcomeAsync(retired, HttpStatusCode.UnprocessableEntity, "retired on 2026-01-01");
        }

        // The old document still displays its format; both versions of J07 are readable.
        Assert.Equal("Document à corps non structuré en texte brut", Server.Services.GetRequiredService<TerminologyCatalog>().Current.Display(Terminology.FormatSystem, "urn:ihe:iti:xds-sd:text:2008"));
        var versions = FhirJson.Parse<Bundle>(await Server.Http(null).GetStringAsync("/fhir/ValueSet?url=" + Uri.EscapeDataString(Terminology.TypeCodesUrl)));
        Assert.Equal(["20240927120000:superseded", "20261130000000:in-force"], versions.Entry.Select(e => $"{((ValueSet)e.Resource).Version}:{e.Resource.Meta.Tag[0].Code}"));
        var previous = FhirJson.Parse<ValueSet>(await Server.Http(null).GetStringAsync("/fhir/ValueSet/JDV-J07-XdsTypeCode-CISIS/_history/20240927120000"));
        Assert.DoesNotContain(previous.Compose.Include.SelectMany(i => i.Concept), c => c.Code == "34117-2");

        // Idempotent; a changed content under the same version is refused (exit 3).
        var (again, againOut, _) = await CliAsync("terminology", "import", j07File);
        Assert.Equal(0, again);
        Assert.Contains("already present", againOut, StringComparison.Ordinal);
        j07["title"] = "modifié";
        await File.WriteAllTextAsync(j07File, j07.ToJsonString());
        var (conflict, _, conflictErr) = await CliAsync("terminology", "import", j07File);
        Assert.Equal(3, conflict);
        Assert.Contains("a new publication must carry a new version", conflictErr, StringComparison.Ordinal);

        var audited = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(a => a.Action == AuditAction.TerminologyImport.Code()).Select(a => a.ObjectId).ToListAsync());
        Assert.Equal(["JDV-J07-XdsTypeCode-CISIS", "TRE-A11-IheFormatCode"], audited.Order(StringComparer.Ordinal));
        Directory.Delete(dir, true);
    }

    private static string ShippedFile(string name) =>
        Path.Combine(AppContext.BaseDirectory, "TestData", "ans-terminology", name);

    private async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}

public sealed class TerminologyApiTests_Sqlite() : TerminologyApiTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class TerminologyApiTests_Postgres(PostgresCluster pg) : TerminologyApiTests(new PostgresStorage(pg, "terminology"));
