using System.Net;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// The profession × document-type matrix as data, read and write separately, by specialty where a
/// rule distinguishes it (issue 20): cells checked through the real server, each professional holding
/// the patient's consent, so that only the matrix decides.
/// </summary>
public abstract class MatrixTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Access:Matrix:10:0"] = "*",
        // A cardiologist reads everything and deposits summaries only.
        ["Access:Matrix:10/SM04:0"] = "read:*",
        ["Access:Matrix:10/SM04:1"] = "write:class:11",
        // A nurse deposits summaries and reads nothing.
        ["Access:Matrix:60:0"] = "write:class:11",
        // A pharmacist reads summaries and deposits dispensations.
        ["Access:Matrix:21:0"] = "read:class:11",
        ["Access:Matrix:21:1"] = "write:type:60593-1",
    };

    private static DocumentToSubmit Doc(string title, string type = "11488-4", string cls = "10") =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: type, ClassCode: cls);

    private async Task<HttpStatusCode> FileAsync(TestProfessional author, TestPatient patient, DocumentToSubmit doc)
    {
        using var r = await Server.Http(author.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, author.Rpps, author.Display, [doc])));
        return r.StatusCode;
    }

    private async Task<TestProfessional> ConsentedAsync(TestPatient patient, string profession, string? specialty, string family)
    {
        var p = await Server.AddProfessionalAsync(profession, specialty, family, "Test");
        using var r = await Server.Http(p.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(OpenDmp.Tests.Integration.TrustServicesTests.Declare("alleged", true)));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        return p;
    }

    [Fact]
    public async Task MatrixCells_ReadAndWriteSeparately_BySpecialty()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54");
        var patient = await Server.AddPatientAsync(gp);
        var report = await Server.SubmitAsync(gp, patient, Doc("CR de consultation"));
        var summary = await Server.SubmitAsync(gp, patient, Doc("Synthèse", "60591-5", "11"));

        // Cardiologist (10/SM04): reads the report, may not deposit one, deposits a summary.
        var cardiologist = await ConsentedAsync(patient, "10", "SM04", "Cardio");
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(cardiologist.Certificate).GetAsync($"/fhir/DocumentReference/{report}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, await FileAsync(cardiologist, patient, Doc("CR de cardiologie")));
        Assert.Equal(HttpStatusCode.OK, await FileAsync(cardiologist, patient, Doc("Synthèse cardiologique", "60591-5", "11")));

        // Nurse (60): deposits a summary, reads nothing.
        var nurse = await ConsentedAsync(patient, "60", null, "Infirmière");
        Assert.Equal(HttpStatusCode.OK, await FileAsync(nurse, patient, Doc("Synthèse infirmière", "60591-5", "11")));
        using (var search = await Server.Http(nurse.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, search.StatusCode);
            Assert.Contains("no access to the documents", await search.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Pharmacist (21): reads summaries only, deposits a dispensation, not a summary.
        var pharmacist = await ConsentedAsync(patient, "21", null, "Pharma");
        using (var search = await Server.Http(pharmacist.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            var bundle = FhirJson.Parse<Bundle>(await search.Content.ReadAsStringAsync());
            var seen = bundle.Entry.Where(e => e.Resource is DocumentReference).Select(e => (DocumentReference)e.Resource).ToList();
            Assert.Contains(seen, d => d.Id == summary);
            Assert.DoesNotContain(seen, d => d.Id == report);
            Assert.All(seen, d => Assert.Equal("11", d.Category[0].Coding[0].Code));
        }

        Assert.Equal(HttpStatusCode.NotFound, (await Server.Http(pharmacist.Certificate).GetAsync($"/fhir/DocumentReference/{report}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, await FileAsync(pharmacist, patient, Doc("Dispensation", "60593-1", "43")));
        Assert.Equal(HttpStatusCode.Forbidden, await FileAsync(pharmacist, patient, Doc("Synthèse officinale", "60591-5", "11")));
    }
}

public sealed class MatrixTests_Sqlite() : MatrixTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class MatrixTests_Postgres(PostgresCluster pg) : MatrixTests(new PostgresStorage(pg, "matrix"));
