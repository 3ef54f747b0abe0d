using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>ITI-65 references are checked strictly: only this submission's documents, only this platform's resources, unique full URLs, narratives without active content.</summary>
public abstract class SubmissionReferencesTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static DocumentToSubmit Note(string text = "note") => new(Encoding.UTF8.GetBytes(text), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    private async Task<(TestProfessional Gp, TestPatient Patient, HttpClient Http)> WorldAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        return (gp, patient, Server.Http(gp.Certificate));
    }

    private async Task RefusedAsync(HttpClient http, Bundle bundle, string message)
    {
        var before = await Server.CountDocumentsAsync();
        using var response = await http.PostAsync("/fhir", FhirAssert.Json(bundle));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.UnprocessableEntity, message);
        Assert.Equal(before, await Server.CountDocumentsAsync());
    }

    private static List SubmissionSet(Bundle b) => b.Entry.Select(e => e.Resource).OfType<List>().Single();

    /// <summary>Regression: a SubmissionSet could list another patient's document, which was then stored in this one's List.</summary>
    [Fact]
    public async Task SubmissionSetListingAnotherDocument_Is422()
    {
        var (gp, patient, http) = await WorldAsync();
        var other = await Server.AddPatientAsync(gp);
        var foreignDoc = await Server.SubmitAsync(gp, other, Note("autre patient"));
        var b = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note()]);
        SubmissionSet(b).Entry.Add(new List.EntryComponent { Item = new ResourceReference("DocumentReference/" + foreignDoc) });
        await RefusedAsync(http, b, "is not a DocumentReference of this Bundle");
    }

    /// <summary>Regression: a subject on another server ("https://evil.example/fhir/Patient/{id}") resolved to the local patient with that id.</summary>
    [Fact]
    public async Task SubjectOnAnotherServer_Is422()
    {
        var (gp, patient, http) = await WorldAsync();
        var b = SubmissionBuilder.Build("https://evil.example/fhir/Patient/" + patient.Id, gp.Rpps, gp.Display, [Note()]);
        await RefusedAsync(http, b, "designates another server");
        var local = SubmissionBuilder.Build(Server.FhirBase + "/Patient/" + patient.Id, gp.Rpps, gp.Display, [Note()]);
        using var ok = await http.PostAsync("/fhir", FhirAssert.Json(local));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    /// <summary>Regression: two entries sharing a fullUrl gave a 500; duplicate Binary fullUrls silently kept the last one.</summary>
    [Fact]
    public async Task DuplicateFullUrls_Are422()
    {
        var (gp, patient, http) = await WorldAsync();
        var b = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note("un"), Note("deux")]);
        var binaries = b.Entry.Where(e => e.Resource is Binary).ToList();
        binaries[1].FullUrl = binaries[0].FullUrl;
        await RefusedAsync(http, b, "is used by another entry");
        var b2 = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note("un"), Note("deux")]);
        var docs = b2.Entry.Where(e => e.Resource is DocumentReference).ToList();
        docs[1].FullUrl = docs[0].FullUrl;
        await RefusedAsync(http, b2, "is used by another entry");
    }

    /// <summary>Regression: a narrative holding &lt;script&gt; was stored and served to other software.</summary>
    [Theory]
    [InlineData("<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>", "<script>")]
    [InlineData("<div xmlns=\"http://www.w3.org/1999/xhtml\"><p onclick=\"alert(1)\">x</p></div>", "event attribute")]
    [InlineData("<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"javascript:alert(1)\">x</a></div>", "only http(s)")]
    [InlineData("<div xmlns=\"http://www.w3.org/1999/xhtml\"><iframe src=\"https://evil.example\"/></div>", "<iframe>")]
    public async Task ActiveNarrative_Is422(string div, string message)
    {
        var (gp, patient, http) = await WorldAsync();
        var b = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note()]);
        b.Entry.Select(e => e.Resource).OfType<DocumentReference>().Single().Text = new Narrative { Status = Narrative.NarrativeStatus.Generated, Div = div };
        await RefusedAsync(http, b, message);
        var ok = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note()]);
        ok.Entry.Select(e => e.Resource).OfType<DocumentReference>().Single().Text = new Narrative { Status = Narrative.NarrativeStatus.Generated, Div = "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>Compte rendu</b> <a href=\"https://example.fr/x\">lien</a></p></div>" };
        using var accepted = await http.PostAsync("/fhir", FhirAssert.Json(ok));
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    /// <summary>Regression: absolute URLs in answers were built from the client's Host header.</summary>
    [Fact]
    public async Task AbsoluteUrls_ComeFromThePlatform_NotFromTheHostHeader()
    {
        var (gp, patient, http) = await WorldAsync();
        await Server.SubmitAsync(gp, patient, Note());
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/fhir/DocumentReference?patient={patient.Id}");
        request.Headers.Host = "evil.example";
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("evil.example", body, StringComparison.Ordinal);
        Assert.Contains(Server.FhirBase + "/Binary/", body, StringComparison.Ordinal);
    }
}

public sealed class SubmissionReferencesTests_Sqlite() : SubmissionReferencesTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class SubmissionReferencesTests_Postgres(PostgresCluster pg) : SubmissionReferencesTests(new PostgresStorage(pg, "references"));
