using System.Net;
using Hl7.Fhir.Model;
using Hl7.Fhir.Rest;
using OpenDmp.Core.Documents;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using SearchParams = Hl7.Fhir.Rest.SearchParams;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>
/// The MHD cycle through a real Kestrel with real client certificates, with Firely's FhirClient:
/// feed (ITI-65), find (ITI-67, ITI-66), retrieve (ITI-68), replace, erase, delete. Runs on SQLite and PostgreSQL.
/// </summary>
public abstract class DocumentApiTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static DocumentToSubmit Pdf(string title, DateTimeOffset? date = null, string type = "11488-4", string cls = "10", string? replaces = null) =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: type, ClassCode: cls, Date: date, ReplacesDocumentId: replaces);

    private async Task<(TestProfessional Gp, TestPatient Patient, FhirClient Client)> WorldAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        return (gp, patient, Server.Fhir(gp.Certificate));
    }

    private static async Task<string> SubmitAsync(FhirClient client, TestProfessional author, TestPatient patient, params DocumentToSubmit[] docs)
    {
        var response = await client.TransactionAsync(SubmissionBuilder.Build(patient.Reference, author.Rpps, author.Display, docs));
        Assert.NotNull(response);
        Assert.Equal(Bundle.BundleType.TransactionResponse, response.Type);
        var location = response.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal));
        return location.Split('/')[1];
    }

    [Fact]
    public async Task FullCycle_FeedSearchRetrieveReplaceEraseDelete()
    {
        var (gp, patient, client) = await WorldAsync();
        var pdf = SubmissionBuilder.MinimalPdf("Compte rendu initial");
        var firstId = await SubmitAsync(client, gp, patient, new DocumentToSubmit(pdf, "application/pdf", "Compte rendu initial"));

        // ITI-67 by patient and by INS.
        var byPatient = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient", patient.Id));
        Assert.Single(byPatient!.Entry);
        var byIns = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient.identifier", $"{patient.System}|{patient.Ins}"));
        var doc = Assert.IsType<DocumentReference>(Assert.Single(byIns!.Entry).Resource);
        Assert.Equal(firstId, doc.Id);
        Assert.Equal("Patient/" + patient.Id, doc.Subject.Reference);

        // ITI-68: the attachment URL gives back the exact bytes.
        var url = doc.Content[0].Attachment.Url;
        Assert.StartsWith(Server.FhirBase + "/Binary/", url, StringComparison.Ordinal);
        var http = Server.Http(gp.Certificate);
        using (var req = new HttpRequestMessage(HttpMethod.Get, url))
        {
            req.Headers.Accept.Clear();
            req.Headers.Accept.ParseAdd("application/pdf");
            using var raw = await http.SendAsync(req);
            Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
            Assert.Equal("application/pdf", raw.Content.Headers.ContentType?.MediaType);
            Assert.Equal(pdf, await raw.Content.ReadAsByteArrayAsync());
        }

        var binary = await client.ReadAsync<Binary>(url);
        Assert.Equal(pdf, binary!.Data);

        // Replace: the new version supersedes the old one, both stay linked.
        var secondId = await SubmitAsync(client, gp, patient, Pdf("Compte rendu corrigé", replaces: firstId));
        var old = await client.ReadAsync<DocumentReference>("DocumentReference/" + firstId);
        Assert.Equal(DocumentReferenceStatus.Superseded, old!.Status);
        var replacement = await client.ReadAsync<DocumentReference>("DocumentReference/" + secondId);
        Assert.Equal("DocumentReference/" + firstId, replacement!.RelatesTo.Single().Target.Reference);
        var current = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient", patient.Id).Add("status", "current"));
        Assert.Equal(secondId, Assert.Single(current!.Entry).Resource.Id);
        var related = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient", patient.Id).Add("related", "DocumentReference/" + firstId));
        Assert.Equal(secondId, Assert.Single(related!.Entry).Resource.Id);

        // A superseded document cannot be replaced again.
        var again = await Assert.ThrowsAsync<FhirOperationException>(() => SubmitAsync(client, gp, patient, Pdf("Encore", replaces: firstId)));
        Assert.Equal(HttpStatusCode.Conflict, again.Status);

        // Erase: hidden (410) but kept.
        using (var erase = await http.PostAsync($"/fhir/DocumentReference/{secondId}/$erase", null))
        {
            Assert.Equal(HttpStatusCode.OK, erase.StatusCode);
        }

        using (var gone = await http.GetAsync($"/fhir/DocumentReference/{secondId}"))
        {
            await FhirAssert.OutcomeAsync(gone, HttpStatusCode.Gone, "erased");
        }

        var afterErase = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient", patient.Id));
        Assert.DoesNotContain(afterErase!.Entry, e => e.Resource.Id == secondId);
        Assert.Equal(2, await Server.CountDocumentsAsync());

        // Delete: gone as if it never existed.
        using (var del = await http.DeleteAsync($"/fhir/DocumentReference/{firstId}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, del.StatusCode);
        }

        using (var notFound = await http.GetAsync($"/fhir/DocumentReference/{firstId}"))
        {
            await FhirAssert.OutcomeAsync(notFound, HttpStatusCode.NotFound, "does not exist");
        }

        using (var noBytes = await http.GetAsync($"/fhir/Binary/{firstId}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, noBytes.StatusCode);
        }

        Assert.Equal(1, await Server.CountDocumentsAsync());

        // The remaining (erased) replacement no longer names the deleted document.
        var remaining = await Server.WithScopeAsync(sp => Task.FromResult(sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().Documents.Single(d => d.Id == secondId).ResourceJson));
        Assert.DoesNotContain(firstId, remaining, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Search_FiltersPagingAndTotal()
    {
        var (gp, patient, client) = await WorldAsync();
        var jan = new DateTimeOffset(2024, 1, 15, 10, 0, 0, TimeSpan.Zero);
        await SubmitAsync(client, gp, patient,
            Pdf("CR 1", jan), Pdf("CR 2", jan.AddMonths(1)), Pdf("CR 3", jan.AddMonths(2)),
            Pdf("Bio", jan.AddMonths(3), type: "11502-2"), Pdf("Synthèse", jan.AddMonths(4), type: "60591-5", cls: "11"),
            Pdf("Ordonnance", jan.AddMonths(5), type: "57833-6", cls: "42"), Pdf("Imagerie", jan.AddMonths(6), type: "18748-4", cls: "31"));

        // Paging: 3 per page, newest first, next links until the end; no total unless asked.
        var page = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient", patient.Id).LimitTo(3));
        Assert.Null(page!.Total);
        var seen = new List<string?>();
        while (page is not null)
        {
            Assert.True(page.Entry.Count <= 3);
            seen.AddRange(page.Entry.Select(e => e.Resource.Id));
            page = await client.ContinueAsync(page);
        }

        Assert.Equal(7, seen.Distinct().Count());
        var total = await client.SearchAsync<DocumentReference>(new SearchParams().Add("patient", patient.Id).Add("_total", "accurate").LimitTo(2));
        Assert.Equal(7, total!.Total);
        Assert.Equal(2, total.Entry.Count);
        var dates = total.Entry.Select(e => ((DocumentReference)e.Resource!).Date).ToList();
        Assert.True(dates[0] > dates[1]);

        async Task<int> Count(params (string Key, string Value)[] p)
        {
            var sp = new SearchParams().Add("patient", patient.Id);
            foreach (var (k, v) in p)
            {
                sp.Add(k, v);
            }

            var b = await client.SearchAsync<DocumentReference>(sp);
            return b!.Entry.Count;
        }

        Assert.Equal(3, await Count(("type", "http://loinc.org|11488-4")));
        Assert.Equal(1, await Count(("category", Terminology.ClassSystem + "|42")));
        Assert.Equal(2, await Count(("type", "11502-2,60591-5")));
        Assert.Equal(3, await Count(("date", "ge2024-03-01"), ("date", "le2024-05-31")));
        Assert.Equal(1, await Count(("date", "2024-02")));
        Assert.Equal(7, await Count(("author.identifier", $"urn:oid:1.2.250.1.71.4.2.1|8{gp.Rpps}")));
        Assert.Equal(7, await Count(("author", "Practitioner/" + gp.Id)));
        Assert.Equal(0, await Count(("author.identifier", "urn:oid:1.2.250.1.71.4.2.1|810000000033")));
        Assert.Equal(7, await Count(("facility", "SA07"), ("setting", "AMBULATOIRE"), ("security-label", "N"), ("format", "urn:ihe:iti:xds-sd:pdf:2008")));
        Assert.Equal(0, await Count(("facility", "SA01")));
        Assert.Equal(7, await Count(("status", "current")));

        // ITI-66: the submission set lists the seven documents.
        var lists = await client.SearchAsync<List>(new SearchParams().Add("patient", patient.Id).Add("code", "submissionset"));
        var ss = Assert.IsType<List>(Assert.Single(lists!.Entry).Resource);
        Assert.Equal(7, ss.Entry.Count);
        Assert.All(ss.Entry, e => Assert.StartsWith("DocumentReference/", e.Item.Reference, StringComparison.Ordinal));

        // Unsupported parameter: 400 that names it.
        using var bad = await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}&colour=blue");
        await FhirAssert.OutcomeAsync(bad, HttpStatusCode.BadRequest, "colour");
    }

    [Fact]
    public async Task Access_WithoutGrant_IsDenied_AndTheRefusalSaysWhatToDo()
    {
        var (gp, patient, client) = await WorldAsync();
        var docId = await SubmitAsync(client, gp, patient, Pdf("CR du médecin traitant"));
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Petit", "Sophie");
        var http = Server.Http(pharmacist.Certificate);

        using (var search = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_total=accurate"))
        {
            var body = await search.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.Forbidden, search.StatusCode);
            Assert.Contains("$declare-access", body, StringComparison.Ordinal);
            Assert.Contains("$emergency-access", body, StringComparison.Ordinal);
            Assert.DoesNotContain(docId, body, StringComparison.Ordinal);
            Assert.DoesNotContain("CR du", body, StringComparison.Ordinal);
        }

        using (var read = await http.GetAsync($"/fhir/DocumentReference/{docId}"))
        {
            await FhirAssert.OutcomeAsync(read, HttpStatusCode.Forbidden, "not authorised");
        }

        using (var bin = await http.GetAsync($"/fhir/Binary/{docId}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, bin.StatusCode);
        }

        var before = await Server.CountDocumentsAsync();
        var bundle = SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Pdf("Tentative")]);
        using (var write = await http.PostAsync("/fhir", FhirAssert.Json(bundle)))
        {
            await FhirAssert.OutcomeAsync(write, HttpStatusCode.Forbidden, "not authorised to write");
        }

        Assert.Equal(before, await Server.CountDocumentsAsync());
        using (var erase = await http.PostAsync($"/fhir/DocumentReference/{docId}/$erase", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, erase.StatusCode);
        }

        using (var del = await http.DeleteAsync($"/fhir/DocumentReference/{docId}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, del.StatusCode);
        }

        // Being the author of a document is no grant: a cardiologist whose letter the treating
        // physician filed has no access until they declare one with the patient's consent.
        var cardio = await Server.AddProfessionalAsync("10", "SM04", "Bernard", "Louis");
        var cardioDoc = await SubmitAsync(client, cardio, patient, Pdf("Avis cardiologique"));
        var cardioHttp = Server.Http(cardio.Certificate);
        using (var own = await cardioHttp.GetAsync($"/fhir/DocumentReference/{cardioDoc}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, own.StatusCode);
        }

        using (var declare = await cardioHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declare.StatusCode);
        }

        using var ownSearch = await cardioHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        var own2 = await FhirAssert.BundleAsync(ownSearch);
        Assert.Equal(2, own2.Total);
    }

    [Fact]
    public async Task Pdqm_And_Directory()
    {
        var (gp, patient, client) = await WorldAsync();
        var byIns = await client.SearchAsync<Patient>(new SearchParams().Add("identifier", $"urn:oid:1.2.250.1.213.1.4.8|{patient.Ins}"));
        var p = Assert.IsType<Patient>(Assert.Single(byIns!.Entry).Resource);
        Assert.Equal(patient.Id, p.Id);
        Assert.Equal("TESTPATIENT", p.Name[0].Family);
        Assert.DoesNotContain(p.Meta?.Security ?? [], c => c.Code == "HTEST");

        var byTraits = await client.SearchAsync<Patient>(new SearchParams().Add("family", "testpatient").Add("given", "anne").Add("birthdate", "1970-05-17"));
        Assert.Contains(byTraits!.Entry, e => e.Resource.Id == patient.Id);

        var demo = await Server.AddPatientAsync(gp, OpenDmp.Core.Identity.Ins.DemoSystem);
        var demoPatient = await client.ReadAsync<Patient>("Patient/" + demo.Id);
        Assert.Contains(demoPatient!.Meta.Security, c => c.Code == "HTEST");
        Assert.Equal(Identifier.IdentifierUse.Temp, demoPatient.Identifier[0].Use);

        var pract = await client.SearchAsync<Practitioner>(new SearchParams().Add("identifier", $"urn:oid:1.2.250.1.71.4.2.1|8{gp.Rpps}"));
        var pr = Assert.IsType<Practitioner>(Assert.Single(pract!.Entry).Resource);
        Assert.Equal(gp.Id, pr.Id);
        Assert.Contains(pr.Qualification, q => q.Code.Coding.Any(c => c.Code == "SM54"));
    }

    [Fact]
    public async Task Metadata_IsPublic_AndTellsWhatIsSupported()
    {
        using var anonymous = await Server.Http(null).GetAsync("/fhir/metadata");
        var body = await anonymous.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        var cs = FhirJson.Parse<CapabilityStatement>(body);
        Assert.Contains(cs.Rest[0].Interaction, i => i.Code == CapabilityStatement.SystemRestfulInteraction.Transaction);
        var docRef = cs.Rest[0].Resource.Single(r => r.Type == "DocumentReference");
        Assert.Contains(docRef.SearchParam, s => s.Name == "patient");
        Assert.Contains(docRef.Operation, o => o.Name == "erase");
        Assert.Contains(docRef.Operation, o => o.Name == "mask");
        var patient = cs.Rest[0].Resource.Single(r => r.Type == "Patient");
        Assert.Contains(patient.Operation, o => o.Name == "declare-access" && o.Documentation.Contains("confirm", StringComparison.Ordinal));
        Assert.Contains(patient.Operation, o => o.Name == "emergency-access");
        Assert.Contains(cs.Rest[0].Resource, r => r.Type == "Consent");
        Assert.Contains(cs.Rest[0].Resource, r => r.Type == "Encounter" && r.Interaction.Any(i => i.Code == CapabilityStatement.TypeRestfulInteraction.SearchType));
        Assert.Contains(patient.Operation, o => o.Name == "summary");
        Assert.DoesNotContain(cs.Rest[0].Resource, r => r.Type == "CarePlan");
    }
}

public sealed class DocumentApiTests_Sqlite() : DocumentApiTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class DocumentApiTests_Postgres(PostgresCluster pg) : DocumentApiTests(new PostgresStorage(pg, "docs"));
