using System.Text.Json;
using Hl7.Fhir.Model;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Clinical;

/// <summary>
/// The reimbursement history from the Synthea bundles' ExplanationOfBenefit resources: twelve months
/// of care by date, care type and professional, as a history document with its entries; pharmacy
/// reimbursements join the medication list, shown once with the prescription of the same medication.
/// </summary>
public abstract class ReimbursementTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static string TestData(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", .. parts]);

    private async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The claims of the twelve months up to the most recent one, read from the bundle itself.</summary>
    private static List<JsonElement> ExpectedClaims(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var eobs = doc.RootElement.GetProperty("entry").EnumerateArray().Select(e => e.GetProperty("resource")).Where(r => r.GetProperty("resourceType").GetString() == "ExplanationOfBenefit").Select(r => r.Clone()).ToList();
        DateTimeOffset When(JsonElement e) => DateTimeOffset.Parse(e.GetProperty("item")[0].GetProperty("servicedPeriod").GetProperty("start").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var last = eobs.Max(When);
        return eobs.Where(e => When(e) > last.AddMonths(-12)).ToList();
    }

    [Fact]
    public async Task TheSyntheaClaims_GiveTwelveMonthsOfReimbursements_ByDateCareTypeAndProfessional()
    {
        var file = TestData("synthea", "Bundle-Patient-01.json");
        var expected = ExpectedClaims(file);
        var (code, output, error) = await CliAsync("import", "fhir", TestData("synthea", "Bundle-Practitioner-01.json"), file);
        Assert.True(code == 0, error);
        Assert.Contains($"{expected.Count} reimbursed cares", output, StringComparison.Ordinal);

        var gp = await Server.AddProfessionalAsync();
        var patientId = "ec1a6cad-8825-7b5c-4e14-257c696d5f11";
        (code, _, error) = await CliAsync("record", "treating-physician", "--ins", patientId, "--rpps", gp.Rpps);
        Assert.True(code == 0, error);
        var http = Server.Http(gp.Certificate);
        using (var found = await http.GetAsync($"/fhir/ExplanationOfBenefit?patient={patientId}&_total=accurate"))
        {
            var bundle = await FhirAssert.BundleAsync(found);
            Assert.Equal(expected.Count, bundle.Total);
            var latest = (ExplanationOfBenefit)bundle.Entry[0].Resource!;
            Assert.Equal("professional", latest.Type.Coding[0].Code);
            Assert.False(string.IsNullOrEmpty(latest.Provider.Display));
            Assert.Equal("Patient/" + patientId, latest.Patient.Reference);
            Assert.Null(latest.Claim);
        }

        // The history document: class 60, type REMB, readable text by date, care type and professional.
        using (var docs = await http.GetAsync($"/fhir/DocumentReference?patient={patientId}&type=REMB"))
        {
            var history = (DocumentReference)Assert.Single((await FhirAssert.BundleAsync(docs)).Entry).Resource!;
            Assert.Equal("60", history.Category[0].Coding[0].Code);
            var text = await FhirAssert.RetrieveTextAsync(http, history.Content[0].Attachment.Url);
            Assert.Contains("Soins de ville", text, StringComparison.Ordinal);
            Assert.StartsWith("Historique des remboursements du ", text, StringComparison.Ordinal);
        }

        // Imported once.
        (code, output, _) = await CliAsync("import", "fhir", file);
        Assert.Equal(0, code);
        Assert.Contains("0 reimbursed cares", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APharmacyReimbursement_AndThePrescription_AreOneMedication_WithBothSources()
    {
        // A patient whose insurer reimbursed a medication two months ago.
        string U() => "urn:uuid:" + Guid.NewGuid();
        var ins = TestIds.NewIns();
        var patientUrl = U();
        var bundle = new Bundle { Type = Bundle.BundleType.Collection };
        bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = patientUrl, Resource = new Patient { Identifier = [new Identifier(OpenDmp.Core.Identity.Ins.NirSystem, ins)], Name = [new HumanName { Family = "REMBOURSEE", Given = ["Anne"] }], BirthDate = "1970-05-17", Gender = AdministrativeGender.Female } });
        var when = DateTimeOffset.UtcNow.AddMonths(-2);
        bundle.Entry.Add(new Bundle.EntryComponent
        {
            FullUrl = U(),
            Resource = new ExplanationOfBenefit
            {
                Status = ExplanationOfBenefit.ExplanationOfBenefitStatus.Active,
                Type = new CodeableConcept(ReimbursementHistory.ClaimTypeSystem, "pharmacy"),
                Use = ClaimUseCode.Claim,
                Patient = new ResourceReference(patientUrl),
                Created = when.ToString("o"),
                Insurer = new ResourceReference { Display = "Assurance Maladie" },
                Provider = new ResourceReference { Display = "Pharmacie du Centre" },
                Outcome = ClaimProcessingCodes.Complete,
                Item = [new ExplanationOfBenefit.ItemComponent { Sequence = 1, ProductOrService = new CodeableConcept("http://www.nlm.nih.gov/research/umls/rxnorm", "313782", "Acetaminophen 325 MG Oral Tablet"), Serviced = new Period { Start = when.ToString("o") } }],
                Insurance = [new ExplanationOfBenefit.InsuranceComponent { Focal = true, Coverage = new ResourceReference { Display = "Assurance Maladie" } }],
            },
        });
        var file = Path.Combine(Server.Data.Root, "remb.json");
        await File.WriteAllTextAsync(file, FhirJson.Serialize(bundle));
        var (code, output, error) = await CliAsync("import", "fhir", file);
        Assert.True(code == 0, error);
        Assert.Contains("1 reimbursed cares", output, StringComparison.Ordinal);

        var gp = await Server.AddProfessionalAsync();
        (code, _, error) = await CliAsync("record", "treating-physician", "--ins", ins, "--rpps", gp.Rpps);
        Assert.True(code == 0, error);
        var http = Server.Http(gp.Certificate);
        using var idSearch = await http.GetAsync($"/fhir/Patient?identifier={OpenDmp.Core.Identity.Ins.NirSystem}|{ins}");
        var patientId = (await FhirAssert.BundleAsync(idSearch)).Entry[0].Resource!.Id;

        // The GP prescribes the same medication.
        await Server.Fhir(gp.Certificate).TransactionAsync(SubmissionBuilder.Build("Patient/" + patientId, gp.Rpps, gp.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Ordonnance"), "application/pdf", "Ordonnance", TypeCode: "57833-6", ClassCode: "42")])
            .WithEntries(new MedicationRequest
            {
                Status = MedicationRequest.MedicationrequestStatus.Active,
                Intent = MedicationRequest.MedicationRequestIntent.Order,
                Subject = new ResourceReference("Patient/" + patientId),
                Medication = new CodeableConcept("http://www.nlm.nih.gov/research/umls/rxnorm", "313782", "PARACETAMOL 325 mg"),
                AuthoredOn = DateTimeOffset.UtcNow.ToString("o"),
                DispenseRequest = new MedicationRequest.DispenseRequestComponent { Quantity = new Quantity(20, "comprimé") },
            }));

        using var list = await http.GetAsync($"/fhir/MedicationStatement?patient={patientId}");
        var statement = (MedicationStatement)Assert.Single((await FhirAssert.BundleAsync(list)).Entry).Resource!;
        Assert.Equal(["prescription", "reimbursement"], statement.Extension.Select(e => ((Code)e.Value).Value).Order(StringComparer.Ordinal));
        Assert.Equal(2, statement.DerivedFrom.Count);
        Assert.Contains(statement.DerivedFrom, r => r.Reference.StartsWith("ExplanationOfBenefit/", StringComparison.Ordinal));

        // A pharmacist does not see reimbursement data (the matrix): the medication comes from the prescription only.
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Martin", "Claire");
        var phHttp = Server.Http(pharmacist.Certificate);
        using (var declared = await phHttp.PostAsync($"/fhir/Patient/{patientId}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        using var phList = await phHttp.GetAsync($"/fhir/MedicationStatement?patient={patientId}");
        var seen = (MedicationStatement)Assert.Single((await FhirAssert.BundleAsync(phList)).Entry).Resource!;
        Assert.Equal(["prescription"], seen.Extension.Select(e => ((Code)e.Value).Value));
        using var phEob = await phHttp.GetAsync($"/fhir/ExplanationOfBenefit?patient={patientId}&_total=accurate");
        Assert.Equal(0, (await FhirAssert.BundleAsync(phEob)).Total);
    }
}

public sealed class ReimbursementTests_Sqlite() : ReimbursementTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ReimbursementTests_Postgres(PostgresCluster pg) : ReimbursementTests(new PostgresStorage(pg, "reimbursement"));
