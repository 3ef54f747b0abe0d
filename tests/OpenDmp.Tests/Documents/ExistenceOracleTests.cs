using System.Net;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>A document someone may not see cannot be probed by its id: references to it answer like references to nothing, and answers about other documents do not name it.</summary>
public abstract class ExistenceOracleTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static DocumentToSubmit Doc(string title, string? replaces = null) =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, ReplacesDocumentId: replaces);

    private async Task<(TestProfessional Gp, TestProfessional Cardio, TestPatient Patient, string Masked)> WorldAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var masked = await Server.SubmitAsync(gp, patient, Doc("Compte rendu psychiatrique"));
        var cardio = await Server.AddProfessionalAsync("10", "SM04", "Bernard", "Louis");
        using (var declared = await Server.Http(cardio.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Integration.TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        using (var m = await patientHttp.PostAsync($"/fhir/DocumentReference/{masked}/$mask", null))
        {
            Assert.Equal(HttpStatusCode.OK, m.StatusCode);
        }

        return (gp, cardio, patient, masked);
    }

    private static string Diagnostics(string body, string id, string replacement = "ID") =>
        string.Join("|", Core.Fhir.FhirJson.Parse<Hl7.Fhir.Model.OperationOutcome>(body).Issue.Select(i => i.Diagnostics)).Replace(id, replacement, StringComparison.Ordinal);

    /// <summary>Regression: "replaces" a masked document answered 404, an absent one 422; "appends" to a masked one was accepted.</summary>
    [Theory]
    [InlineData("replaces")]
    [InlineData("appends")]
    [InlineData("transforms")]
    public async Task RelatesToAMaskedDocument_AnswersLikeRelatesToNothing(string kind)
    {
        var (_, cardio, patient, masked) = await WorldAsync();
        var absent = Guid.NewGuid().ToString();
        var http = Server.Http(cardio.Certificate);
        async Task<(HttpStatusCode, string)> SubmitAsync(string target)
        {
            var b = SubmissionBuilder.Build(patient.Reference, cardio.Rpps, cardio.Display, [Doc("Addendum")]);
            var d = b.Entry.Select(e => e.Resource).OfType<Hl7.Fhir.Model.DocumentReference>().Single();
            d.RelatesTo.Add(new Hl7.Fhir.Model.DocumentReference.RelatesToComponent { Code = Hl7.Fhir.Utility.EnumUtility.ParseLiteral<Hl7.Fhir.Model.DocumentRelationshipType>(kind), Target = new Hl7.Fhir.Model.ResourceReference("DocumentReference/" + target) });
            using var r = await http.PostAsync("/fhir", FhirAssert.Json(b));
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }

        var (maskedStatus, maskedBody) = await SubmitAsync(masked);
        var (absentStatus, absentBody) = await SubmitAsync(absent);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, absentStatus);
        Assert.Equal(absentStatus, maskedStatus);
        Assert.Equal(Diagnostics(absentBody, absent), Diagnostics(maskedBody, masked));
    }

    /// <summary>Regression: a visible addendum's relatesTo named the masked document's id.</summary>
    [Fact]
    public async Task VisibleAddendum_DoesNotNameTheMaskedDocument()
    {
        var (gp, cardio, patient, masked) = await WorldAsync();
        var b = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Doc("Addendum")]);
        b.Entry.Select(e => e.Resource).OfType<Hl7.Fhir.Model.DocumentReference>().Single().RelatesTo.Add(new Hl7.Fhir.Model.DocumentReference.RelatesToComponent { Code = Hl7.Fhir.Model.DocumentRelationshipType.Appends, Target = new Hl7.Fhir.Model.ResourceReference("DocumentReference/" + masked) });
        using (var r = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(b)))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        var http = Server.Http(cardio.Certificate);
        using var search = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}");
        var body = await search.Content.ReadAsStringAsync();
        Assert.Contains("Addendum", body, StringComparison.Ordinal);
        Assert.DoesNotContain(masked, body, StringComparison.Ordinal);
        var addendum = (await FhirAssert.BundleAsync(await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))).Entry.Single().Resource.Id;
        Assert.DoesNotContain(masked, await (await http.GetAsync($"/fhir/DocumentReference/{addendum}")).Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The author (who sees the masked document) still sees the link.
        Assert.Contains(masked, await (await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference/{addendum}")).Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    /// <summary>Regression: the 403 for a document id told the professional whose record it was (the patient's id in the advice).</summary>
    [Fact]
    public async Task RefusalOfADocumentId_DoesNotNameThePatient()
    {
        var (_, _, patient, masked) = await WorldAsync();
        var stranger = await Server.AddProfessionalAsync("10", "SM54", "Sans", "Droit");
        using var response = await Server.Http(stranger.Certificate).GetAsync($"/fhir/DocumentReference/{masked}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.DoesNotContain(patient.Id, body, StringComparison.Ordinal);
        Assert.Contains("$declare-access", body, StringComparison.Ordinal);
    }
}

public sealed class ExistenceOracleTests_Sqlite() : ExistenceOracleTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ExistenceOracleTests_Postgres(PostgresCluster pg) : ExistenceOracleTests(new PostgresStorage(pg, "oracles"));
