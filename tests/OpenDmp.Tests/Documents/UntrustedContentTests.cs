using System.Net;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>
/// Hostile documents over the real server: refused at ingest when they break the parsing limits;
/// when already stored, shown as "cannot display" instead of killing the process; text search
/// bounded by its budget; stored content never served as active content of the platform's origin.
/// </summary>
public abstract class UntrustedContentTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Documents:MaxContentBytes"] = (8 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Documents:TextSearchBudgetBytes"] = (9 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static DocumentToSubmit Cda(byte[] content) =>
        new(content, "text/xml", "Compte rendu", FormatCode: "urn:ihe:lab:xd-lab:2008");

    [Fact]
    public async Task Provide_DeeplyNestedCda_Is422_AndNothingIsWritten()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var before = await Server.CountDocumentsAsync();
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Cda(Hostile.DeepCda(50_000))])));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.UnprocessableEntity, "nests deeper than 256 levels");
        using var bomb = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Cda(Hostile.BillionLaughs())])));
        await FhirAssert.OutcomeAsync(bomb, HttpStatusCode.UnprocessableEntity, "not well-formed XML without a DTD");
        using var broken = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Cda("<ClinicalDocument><x></ClinicalDocument>"u8.ToArray())])));
        await FhirAssert.OutcomeAsync(broken, HttpStatusCode.UnprocessableEntity, "not well-formed");
        Assert.Equal(before, await Server.CountDocumentsAsync());
    }

    /// <summary>Regression: opening such a document in /pro killed the server (stack overflow), and every later view killed it again.</summary>
    [Fact]
    public async Task ProfessionalView_OfAStoredDeepCda_SaysItCannotBeDisplayed_AndTheServerLives()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var id = await Hostile.StoreUncheckedAsync(Server, patient.Id, Hostile.DeepCda(50_000), "text/xml", "Compte rendu piégé");
        var http = Server.Http(gp.Certificate);
        for (var i = 0; i < 2; i++)
        {
            using var page = await http.GetAsync($"/pro/patients/{patient.Id}/documents/{id}");
            var html = WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync());
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("ne peut pas être affiché", html, StringComparison.Ordinal);
        }

        using var live = await http.GetAsync("/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    /// <summary>Regression: a 2 MB PDF of 2,000 Flate streams cost 12–20 s per "_content" search.</summary>
    [Fact]
    public async Task ContentSearch_OverDecompressionBombs_StaysWithinItsBudget_AndSaysSo()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Bilan lipidique"), "application/pdf", "Bilan"));
        var bomb = Hostile.FlateBombPdf();
        var http = Server.Http(gp.Certificate);

        // One bomb: its own budget (4 MB decompressed) stops it; the search answers.
        await Hostile.StoreUncheckedAsync(Server, patient.Id, bomb, "application/pdf", "Bombe");
        using (var one = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_content=lipidique"))
        {
            var found = await FhirAssert.BundleAsync(one);
            Assert.Single(found.Entry);
        }

        // Several: the request's budget (9 MB here) runs out and the search is refused with a sentence.
        await Hostile.StoreUncheckedAsync(Server, patient.Id, bomb, "application/pdf", "Bombe 2");
        await Hostile.StoreUncheckedAsync(Server, patient.Id, bomb, "application/pdf", "Bombe 3");
        using var many = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_content=lipidique");
        await FhirAssert.OutcomeAsync(many, HttpStatusCode.UnprocessableEntity, "narrow the search");
    }

    /// <summary>Regression: /fhir/Binary served stored HTML and SVG inline, verbatim, with no CSP, nosniff or disposition.</summary>
    [Fact]
    public async Task Retrieve_NeverServesActiveContentInline()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var html = await Hostile.StoreUncheckedAsync(Server, patient.Id, "<html><script>alert(document.cookie)</script></html>"u8.ToArray(), "text/html");
        var svg = await Hostile.StoreUncheckedAsync(Server, patient.Id, "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"u8.ToArray(), "image/svg+xml");
        var odd = await Hostile.StoreUncheckedAsync(Server, patient.Id, "x"u8.ToArray(), "text/html\"; x=<script>");
        var pdf = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR"), "application/pdf", "CR"));
        var http = Server.Http(gp.Certificate);

        foreach (var (id, expectedType) in new[] { (html, "text/html"), (svg, "image/svg+xml"), (odd, "application/octet-stream") })
        {
            using var response = await Raw(http, $"/fhir/Binary/{id}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(expectedType, response.Content.Headers.ContentType!.MediaType);
            Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
            Assert.Contains("sandbox", string.Join(' ', response.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }

        using (var inline = await Raw(http, $"/fhir/Binary/{pdf}"))
        {
            Assert.Equal("application/pdf", inline.Content.Headers.ContentType!.MediaType);
            Assert.Equal("inline", inline.Content.Headers.ContentDisposition!.DispositionType);
            Assert.Contains("sandbox", string.Join(' ', inline.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        }

        // The portal's content view: framable by the portal only, never active either.
        using var portal = await http.GetAsync($"/portail/contenu/{svg}");
        Assert.Equal("attachment", portal.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Contains("frame-ancestors 'self'", string.Join(' ', portal.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Provide_DeeplyNestedJson_Is400()
    {
        var gp = await Server.AddProfessionalAsync();
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(Hostile.DeepJson(5_000)));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.BadRequest, "depth");
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/fhir/metadata")]
    [InlineData("/pro")]
    [InlineData("/fhir/DocumentReference?patient=x")]
    [InlineData("/nowhere")]
    public async Task EveryResponse_CarriesTheSecurityHeaders(string path)
    {
        using var response = await Server.Http(null).GetAsync(path);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.StartsWith("max-age=", response.Headers.GetValues("Strict-Transport-Security").Single(), StringComparison.Ordinal);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        var csp = string.Join(' ', response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("script-src", csp, StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> Raw(HttpClient http, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Clear();
        request.Headers.Accept.ParseAdd("*/*");
        return await http.SendAsync(request);
    }
}

public sealed class UntrustedContentTests_Sqlite() : UntrustedContentTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class UntrustedContentTests_Postgres(PostgresCluster pg) : UntrustedContentTests(new PostgresStorage(pg, "untrusted"));
