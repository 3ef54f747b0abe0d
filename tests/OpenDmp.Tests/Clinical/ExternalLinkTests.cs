using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Clinical;

/// <summary>
/// A document that is a link to an imaging study in a PACS (M2, "links"): nothing is copied; it is
/// read under the document's rules, and opening it from the portal is an audited redirect.
/// </summary>
public abstract class ExternalLinkTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private const string Viewer = "https://pacs.chu-exemple.fr/viewer?StudyInstanceUID=1.2.250.1.59.3.1.1.2025.42";

    private static Bundle LinkBundle(TestPatient patient, TestProfessional author, string content)
    {
        var bundle = SubmissionBuilder.Build(patient.Reference, author.Rpps, author.Display,
            [new DocumentToSubmit(Encoding.UTF8.GetBytes(content), ExternalLinks.MediaType, "Scanner thoracique — images", TypeCode: "IMG-KOS", ClassCode: "31", FormatCode: "1.2.840.10008.5.1.4.1.1.88.59")]);
        var doc = (DocumentReference)bundle.Entry.Single(e => e.Resource is DocumentReference).Resource!;
        doc.Context.Related.Add(new ResourceReference { Identifier = new Identifier("urn:dicom:uid", "urn:oid:1.2.250.1.59.3.1.1.2025.42") });
        return bundle;
    }

    [Fact]
    public async Task APacsLink_OpensUnderThePolicy_AndEveryOpeningIsAudited()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var gpHttp = Server.Http(gp.Certificate);
        var response = await Server.Fhir(gp.Certificate).TransactionAsync(LinkBundle(patient, gp, "# Examen TDM thorax\r\n" + Viewer + "\r\n"));
        var docId = response!.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];

        // Software reads the link like any document (ITI-68), under the policy.
        Assert.Contains(Viewer, await FhirAssert.RetrieveTextAsync(gpHttp, "/fhir/Binary/" + docId), StringComparison.Ordinal);
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Martin", "Claire");
        var phHttp = Server.Http(pharmacist.Certificate);
        using (var declared = await phHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode);
        }

        using (var refused = await phHttp.GetAsync("/fhir/Binary/" + docId))
        {
            Assert.True(refused.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound);
        }

        // The patient opens it from the portal: an audited redirect to the viewer.
        var (_, cookie) = await Server.LoginPatientAsync(patient);
        using var browser = Server.Http(null, followRedirects: false);
        using var open = new HttpRequestMessage(HttpMethod.Get, "/portail/lien/" + docId);
        open.Headers.Add("Cookie", cookie);
        using (var redirect = await browser.SendAsync(open))
        {
            Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
            Assert.Equal(Viewer, redirect.Headers.Location!.ToString());
        }

        var audited = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries
            .Where(a => a.RecordId == patient.Id && a.ObjectId == docId && a.Channel == "portal").CountAsync());
        Assert.True(audited >= 1);

        // Only one https address: anything else is refused by name.
        foreach (var bad in new[] { "http://pacs.example.fr/viewer", "https://a.example.fr\nhttps://b.example.fr", "javascript:alert(1)", "https://user:pw@pacs.example.fr/" })
        {
            using var refusedLink = await gpHttp.PostAsync("/fhir", FhirAssert.Json(LinkBundle(patient, gp, bad)));
            await FhirAssert.OutcomeAsync(refusedLink, HttpStatusCode.UnprocessableEntity, "link document");
        }
    }
}

public sealed class ExternalLinkTests_Sqlite() : ExternalLinkTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ExternalLinkTests_Postgres(PostgresCluster pg) : ExternalLinkTests(new PostgresStorage(pg, "links"));
