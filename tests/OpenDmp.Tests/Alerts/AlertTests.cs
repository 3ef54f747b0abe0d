using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Alerts;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Alerts;

/// <summary>
/// Professional alerts end to end (issue 15), through the real server, Postfix/Dovecot and Chromium:
/// an emergency admission alerts the treating physician in the portal and by e-mail; a validated
/// INR above 5 alerts the treating physician and the prescriber named by the lab report, with no
/// value in any alert; a blocked professional, a masked report and a preliminary result alert no one;
/// the recipient acknowledges in the portal.
/// </summary>
public abstract class AlertTests : ServerTestBase
{
    private readonly MailServers.Mailbox _deposit;
    private readonly string _name;

    protected AlertTests(MailServers mail, BrowserFixture browser, IStorageUnderTest storage, string name)
        : base(storage)
    {
        Mail = mail;
        Chromium = browser;
        _name = name;
        _deposit = mail.CreateMailbox("depot");
    }

    private MailServers Mail { get; }

    private BrowserFixture Chromium { get; }

    protected override IDictionary<string, string?>? ExtraConfig
    {
        get
        {
            var c = Mail.ServerConfig(_deposit);
            c["Alerts:DispatchSeconds"] = "0.5";
            return c;
        }
    }

    private async Task<MailServers.Mailbox> GiveAddressAsync(TestProfessional p)
    {
        var box = Mail.CreateMailbox("pro");
        await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Professionals.Where(x => x.Id == p.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.Email, box.Address)));
        return box;
    }

    private Task<List<ProfessionalAlert>> AlertsOfAsync(string recordId) =>
        Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().Where(a => a.RecordId == recordId).ToListAsync());

    /// <summary>Waits until every event of the record is processed (the dispatcher's round is over for it).</summary>
    private Task DispatchedAsync(string recordId) =>
        Wait.UntilAsync(() => Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().RecordEvents.AsNoTracking().AllAsync(e => e.RecordId != recordId || e.ProcessedAt != null)));

    private Task<(TestProfessional Urgentist, string OrganizationName)> HospitalAsync() => Server.AddHospitalAsync();

    private async Task<HttpResponseMessage> AdmitAsync(TestProfessional by, TestPatient patient, DataType? setting)
    {
        var p = new Parameters();
        if (setting is not null)
        {
            p.Add("setting", setting);
        }

        return await Server.Http(by.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(p));
    }

    [Fact]
    public async Task EmergencyAdmission_AlertsTheTreatingPhysician_InThePortalAndByEmail_AndABlockedOneGetsNothing()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var gpBox = await GiveAddressAsync(gp);
        var patient = await Server.AddPatientAsync(gp);
        var (urgentist, hospital) = await HospitalAsync();

        using (var bad = await AdmitAsync(urgentist, patient, new Code("URGENT")))
        {
            await FhirAssert.OutcomeAsync(bad, (HttpStatusCode)422, "setting must be one of");
        }

        using (var admitted = await AdmitAsync(urgentist, patient, new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "EMER")))
        {
            Assert.Equal(HttpStatusCode.Created, admitted.StatusCode);
        }

        // By e-mail within seconds: the patient and the establishment, nothing else.
        var mail = Assert.Single(await gpBox.WaitForAsync(1));
        Assert.Contains("urgences", mail.Subject, StringComparison.Ordinal);
        Assert.Contains("Anne TESTPATIENT", mail.TextBody, StringComparison.Ordinal);
        Assert.Contains(hospital, mail.TextBody, StringComparison.Ordinal);
        var alert = Assert.Single(await AlertsOfAsync(patient.Id));
        Assert.Equal((gp.Id, AlertService.EmergencyAdmission), (alert.RecipientId, alert.Kind));
        await Wait.UntilAsync(async () => (await AlertsOfAsync(patient.Id)).Single().EmailStatus == "sent");
        // The alert and its delivery are in the record's trail.
        var trail = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(e => e.RecordId == patient.Id && e.ObjectType == "Alert").Select(e => e.Detail).ToListAsync());
        Assert.Contains($"emergency-admission alert to professional {gp.Id}", trail);
        Assert.Contains("alert sent by e-mail", trail);

        // An ordinary admission alerts no one.
        using (var inpatient = await AdmitAsync(urgentist, patient, new Code("IMP")))
        {
            Assert.Equal(HttpStatusCode.Created, inpatient.StatusCode);
        }

        await DispatchedAsync(patient.Id);
        Assert.Single(await AlertsOfAsync(patient.Id));

        // The treating physician sees it in the portal (axe-checked) and acknowledges it there.
        await using (var context = await Chromium.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", gp.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/pro");
            var item = page.Locator(".alert-item");
            await Assertions.Expect(item).ToContainTextAsync($"Anne TESTPATIENT a été admis(e) aux urgences ({hospital})");
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, $"{_name}-pro-alerts");
            await page.GetByRole(AriaRole.Button, new() { Name = "J'ai pris connaissance" }).ClickAsync();
            await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("Alerte marquée comme lue");
            Assert.Equal(0, await page.Locator(".alert-item").CountAsync());
        }

        Assert.NotNull((await AlertsOfAsync(patient.Id)).Single().AcknowledgedAt);
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().AnyAsync(e => e.RecordId == patient.Id && e.ActorId == gp.Id && e.ObjectType == "Alert" && e.Detail == "acknowledged")));

        // Someone else cannot acknowledge it (404, as for an unknown alert).
        await Server.WithScopeAsync(async sp =>
        {
            var ex = await Assert.ThrowsAsync<OpenDmp.Core.Common.DmpException>(() => sp.GetRequiredService<AlertService>().AcknowledgeAsync(alert.Id, new OpenDmp.Core.Common.Actor(OpenDmp.Core.Common.ActorKind.Professional, urgentist.Id, urgentist.Display, "10"), OpenDmp.Core.Common.Channels.Portal, default));
            Assert.Equal(OpenDmp.Core.Common.ErrorKind.NotFound, ex.Kind);
            return 0;
        });

        // A treating physician the patient blocked is not alerted.
        var blockedGp = await Server.AddProfessionalAsync(family: "Bloque", given: "Paul");
        var blockedBox = await GiveAddressAsync(blockedGp);
        var other = await Server.AddPatientAsync(blockedGp);
        var (patientHttp, _) = await Server.LoginPatientAsync(other);
        var block = new Parameters();
        block.Add("practitioner", new FhirString(blockedGp.Rpps));
        using (var blocked = await patientHttp.PostAsync($"/fhir/Patient/{other.Id}/$block", FhirAssert.Json(block)))
        {
            Assert.Equal(HttpStatusCode.OK, blocked.StatusCode);
        }

        using (var admitted = await AdmitAsync(urgentist, other, new Code("EMER")))
        {
            Assert.Equal(HttpStatusCode.Created, admitted.StatusCode);
        }

        await DispatchedAsync(other.Id);
        Assert.Empty(await AlertsOfAsync(other.Id));
        Assert.Equal(0, await blockedBox.CountAsync("INBOX"));
    }

    /// <summary>The ANS CR-BIO example, its prescriber replaced, with an INR result added.</summary>
    private static byte[] LabReport(string prescriberRpps, string inr, string status = "completed")
    {
        var xml = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "ans-cda", "BIO-CR-BIO_2024.01_DEP-CCU-tout-structuré.xml"));
        var result = $"""
            <component><section><code code="18723-7" codeSystem="2.16.840.1.113883.6.1" displayName="Hématologie"/><title>Hémostase</title>
            <entry><observation classCode="OBS" moodCode="EVN"><code code="6301-6" codeSystem="2.16.840.1.113883.6.1" displayName="INR"/><statusCode code="{status}"/>
            <effectiveTime value="20240104092200+0100"/><value xsi:type="REAL" value="{inr}"/></observation></entry>
            </section></component>
            """;
        return Encoding.UTF8.GetBytes(xml.Replace("801234567892", "8" + prescriberRpps, StringComparison.Ordinal).Replace("</structuredBody>", result + "</structuredBody>", StringComparison.Ordinal));
    }

    private static DocumentToSubmit Report(byte[] cda, string? visibility = null) =>
        new(cda, "text/xml", "Compte rendu de biologie", TypeCode: "11502-2", FormatCode: "urn:ihe:lab:xd-lab:2008", Visibility: visibility);

    [Fact]
    public async Task HighInr_AlertsTreatingPhysicianAndPrescriber_WithoutTheValue_AndNotWhenMaskedBlockedOrPreliminary()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var gpBox = await GiveAddressAsync(gp);
        var prescriber = await Server.AddProfessionalAsync(family: "Cardio", given: "Louise");
        var prescriberBox = await GiveAddressAsync(prescriber);
        var lab = await Server.AddProfessionalAsync(family: "Biologiste", given: "Jean");
        var patient = await Server.AddPatientAsync(gp);
        foreach (var p in new[] { prescriber, lab })
        {
            using var declared = await Server.Http(p.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true)));
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        // A normal INR: no alert.
        await Server.SubmitAsync(lab, patient, Report(LabReport(prescriber.Rpps, "2.4")));
        await DispatchedAsync(patient.Id);
        Assert.Empty(await AlertsOfAsync(patient.Id));

        // INR 6.8: the treating physician and the prescriber named by the report, each once, by e-mail
        // too; the value is in none of them.
        var report = await Server.SubmitAsync(lab, patient, Report(LabReport(prescriber.Rpps, "6.8")));
        await Wait.UntilAsync(async () => (await AlertsOfAsync(patient.Id)).Count == 2);
        var alerts = await AlertsOfAsync(patient.Id);
        Assert.Equal(new[] { gp.Id, prescriber.Id }.Order(), alerts.Select(a => a.RecipientId).Order());
        Assert.All(alerts, a => Assert.Equal((AlertService.Result, (string?)report), (a.Kind, a.DocumentId)));
        foreach (var box in new[] { gpBox, prescriberBox })
        {
            var mail = Assert.Single(await box.WaitForAsync(1));
            Assert.Contains("Un résultat demande votre attention", mail.TextBody, StringComparison.Ordinal);
            Assert.DoesNotContain("6.8", mail.TextBody, StringComparison.Ordinal);
            Assert.DoesNotContain("6,8", mail.TextBody, StringComparison.Ordinal);
            Assert.DoesNotContain("INR", mail.TextBody, StringComparison.Ordinal);
        }

        var inbox = await Server.WithScopeAsync(sp => sp.GetRequiredService<AlertService>().InboxAsync(new OpenDmp.Core.Common.Actor(OpenDmp.Core.Common.ActorKind.Professional, gp.Id, gp.Display, "10"), OpenDmp.Core.Common.Channels.Portal, default));
        Assert.Equal(report, Assert.Single(inbox).DocumentId);
        var page = WebUtility.HtmlDecode(await Server.Http(gp.Certificate).GetStringAsync("/pro"));
        Assert.Contains("Un résultat de Anne TESTPATIENT demande votre attention", page, StringComparison.Ordinal);
        Assert.DoesNotContain("6.8", page, StringComparison.Ordinal);
        Assert.Contains($"/pro/patients/{patient.Id}/documents/{report}", page, StringComparison.Ordinal);

        // Masked at filing (the patient asked): no one is alerted, not even the treating physician who may open it.
        await Server.SubmitAsync(lab, patient, Report(LabReport(prescriber.Rpps, "7.5"), visibility: "MASQUE_PS"));
        // Preliminary (not validated by the biologist): no alert.
        await Server.SubmitAsync(lab, patient, Report(LabReport(prescriber.Rpps, "8.1", status: "active")));
        await DispatchedAsync(patient.Id);
        Assert.Equal(2, (await AlertsOfAsync(patient.Id)).Count);

        // The patient blocks the prescriber: the next high INR alerts the treating physician only.
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        var block = new Parameters();
        block.Add("practitioner", new FhirString(prescriber.Rpps));
        using (var blocked = await patientHttp.PostAsync($"/fhir/Patient/{patient.Id}/$block", FhirAssert.Json(block)))
        {
            Assert.Equal(HttpStatusCode.OK, blocked.StatusCode);
        }

        var third = await Server.SubmitAsync(lab, patient, Report(LabReport(prescriber.Rpps, "5.9")));
        await DispatchedAsync(patient.Id);
        Assert.Equal(gp.Id, Assert.Single(await AlertsOfAsync(patient.Id), a => a.DocumentId == third).RecipientId);
        // A result written alone (POST /fhir/Observation, validated, INR 7.2) alerts the treating
        // physician too, without a document to open; the same result preliminary does not.
        Observation Inr(decimal value, ObservationStatus status) => new()
        {
            Status = status,
            Code = new CodeableConcept("http://loinc.org", "6301-6", "INR"),
            Subject = new ResourceReference(patient.Reference),
            Effective = new FhirDateTime(DateTimeOffset.UtcNow.AddHours(-1)),
            Value = new Quantity { Value = value, Unit = "{INR}", Code = "{INR}", System = "http://unitsofmeasure.org" },
        };
        foreach (var (value, status) in new[] { (7.2m, ObservationStatus.Preliminary), (7.2m, ObservationStatus.Final) })
        {
            using var written = await Server.Http(lab.Certificate).PostAsync("/fhir/Observation", FhirAssert.Json(Inr(value, status)));
            Assert.True(written.StatusCode == HttpStatusCode.Created, await written.Content.ReadAsStringAsync());
        }

        await DispatchedAsync(patient.Id);
        Assert.Equal(gp.Id, Assert.Single(await AlertsOfAsync(patient.Id), a => a.DocumentId is null).RecipientId);

        // What was alerted before the block is no longer listed to the prescriber either.
        var prescriberInbox = await Server.WithScopeAsync(sp => sp.GetRequiredService<AlertService>().InboxAsync(new OpenDmp.Core.Common.Actor(OpenDmp.Core.Common.ActorKind.Professional, prescriber.Id, prescriber.Display, "10"), OpenDmp.Core.Common.Channels.Portal, default));
        Assert.Empty(prescriberInbox);
    }
}

[Collection(MailCollection.Name)]
public sealed class AlertTests_Sqlite(MailServers mail, BrowserFixture browser) : AlertTests(mail, browser, new SqliteStorage(), "sqlite"), IClassFixture<BrowserFixture>;

[Collection(MailCollection.Name)]
public sealed class AlertTests_Postgres(MailServers mail, PostgresCluster pg, BrowserFixture browser) : AlertTests(mail, browser, new PostgresStorage(pg, "alerts"), "postgres"), IClassFixture<BrowserFixture>;
