using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// Staff who work for a professional, and an establishment's system (issue 20), through the real
/// server over mutual TLS with their own certificates and Chromium for the professional's page: a
/// secretary files on behalf of a GP and reads nothing until the GP allows it, the audit trail and the
/// patient's history name both; a hospital's system attests care-team members with its organisation
/// certificate and reads nothing.
/// </summary>
public abstract class StaffAndEstablishmentTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    private async Task<string> CliAsync(params string[] args)
    {
        var (code, stdout, stderr) = await CliRawAsync(args);
        Assert.True(code == 0, $"opendmp {string.Join(' ', args)}: {stdout}{stderr}");
        return stdout;
    }

    private async Task<(int Code, string Out, string Err)> CliRawAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static DocumentToSubmit Letter(string title) => new(System.Text.Encoding.UTF8.GetBytes(title), "text/plain", title, FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    private static X509Certificate2 Load(string dir, string name) => X509Certificate2.CreateFromPemFile(Path.Combine(dir, name + ".crt"), Path.Combine(dir, name + ".key"));

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ASecretaryFilesOnBehalfOfTheGp_ReadsNothingUnlessAllowed_AndBothAreNamed()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Lefèvre", "Anne");
        var patient = await Server.AddPatientAsync(gp);
        var earlier = await Server.SubmitAsync(gp, patient, Letter("Courrier antérieur"));
        var certs = Path.Combine(Server.Data.Root, "staff-certs");
        var identifier = "SEC-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Contains("Claire Martin", await CliAsync("pki", "issue-staff", "--identifier", identifier, "--family", "Martin", "--given", "Claire", "--out", certs, "--p12-password", "test"));
        var secretary = Server.Http(RunningServer.Reload(Load(certs, "staff-" + identifier)));

        // Before any professional declares her, the card authenticates and acts for no one.
        var (status, body) = await GetAsync(secretary, $"/fhir/Patient?identifier={Uri.EscapeDataString(patient.System + "|" + patient.Ins)}");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("no professional has declared", body, StringComparison.Ordinal);

        // The GP declares her in the professional portal (files only).
        await using (var context = await browser.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", gp.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/pro/personnel");
            await Assertions.Expect(page.Locator("h1")).ToContainTextAsync("Personnel");
            await page.FillAsync("#staff-identifier", identifier);
            await page.ClickAsync("button[name=Command][value=declare]");
            await Assertions.Expect(page.Locator("p.success")).ToContainTextAsync("travaille désormais pour vous");
            await Assertions.Expect(page.Locator("table")).ToContainTextAsync("Claire Martin");
            await Assertions.Expect(page.Locator("table")).ToContainTextAsync("Alimente seulement");
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, "pro-staff");
        }

        // She finds the patient, reads the GP's authorisation status and files a letter authored by the GP.
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(secretary, $"/fhir/Patient?identifier={Uri.EscapeDataString(patient.System + "|" + patient.Ins)}")).Status);
        (status, body) = await GetAsync(secretary, $"/fhir/Patient/{patient.Id}/$access-status");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("valid", FhirJson.Parse<Parameters>(body).GetSingleValue<Code>("status").Value);
        using (var filed = await secretary.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Letter("Courrier de sortie dicté")]))))
        {
            Assert.True(filed.StatusCode == HttpStatusCode.OK, await filed.Content.ReadAsStringAsync());
        }

        var filedDoc = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Documents.AsNoTracking().SingleAsync(d => d.RecordId == patient.Id && d.Title == "Courrier de sortie dicté"));
        Assert.Equal(gp.Id, filedDoc.SubmitterId);

        // She reads nothing: no search, no document, no content; nor anything a staff card is not for.
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(secretary, $"/fhir/DocumentReference?patient={patient.Id}")).Status);
        (status, body) = await GetAsync(secretary, $"/fhir/DocumentReference/{earlier}");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("reads none", body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(secretary, $"/fhir/Binary/{earlier}")).Status);
        using (var declare = await secretary.PostAsync($"/fhir/Patient/{patient.Id}/$emergency-access", FhirAssert.Json(new Parameters())))
        {
            Assert.Equal(HttpStatusCode.Forbidden, declare.StatusCode);
            Assert.Contains("staff card", await declare.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(secretary, "/pro")).Status);

        // The audit trail names both: the staff member as the actor, the GP she acted for; the chain verifies.
        var staffId = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().StaffMembers.Where(m => m.Identifier == identifier).Select(m => m.Id).SingleAsync());
        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(e => e.RecordId == patient.Id && e.ActorId == staffId).ToListAsync());
        Assert.Contains(entries, e => e is { Action: "create", Outcome: "success", ActorKind: "Staff" } && e.OnBehalfOf == gp.Id);
        Assert.Contains(entries, e => e is { Action: "read", Outcome: "denied" } && e.OnBehalfOf == gp.Id);
        Assert.Contains("The audit trail is intact.", await CliAsync("audit", "verify"), StringComparison.Ordinal);

        // The patient sees both, in the API (two agents) and in the portal's history.
        var (patientHttp, cookie) = await Server.LoginPatientAsync(patient);
        var events = FhirJson.Parse<Bundle>((await GetAsync(patientHttp, $"/fhir/AuditEvent?patient={patient.Id}&_count=100")).Body).Entry.Select(e => (AuditEvent)e.Resource).ToList();
        var created = events.First(e => e.Agent.Any(a => a.Who?.Display == "Claire Martin") && e.Subtype.Any(c => c.Code == "create") && e.Outcome == AuditEvent.AuditEventOutcome.N0);
        var responsible = created.Agent.Single(a => a.Requestor == false);
        Assert.Equal("Practitioner/" + gp.Id, responsible.Who.Reference);
        Assert.Equal("RESP", responsible.Type.Coding[0].Code);
        using (var portal = new HttpRequestMessage(HttpMethod.Get, "/patient/historique"))
        {
            portal.Headers.Add("Cookie", cookie);
            using var page = await Server.Http(null).SendAsync(portal);
            var html = System.Net.WebUtility.HtmlDecode(await page.Content.ReadAsStringAsync());
            Assert.Contains($"Claire Martin, pour le compte de {gp.Display}", html, StringComparison.Ordinal);
        }

        // The GP lets her read (here for a structure, by the operator): she reads within the GP's rights.
        await CliAsync("staff", "assign", "--staff", identifier, "--rpps", gp.Rpps, "--may-read");
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(secretary, $"/fhir/DocumentReference/{earlier}")).Status);

        // A second professional she works for: she names the one she acts for; the other has no authorisation on this record.
        var other = await Server.AddProfessionalAsync("10", "SM54", "Garnier", "Luc");
        await CliAsync("staff", "assign", "--staff", identifier, "--rpps", other.Rpps);
        (status, body) = await GetAsync(secretary, $"/fhir/DocumentReference/{earlier}");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("X-OpenDMP-On-Behalf-Of", body, StringComparison.Ordinal);
        secretary.DefaultRequestHeaders.Add("X-OpenDMP-On-Behalf-Of", other.Rpps);
        using (var filed = await secretary.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, other.Rpps, other.Display, [Letter("Courrier du Dr Garnier")]))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, filed.StatusCode);
            Assert.Contains("for whom you act, holds no valid authorisation", await filed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        secretary.DefaultRequestHeaders.Remove("X-OpenDMP-On-Behalf-Of");
        secretary.DefaultRequestHeaders.Add("X-OpenDMP-On-Behalf-Of", gp.Rpps);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(secretary, $"/fhir/DocumentReference/{earlier}")).Status);

        // The GP ends it: her card no longer acts for the GP.
        await CliAsync("staff", "end", "--staff", identifier, "--rpps", gp.Rpps);
        (status, body) = await GetAsync(secretary, $"/fhir/DocumentReference/{earlier}");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("you do not work for", body, StringComparison.Ordinal);

        // The operator deactivates her: she no longer acts for the other professional either, and cannot be declared again.
        await CliAsync("staff", "deactivate", "--staff", identifier);
        secretary.DefaultRequestHeaders.Remove("X-OpenDMP-On-Behalf-Of");
        (status, body) = await GetAsync(secretary, $"/fhir/Patient/{patient.Id}/$access-status");
        Assert.True(status is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized, body);
        var (assignCode, _, assignErr) = await CliRawAsync("staff", "assign", "--staff", identifier, "--rpps", gp.Rpps);
        Assert.NotEqual(0, assignCode);
        Assert.Contains("deactivated", assignErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AHospitalSystem_AttestsCareTeamMembers_WithItsOrganisationCertificate_AndReadsNothing()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var doc = await Server.SubmitAsync(gp, patient, Letter("Courrier d'adressage"));
        var finess = "75" + Random.Shared.Next(1_000_000, 9_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await CliAsync("organization", "add", "--finess", finess, "--name", "CH Saint-Louis (test)", "--city", "Paris");
        var certs = Path.Combine(Server.Data.Root, "org-certs");
        await CliAsync("pki", "issue-organization", "--finess", finess, "--out", certs, "--p12-password", "test");
        var hospital = Server.Http(RunningServer.Reload(Load(certs, "org-" + finess)));
        var orgId = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Organizations.Where(o => o.Finess == finess).Select(o => o.Id).SingleAsync());
        var nurse = await Server.AddProfessionalAsync("10", "SM54", "Morel", "Lina");
        var surgeon = await Server.AddProfessionalAsync("10", "SM54", "Faure", "Hugo");
        var outsider = await Server.AddProfessionalAsync("10", "SM54", "Dumas", "Eva");
        await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Professionals.Where(x => x.Id == nurse.Id || x.Id == surgeon.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.OrganizationId, orgId)));
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(Server.Http(nurse.Certificate), $"/fhir/DocumentReference/{doc}")).Status);

        // The hospital's system declares the admission and attests the nurse.
        var admission = new Parameters();
        admission.Add("member", new FhirString(nurse.Rpps));
        string admissionId;
        using (var admitted = await hospital.PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(admission)))
        {
            var text = await admitted.Content.ReadAsStringAsync();
            Assert.True(admitted.StatusCode == HttpStatusCode.Created, text);
            admissionId = FhirJson.Parse<Consent>(text).Id;
        }

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(Server.Http(nurse.Certificate), $"/fhir/DocumentReference/{doc}")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(Server.Http(surgeon.Certificate), $"/fhir/DocumentReference/{doc}")).Status);

        // It attests the surgeon to the same admission later; a professional of another establishment is refused.
        var attest = new Parameters();
        attest.Add("admission", new FhirString(admissionId));
        attest.Add("member", new FhirString(surgeon.Rpps));
        using (var attested = await hospital.PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(attest)))
        {
            Assert.True(attested.StatusCode == HttpStatusCode.OK, await attested.Content.ReadAsStringAsync());
        }

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(Server.Http(surgeon.Certificate), $"/fhir/DocumentReference/{doc}")).Status);
        var foreign = new Parameters();
        foreign.Add("admission", new FhirString(admissionId));
        foreign.Add("member", new FhirString(outsider.Rpps));
        using (var refused = await hospital.PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(foreign)))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
            Assert.Contains("does not belong to your establishment", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The system reads nothing and declares nothing else.
        var (status, body) = await GetAsync(hospital, $"/fhir/DocumentReference/{doc}");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("establishment's certificate", body, StringComparison.Ordinal);
        using (var declare = await hospital.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(new Parameters())))
        {
            Assert.Equal(HttpStatusCode.Forbidden, declare.StatusCode);
        }

        // The trail names the establishment as the actor of both grants.
        var grants = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id && e.ActorKind == "Organization" && e.ActorId == orgId && e.Action == "grant" && e.Outcome == "success").CountAsync());
        Assert.Equal(2, grants);
    }
}

public sealed class StaffAndEstablishmentTests_Sqlite(BrowserFixture browser) : StaffAndEstablishmentTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class StaffAndEstablishmentTests_Postgres(PostgresCluster pg, BrowserFixture browser) : StaffAndEstablishmentTests(new PostgresStorage(pg, "staff"), browser), IClassFixture<BrowserFixture>;
