using System.Net;
using Hl7.Fhir.Model;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Clinical;

/// <summary>
/// Stays with their diagnoses and acts, vaccinations, and the patient summary ($summary) assembled
/// under the caller's rights: a section the caller may not see is absent, masked content never shows.
/// </summary>
public abstract class SummaryTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static DocumentToSubmit Letter(string title, string type = "11490-0", string cls = "10") =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: type, ClassCode: cls);

    private static string Location(Bundle response, string type) =>
        response.Entry.Select(e => e.Response.Location).First(l => l.StartsWith(type + "/", StringComparison.Ordinal)).Split('/')[1];

    private static Bundle.EntryComponent Entry(Resource r, string fullUrl) =>
        new() { FullUrl = fullUrl, Resource = r, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = r.TypeName } };

    /// <summary>A discharge letter with its stay, two diagnoses (the first ranked main) and an act.</summary>
    private static Bundle Stay(TestPatient patient, TestProfessional author, string main, string mainDisplay, string? other = null)
    {
        var bundle = SubmissionBuilder.Build(patient.Reference, author.Rpps, author.Display, [Letter("Lettre de liaison")]);
        var stayUrl = "urn:uuid:" + Guid.NewGuid();
        var mainUrl = "urn:uuid:" + Guid.NewGuid();
        var stay = new Encounter
        {
            Status = Encounter.EncounterStatus.Finished,
            Class = new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", "inpatient encounter"),
            Subject = new ResourceReference(patient.Reference),
            Period = new Period { Start = DateTimeOffset.UtcNow.AddDays(-10).ToString("o"), End = DateTimeOffset.UtcNow.AddDays(-3).ToString("o") },
            ServiceProvider = new ResourceReference { Display = "CH de Test — cardiologie" },
            Diagnosis = [new Encounter.DiagnosisComponent { Condition = new ResourceReference(mainUrl), Rank = 1 }],
        };
        bundle.Entry.Add(Entry(stay, stayUrl));
        bundle.Entry.Add(Entry(new Condition { Subject = new ResourceReference(patient.Reference), Code = new CodeableConcept(Stays.Cim10, main, mainDisplay), Encounter = new ResourceReference(stayUrl) }, mainUrl));
        if (other is not null)
        {
            var otherUrl = "urn:uuid:" + Guid.NewGuid();
            stay.Diagnosis.Add(new Encounter.DiagnosisComponent { Condition = new ResourceReference(otherUrl), Rank = 2 });
            bundle.Entry.Add(Entry(new Condition { Subject = new ResourceReference(patient.Reference), Code = new CodeableConcept(Stays.Cim10, other, "Diabète de type 2") }, otherUrl));
        }

        bundle.Entry.Add(Entry(new AllergyIntolerance
        {
            Patient = new ResourceReference(patient.Reference),
            Code = new CodeableConcept("http://snomed.info/sct", "293637006", "Allergie aux produits de contraste iodés"),
            VerificationStatus = new CodeableConcept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"),
        }, "urn:uuid:" + Guid.NewGuid()));
        bundle.Entry.Add(Entry(new MedicationStatement
        {
            Status = MedicationStatement.MedicationStatusCodes.Active,
            Subject = new ResourceReference(patient.Reference),
            Medication = new CodeableConcept(Prescriptions.SubstanceSystem, "100000091466", "BISOPROLOL"),
            Effective = new FhirDateTime(DateTimeOffset.UtcNow.AddDays(-3)),
        }, "urn:uuid:" + Guid.NewGuid()));
        bundle.Entry.Add(Entry(new Procedure { Status = EventStatus.Completed, Subject = new ResourceReference(patient.Reference), Code = new CodeableConcept(Stays.Ccam, "DDQH009", "Coronarographie"), Performed = new FhirDateTime(DateTimeOffset.UtcNow.AddDays(-9)) }, "urn:uuid:" + Guid.NewGuid()));
        return bundle;
    }

    private static async Task<Bundle> SummaryAsync(HttpClient http, TestPatient patient)
    {
        using var r = await http.GetAsync($"/fhir/Patient/{patient.Id}/$summary");
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return FhirJson.Parse<Bundle>(body);
    }

    private static string[] Sections(Bundle summary) =>
        ((Composition)summary.Entry[0].Resource!).Section.Select(s => s.Code.Coding[0].Code!).ToArray();

    private static Composition.SectionComponent Section(Bundle summary, string code) =>
        ((Composition)summary.Entry[0].Resource!).Section.Single(s => s.Code.Coding[0].Code == code);

    private static async Task DeclareAsync(HttpClient http, TestPatient patient)
    {
        using var declared = await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true)));
        Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheSummary_ShowsWhatTheCallerMaySee_AndNothingElse()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var gpClient = Server.Fhir(gp.Certificate);
        var gpHttp = Server.Http(gp.Certificate);

        // A stay with its letter; its diagnoses and act are linked to it.
        var filed = await gpClient.TransactionAsync(Stay(patient, gp, "I21.9", "Infarctus aigu du myocarde", other: "E11.9"));
        var stayId = Location(filed!, "Encounter");
        var stayLetter = Location(filed!, "DocumentReference");
        using (var conditions = await gpHttp.GetAsync($"/fhir/Condition?patient={patient.Id}&encounter=Encounter/{stayId}&_total=accurate"))
        {
            var found = await FhirAssert.BundleAsync(conditions);
            Assert.Equal(2, found.Total);
            Assert.All(found.Entry, e => Assert.Equal("Encounter/" + stayId, ((Condition)e.Resource!).Encounter.Reference));
        }

        var stay = await gpClient.ReadAsync<Encounter>("Encounter/" + stayId);
        Assert.StartsWith("Condition/", stay!.Diagnosis[0].Condition.Reference, StringComparison.Ordinal);

        // A psychiatric stay the patient masks.
        var psy = await gpClient.TransactionAsync(Stay(patient, gp, "F32.2", "Épisode dépressif sévère"));
        var psyLetter = Location(psy!, "DocumentReference");
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        using (var masked = await patientHttp.PostAsync($"/fhir/DocumentReference/{psyLetter}/$mask", FhirAssert.Json(new Parameters())))
        {
            Assert.True(masked.IsSuccessStatusCode, await masked.Content.ReadAsStringAsync());
        }

        // A vaccination, a prescription, a result, an allergy the patient declared.
        var vaccination = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Letter("Note de vaccination", "87273-9", "52")]).WithEntries(new Immunization
        {
            Status = Immunization.ImmunizationStatusCodes.Completed,
            VaccineCode = new CodeableConcept("http://snomed.info/sct", "836398006", "Vaccin antipneumococcique"),
            Patient = new ResourceReference(patient.Reference),
            Occurrence = new FhirDateTime(DateTimeOffset.UtcNow.AddDays(-40)),
        });
        await gpClient.TransactionAsync(vaccination);
        await gpClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Ordonnance"), "application/pdf", "Ordonnance", TypeCode: "57833-6", ClassCode: "42")])
            .WithEntries(new MedicationRequest
            {
                Status = MedicationRequest.MedicationrequestStatus.Active,
                Intent = MedicationRequest.MedicationRequestIntent.Order,
                Subject = new ResourceReference(patient.Reference),
                Medication = new CodeableConcept(Prescriptions.SubstanceSystem, "100000091466", "BISOPROLOL"),
                AuthoredOn = DateTimeOffset.UtcNow.ToString("o"),
                DispenseRequest = new MedicationRequest.DispenseRequestComponent { Quantity = new Quantity(30, "comprimé"), NumberOfRepeatsAllowed = 2 },
            }));
        using (var result = await gpHttp.PostAsync("/fhir/Observation", FhirAssert.Json(new Observation
        {
            Status = ObservationStatus.Final,
            Code = new CodeableConcept("http://loinc.org", "4548-4", "HbA1c"),
            Subject = new ResourceReference(patient.Reference),
            Effective = new FhirDateTime(DateTimeOffset.UtcNow.AddDays(-5)),
            Value = new Quantity { Value = 7.2m, Unit = "%", Code = "%", System = "http://unitsofmeasure.org" },
        })))
        {
            Assert.Equal(HttpStatusCode.Created, result.StatusCode);
        }

        await Server.WithScopeAsync(sp => sp.GetRequiredService<PersonalSpaceService>().SaveAsync(patient.Id, "allergy", new Dictionary<string, string?> { ["substance"] = "Pénicilline", ["reaction"] = "urticaire" }, new Actor(ActorKind.Patient, patient.Id, "patient"), Channels.Portal, CancellationToken.None));
        await Server.WithScopeAsync(sp => sp.GetRequiredService<PersonalSpaceService>().SaveAsync(patient.Id, "surgery", new Dictionary<string, string?> { ["procedure"] = "Appendicectomie", ["date"] = "1995-06-01" }, new Actor(ActorKind.Patient, patient.Id, "patient"), Channels.Portal, CancellationToken.None));

        // The treating physician sees every section, the masked stay included.
        var full = await SummaryAsync(gpHttp, patient);
        Assert.Equal(Bundle.BundleType.Document, full.Type);
        Assert.Equal("60591-5", ((Composition)full.Entry[0].Resource!).Type.Coding[0].Code);
        Assert.Equal(["11450-4", "10160-0", "48765-2", "30954-2", "46240-8", "47519-4", "11348-0", "11369-6"], Sections(full));
        Assert.True(Section(full, "46240-8").Text.Div.Contains("Infarctus aigu du myocarde", StringComparison.Ordinal), Section(full, "46240-8").Text.Div);
        Assert.Contains("F32.2", FhirJson.Serialize(full), StringComparison.Ordinal);
        // The treatment at discharge and the prescription of the same medication: one medication, both sources.
        var bisoprolol = full.Entry.Select(e => e.Resource).OfType<MedicationStatement>().Single(m => ((CodeableConcept)m.Medication).Coding[0].Code == "100000091466");
        Assert.Equal(["discharge-letter", "prescription"], bisoprolol.Extension.Select(e => ((Code)e.Value).Value).Order(StringComparer.Ordinal));
        // Allergies: the one a professional recorded, and the one the patient declared, marked as such.
        var allergies = full.Entry.Select(e => e.Resource).OfType<AllergyIntolerance>().ToList();
        var declaredAllergy = allergies.Single(a => a.Asserter?.Reference == "Patient/" + patient.Id);
        Assert.Equal("unconfirmed", declaredAllergy.VerificationStatus.Coding[0].Code);
        Assert.Equal(2, allergies.Count(a => a != declaredAllergy && a.VerificationStatus.Coding[0].Code == "confirmed")); // one per letter
        Assert.Contains("Appendicectomie", Section(full, "11348-0").Text.Div, StringComparison.Ordinal);
        Assert.All(((Composition)full.Entry[0].Resource!).Section.SelectMany(s => s.Entry), r => Assert.Contains(full.Entry, e => e.FullUrl == r.Reference));

        // Another physician: the masked stay is absent — not even its codes.
        var other = await Server.AddProfessionalAsync();
        var otherHttp = Server.Http(other.Certificate);
        await DeclareAsync(otherHttp, patient);
        var partial = FhirJson.Serialize(await SummaryAsync(otherHttp, patient));
        Assert.DoesNotContain("F32.2", partial, StringComparison.Ordinal);
        Assert.DoesNotContain("dépressif", partial, StringComparison.Ordinal);
        Assert.DoesNotContain(psyLetter, partial, StringComparison.Ordinal);
        Assert.Contains("I21.9", partial, StringComparison.Ordinal);

        // A pharmacist: no stays, problems, acts or vaccinations (the matrix); medications, results and allergies.
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Martin", "Claire");
        var phHttp = Server.Http(pharmacist.Certificate);
        await DeclareAsync(phHttp, patient);
        var pharma = await SummaryAsync(phHttp, patient);
        Assert.Equal(["10160-0", "48765-2", "30954-2", "11348-0"], Sections(pharma));
        Assert.Single(pharma.Entry.Select(e => e.Resource).OfType<AllergyIntolerance>());
        var pharmaJson = FhirJson.Serialize(pharma);
        Assert.DoesNotContain("I21.9", pharmaJson, StringComparison.Ordinal);
        Assert.DoesNotContain(stayLetter, pharmaJson, StringComparison.Ordinal);
        Assert.Contains("BISOPROLOL", pharmaJson, StringComparison.Ordinal);
        Assert.DoesNotContain("discharge-letter", pharmaJson, StringComparison.Ordinal);

        // The patient sees their own summary.
        Assert.Contains("46240-8", Sections(await SummaryAsync(patientHttp, patient)));

        // Stay entries must reference the stay of their transaction; a stay is filed with a letter.
        var bad = Stay(patient, gp, "I10", "HTA");
        ((Condition)bad.Entry.Single(e => e.Resource is Condition).Resource).Encounter = new ResourceReference("Encounter/elsewhere");
        using (var refused = await gpHttp.PostAsync("/fhir", FhirAssert.Json(bad)))
        {
            await FhirAssert.OutcomeAsync(refused, HttpStatusCode.UnprocessableEntity, "encounter must reference the stay");
        }
    }
}

public sealed class SummaryTests_Sqlite() : SummaryTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class SummaryTests_Postgres(PostgresCluster pg) : SummaryTests(new PostgresStorage(pg, "summary"));
