using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using OpenDmp.Server.Demo;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Portal;

/// <summary>The first hour of a newcomer: what the start banner says, the guesses a person makes in a browser, the certificate steps.</summary>
public sealed class FirstHourTests() : ServerTestBase(new SqliteStorage())
{
    [Fact]
    public async Task TheDemoBanner_GivesPortals_Professions_ActivationCodes_AndBrowserCertificates()
    {
        var summary = await DemoWorld.EnsureAsync(Server.Services, Server.Data, CancellationToken.None);
        var banner = summary.Describe(Server.BaseUrl, Server.Data);
        Assert.Contains($"{Server.BaseUrl}/patient/activation", banner, StringComparison.Ordinal);
        Assert.Contains($"{Server.BaseUrl}/pro", banner, StringComparison.Ordinal);
        Assert.Contains("Sophie Petit — Pharmacien", banner, StringComparison.Ordinal);
        Assert.Equal(3, summary.Patients.Count(p => p.ActivationCode is not null && banner.Contains(p.ActivationCode, StringComparison.Ordinal)));

        // The .p12 the banner names opens with the demo password and carries the GP's key.
        using var p12 = X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(Server.Data.Demo, DemoWorld.GpRpps + ".p12"), DemoWorld.P12Password);
        Assert.True(p12.HasPrivateKey);
        Assert.Contains(DemoWorld.GpRpps, p12.Subject, StringComparison.Ordinal);

        // The printed activation code works.
        var first = summary.Patients[0];
        using var activate = await Server.Http(null).PostAsJsonAsync("/patient/activate", new { ins = first.Ins, code = first.ActivationCode, password = Sessions.PatientPassword });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
    }

    /// <summary>One INS value under two systems: the patient activating an account reaches the record that awaits activation, not the other.</summary>
    [Fact]
    public async Task AnInsUnderTwoSystems_SignsInToTheRecordWhoseAccountAwaitsIt()
    {
        var gp = await Server.AddProfessionalAsync();
        var ins = TestIds.NewIns();
        var nir = await Server.AddPatientAsync(new OpenDmp.Core.Records.NewPatient(ins, OpenDmp.Core.Identity.Ins.NirSystem, "DOUBLE", "Anne", new DateOnly(1970, 5, 17), "F", null), gp);
        var test = await Server.AddPatientAsync(new OpenDmp.Core.Records.NewPatient(ins, OpenDmp.Core.Identity.Ins.TestSystem, "DOUBLE", "Anne", new DateOnly(1970, 5, 17), "F", null), gp);
        var (http, _) = await Server.LoginPatientAsync(test);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/fhir/DocumentReference?patient={test.Id}")).StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, (await http.GetAsync($"/fhir/DocumentReference?patient={nir.Id}")).StatusCode);
    }

    [Fact]
    public async Task ABrowsersGuesses_AreAnsweredWithPages_NotDeveloperJson()
    {
        var browser = Server.Http(null, followRedirects: false);
        browser.DefaultRequestHeaders.Accept.Clear();
        browser.DefaultRequestHeaders.Accept.ParseAdd("text/html");

        using (var login = await browser.GetAsync("/patient/login"))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
            Assert.Equal("/patient/connexion", login.Headers.Location?.ToString());
        }

        using (var missing = await browser.GetAsync("/dossier/inexistant"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.StartsWith("text/html", missing.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
            var html = await missing.Content.ReadAsStringAsync();
            Assert.Contains("Page introuvable", html, StringComparison.Ordinal);
            Assert.Contains("href=\"/patient\"", html, StringComparison.Ordinal);
        }

        using (var program = await Server.Http(null).GetAsync("/dossier/inexistant"))
        {
            Assert.Equal(HttpStatusCode.NotFound, program.StatusCode);
            Assert.StartsWith("application/problem+json", program.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        }

        using var pro = await browser.GetAsync("/pro");
        Assert.Equal(HttpStatusCode.Unauthorized, pro.StatusCode);
        var page = await pro.Content.ReadAsStringAsync();
        Assert.Contains("Votre navigateur n'a présenté aucun certificat", WebUtility.HtmlDecode(page), StringComparison.Ordinal);
        Assert.Contains("PKCS#12", page, StringComparison.Ordinal);
        Assert.DoesNotContain("client certificate", page, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<style>", page, StringComparison.Ordinal);
    }
}
