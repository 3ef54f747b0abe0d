using System.Net;
using Hl7.Fhir.Model;
using Hl7.Fhir.Rest;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Clinical;

/// <summary>
/// E-prescription with dispensing through the real server (mTLS, Firely client): prescribe, retrieve by
/// the prescription identifier with the patient, dispense in part then in full, renew until the limit;
/// the prescriber sees the execution unless the patient opposes it; the medication list shows each
/// medication once with its sources; the pharmacist's matrix still applies.
/// </summary>
public abstract class PrescriptionTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private const string Cis = "https://smt.esante.gouv.fr/terminologie-cis";

    private static DocumentToSubmit Prescription(string title = "Ordonnance") =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: "57833-6", ClassCode: "42");

    private static DocumentToSubmit Dispensing(string prescriptionDocId) =>
        new(SubmissionBuilder.MinimalPdf("Dispensation"), "application/pdf", "Dispensation", TypeCode: "60593-1", ClassCode: "43", AppendsToDocumentId: prescriptionDocId);

    private static MedicationRequest Line(TestPatient patient, string system, string code, string display, decimal perFill, int repeats, DateTimeOffset? authoredOn = null) => new()
    {
        Status = MedicationRequest.MedicationrequestStatus.Active,
        Intent = MedicationRequest.MedicationRequestIntent.Order,
        Subject = new ResourceReference(patient.Reference),
        Medication = new CodeableConcept(system, code, display),
        // Written in Paris summer time: instants are stored in UTC whatever offset the software sends.
        AuthoredOn = (authoredOn ?? DateTimeOffset.UtcNow).ToOffset(TimeSpan.FromHours(2)).ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
        DosageInstruction = [new Dosage { Text = "1 comprimé matin et soir" }],
        DispenseRequest = new MedicationRequest.DispenseRequestComponent { Quantity = new Quantity(perFill, "comprimé"), NumberOfRepeatsAllowed = repeats },
    };

    private static MedicationDispense Dispense(TestPatient patient, string requestId, decimal quantity) => new()
    {
        Medication = new CodeableConcept(Prescriptions.SubstanceSystem, "100000090270", "PARACETAMOL"),
        Status = MedicationDispense.MedicationDispenseStatusCodes.Completed,
        Subject = new ResourceReference(patient.Reference),
        AuthorizingPrescription = [new ResourceReference("MedicationRequest/" + requestId)],
        Quantity = new Quantity(quantity, "comprimé"),
        WhenHandedOver = DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(1)).ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Location(Bundle response, string type) =>
        response.Entry.Select(e => e.Response.Location).First(l => l.StartsWith(type + "/", StringComparison.Ordinal)).Split('/')[1];

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, Bundle bundle) => await http.PostAsync("/fhir", FhirAssert.Json(bundle));

    private static async Task<List<MedicationRequest>> LinesAsync(HttpClient http, string query)
    {
        using var r = await http.GetAsync("/fhir/MedicationRequest?" + query);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return FhirJson.Parse<Bundle>(body).Entry.Select(e => (MedicationRequest)e.Resource!).ToList();
    }

    private static Extension? Execution(MedicationRequest line) => line.GetExtension(Prescriptions.DispensingExtension);

    private static string? State(MedicationRequest line, string part = "state") => (Execution(line)?.GetExtensionValue<Code>(part))?.Value;

    private static async Task<List<T>> SearchAsync<T>(HttpClient http, string query)
        where T : Resource
    {
        using var r = await http.GetAsync("/fhir/" + query);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return FhirJson.Parse<Bundle>(body).Entry.Select(e => (T)e.Resource!).ToList();
    }

    [Fact]
    public async Task Prescribe_Retrieve_DispenseInParts_Renew_UntilTheLimit_UnderThePatientsRules()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var gpClient = Server.Fhir(gp.Certificate);
        var gpHttp = Server.Http(gp.Certificate);

        // The prescriber files the prescription: its document and two structured lines.
        var prescribed = await gpClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription()])
            .WithEntries(
                Line(patient, Cis, "60234100", "AMOXICILLINE 1 g", 12, 0),
                Line(patient, Prescriptions.SubstanceSystem, "100000090270", "PARACETAMOL 500 mg", 16, 1)));
        var prescriptionDoc = Location(prescribed!, "DocumentReference");
        var lineIds = prescribed!.Entry.Select(e => e.Response.Location).Where(l => l.StartsWith("MedicationRequest/", StringComparison.Ordinal)).Select(l => l.Split('/')[1]).ToList();
        Assert.Equal(2, lineIds.Count);
        var amoxicillin = await gpClient.ReadAsync<MedicationRequest>("MedicationRequest/" + lineIds[0]);
        var identifier = amoxicillin!.GroupIdentifier.Value;
        Assert.Equal(Prescriptions.IdentifierSystem, amoxicillin.GroupIdentifier.System);
        Assert.Matches("^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", identifier);
        Assert.Equal("not-executed", State(amoxicillin));
        Assert.Equal("DocumentReference/" + prescriptionDoc, amoxicillin.SupportingInformation.Single().Reference);

        // The QR code of the paper copy carries the identifier.
        using (var qr = await gpHttp.GetAsync($"/fhir/MedicationRequest/{lineIds[0]}/$qr-code"))
        {
            Assert.Equal(HttpStatusCode.OK, qr.StatusCode);
            Assert.Equal("image/svg+xml", qr.Content.Headers.ContentType?.MediaType);
            Assert.Contains("<svg", await qr.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The pharmacist: the identifier alone is no access key; with the patient, the usual rules apply.
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Martin", "Claire");
        var phHttp = Server.Http(pharmacist.Certificate);
        using (var alone = await phHttp.GetAsync($"/fhir/MedicationRequest?group-identifier={identifier}"))
        {
            await FhirAssert.OutcomeAsync(alone, HttpStatusCode.BadRequest, "not an access key");
        }

        var byCard = $"group-identifier={identifier}&patient.identifier={patient.System}|{patient.Ins}";
        using (var noAccess = await phHttp.GetAsync("/fhir/MedicationRequest?" + byCard))
        {
            Assert.Equal(HttpStatusCode.Forbidden, noAccess.StatusCode);
        }

        using (var declared = await phHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        var lines = await LinesAsync(phHttp, byCard);
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Equal("not-executed", State(l)));
        Assert.Equal(1, (int?)(Execution(lines.Single(l => l.Id == lineIds[1]))!.GetExtensionValue<UnsignedInt>("renewalsRemaining"))?.Value);

        // The matrix still applies: a pharmacist does not read the consultation notes.
        var noteDoc = Location((await gpClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Note"), "application/pdf", "Compte rendu de psychiatrie", TypeCode: "11488-4", ClassCode: "10")])))!, "DocumentReference");
        using (var note = await phHttp.GetAsync($"/fhir/DocumentReference/{noteDoc}"))
        {
            Assert.True(note.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound);
        }

        // First dispensing: amoxicillin in full, paracetamol in part.
        var pharmaClient = Server.Fhir(pharmacist.Certificate);
        var first = await pharmaClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Dispensing(prescriptionDoc)])
            .WithEntries(Dispense(patient, lineIds[0], 12), Dispense(patient, lineIds[1], 8)));
        Assert.Equal(2, first!.Entry.Count(e => e.Response.Location.StartsWith("MedicationDispense/", StringComparison.Ordinal)));

        // The prescriber sees it automatically: partially executed.
        var seen = await LinesAsync(gpHttp, $"patient={patient.Id}");
        Assert.Equal("executed", State(seen.Single(l => l.Id == lineIds[0])));
        Assert.Equal("partially-executed", State(seen.Single(l => l.Id == lineIds[1])));
        Assert.All(seen, l => Assert.Equal("partially-executed", State(l, "prescriptionState")));

        // Second dispensing completes it.
        await pharmaClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Dispensing(prescriptionDoc)])
            .WithEntries(Dispense(patient, lineIds[1], 8)));
        seen = await LinesAsync(gpHttp, $"patient={patient.Id}");
        Assert.All(seen, l => Assert.Equal("executed", State(l, "prescriptionState")));
        Assert.Equal(1, (int?)(Execution(seen.Single(l => l.Id == lineIds[1]))!.GetExtensionValue<UnsignedInt>("renewalsRemaining"))?.Value);

        // The one renewal allowed is dispensed; then no more, with the reason; amoxicillin allowed none.
        await pharmaClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Dispensing(prescriptionDoc)])
            .WithEntries(Dispense(patient, lineIds[1], 16)));
        var paracetamol = (await LinesAsync(phHttp, byCard)).Single(l => l.Id == lineIds[1]);
        Assert.Equal(0, (int?)Execution(paracetamol)!.GetExtensionValue<UnsignedInt>("renewalsRemaining")?.Value);
        Assert.Equal(MedicationRequest.MedicationrequestStatus.Completed, paracetamol.Status);
        var documentsBefore = await Server.CountDocumentsAsync();
        using (var past = await PostAsync(phHttp, SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Dispensing(prescriptionDoc)])
            .WithEntries(Dispense(patient, lineIds[1], 16))))
        {
            await FhirAssert.OutcomeAsync(past, HttpStatusCode.UnprocessableEntity, "no renewal remains");
        }

        using (var none = await PostAsync(phHttp, SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Dispensing(prescriptionDoc)])
            .WithEntries(Dispense(patient, lineIds[0], 1))))
        {
            await FhirAssert.OutcomeAsync(none, HttpStatusCode.UnprocessableEntity, "allows no renewal");
        }

        Assert.Equal(documentsBefore, await Server.CountDocumentsAsync());

        // Each medication once, with its sources; a new prescription of paracetamol is the same medication.
        await gpClient.TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription("Ordonnance 2")])
            .WithEntries(Line(patient, Prescriptions.SubstanceSystem, "100000090270", "PARACETAMOL 1 g", 8, 0)));
        var meds = await SearchAsync<MedicationStatement>(phHttp, $"MedicationStatement?patient={patient.Id}");
        Assert.Equal(2, meds.Count);
        var para = meds.Single(m => ((CodeableConcept)m.Medication).Coding[0].Code == "100000090270");
        Assert.Equal(5, para.DerivedFrom.Count);
        Assert.Equal(2, para.DerivedFrom.Count(r => r.Reference.StartsWith("MedicationRequest/", StringComparison.Ordinal)));
        Assert.Equal(["dispensing", "prescription"], para.Extension.Select(e => ((Code)e.Value).Value).Order(StringComparer.Ordinal));
        Assert.Equal(MedicationStatement.MedicationStatusCodes.Active, para.Status);

        // The patient opposes that the prescriber sees dispensing: the prescriber loses the execution and the dispensings, the pharmacist keeps them.
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        var prefs = new Parameters();
        prefs.Add("oppose-dispensing-to-prescriber", new FhirBoolean(true));
        using (var set = await patientHttp.PostAsync($"/fhir/Patient/{patient.Id}/$emergency-preferences", FhirAssert.Json(prefs)))
        {
            Assert.True(set.IsSuccessStatusCode, await set.Content.ReadAsStringAsync());
        }

        seen = await LinesAsync(gpHttp, $"patient={patient.Id}");
        Assert.Equal(3, seen.Count);
        Assert.All(seen, l => Assert.Null(Execution(l)));
        Assert.Empty(await SearchAsync<MedicationDispense>(gpHttp, $"MedicationDispense?patient={patient.Id}"));
        Assert.Empty(await SearchAsync<DocumentReference>(gpHttp, $"DocumentReference?patient={patient.Id}&type=60593-1"));
        var gpMeds = await SearchAsync<MedicationStatement>(gpHttp, $"MedicationStatement?patient={patient.Id}");
        Assert.All(gpMeds, m => Assert.DoesNotContain(m.DerivedFrom, r => r.Reference.StartsWith("MedicationDispense/", StringComparison.Ordinal)));
        Assert.Equal(4, (await SearchAsync<MedicationDispense>(phHttp, $"MedicationDispense?patient={patient.Id}")).Count);
        Assert.Equal(4, (await SearchAsync<MedicationDispense>(patientHttp, $"MedicationDispense?patient={patient.Id}")).Count);
    }

    [Fact]
    public async Task Dispensing_IsRefused_WithAReason_WhenTheShapeOrTheDatesAreWrong()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var gpHttp = Server.Http(gp.Certificate);
        var before = await Server.CountDocumentsAsync();

        // Prescription lines travel with a prescription document, not with a report.
        using (var wrong = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR"), "application/pdf", "CR")]).WithEntries(Line(patient, Cis, "60234100", "AMOXICILLINE", 12, 0))))
        {
            await FhirAssert.OutcomeAsync(wrong, HttpStatusCode.UnprocessableEntity, "prescription document (class 42");
        }

        var noQuantity = Line(patient, Cis, "60234100", "AMOXICILLINE", 12, 0);
        noQuantity.DispenseRequest.Quantity = null;
        using (var missing = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription()]).WithEntries(noQuantity)))
        {
            await FhirAssert.OutcomeAsync(missing, HttpStatusCode.UnprocessableEntity, "dispenseRequest.quantity");
        }

        Assert.Equal(before, await Server.CountDocumentsAsync());

        // A prescription written four months ago was never dispensed: too late for a first dispensing.
        var old = await Server.Fhir(gp.Certificate).TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription()])
            .WithEntries(Line(patient, Cis, "60234100", "AMOXICILLINE", 12, 3, DateTimeOffset.UtcNow.AddDays(-120))));
        var oldDoc = Location(old!, "DocumentReference");
        var oldLine = Location(old!, "MedicationRequest");
        using (var late = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Dispensing(oldDoc)]).WithEntries(Dispense(patient, oldLine, 12))))
        {
            await FhirAssert.OutcomeAsync(late, HttpStatusCode.UnprocessableEntity, "first dispensed within three months");
        }

        // Past its validity period, a prescription is no longer dispensed.
        var expiring = Line(patient, Cis, "60234100", "AMOXICILLINE", 12, 2, DateTimeOffset.UtcNow.AddDays(-40));
        expiring.DispenseRequest.ValidityPeriod = new Period { Start = DateTimeOffset.UtcNow.AddDays(-40).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), End = DateTimeOffset.UtcNow.AddDays(-2).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) };
        var expired = await Server.Fhir(gp.Certificate).TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription()]).WithEntries(expiring));
        using (var tooLate = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Dispensing(Location(expired!, "DocumentReference"))]).WithEntries(Dispense(patient, Location(expired!, "MedicationRequest"), 12))))
        {
            await FhirAssert.OutcomeAsync(tooLate, HttpStatusCode.UnprocessableEntity, "no longer valid");
        }

        // The dispensing document appends to the prescription's.
        var recent = await Server.Fhir(gp.Certificate).TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription()])
            .WithEntries(Line(patient, Cis, "60234100", "AMOXICILLINE", 12, 0)));
        var recentLine = Location(recent!, "MedicationRequest");
        using (var loose = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("D"), "application/pdf", "D", TypeCode: "60593-1", ClassCode: "43")]).WithEntries(Dispense(patient, recentLine, 12))))
        {
            await FhirAssert.OutcomeAsync(loose, HttpStatusCode.UnprocessableEntity, "must append to the prescription's document");
        }

        // An unknown line is refused like one the dispenser may not see.
        using (var unknown = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Dispensing(oldDoc)]).WithEntries(Dispense(patient, "nope", 1))))
        {
            await FhirAssert.OutcomeAsync(unknown, HttpStatusCode.UnprocessableEntity, "is not a prescription line of this patient's record");
        }

        // A client-given identifier already used is a conflict.
        var reused = Line(patient, Cis, "60234100", "AMOXICILLINE", 12, 0);
        reused.GroupIdentifier = new Identifier("urn:oid:1.2.3", (await Server.Fhir(gp.Certificate).ReadAsync<MedicationRequest>("MedicationRequest/" + recentLine))!.GroupIdentifier.Value);
        using (var conflict = await PostAsync(gpHttp, SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Prescription()]).WithEntries(reused)))
        {
            await FhirAssert.OutcomeAsync(conflict, HttpStatusCode.Conflict, "already used");
        }
    }
}

public sealed class PrescriptionTests_Sqlite() : PrescriptionTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class PrescriptionTests_Postgres(PostgresCluster pg) : PrescriptionTests(new PostgresStorage(pg, "prescriptions"));
