using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Core.Fhir;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Records;

/// <summary>
/// Opening a record from every channel (issue 20), through the real server, Postfix/Dovecot, an SMS
/// gateway stand-in and Chromium: a GP at the office ($open-record, then the professional portal), a
/// hospital desk (activation code by SMS), the patient online with the insurer's letter — each
/// refused without the patient's express consent (and the refusal audited), each recorded with who
/// collected the consent, where and which notice was shown, and visible to the patient.
/// </summary>
public abstract partial class OpeningTests : ServerTestBase, IDisposable
{
    private readonly HookReceiver _gateway = new();
    private readonly MailServers.Mailbox _deposit;

    protected OpeningTests(MailServers mail, BrowserFixture browser, IStorageUnderTest storage)
        : base(storage)
    {
        Mail = mail;
        Chromium = browser;
        _deposit = mail.CreateMailbox("depot");
    }

    private MailServers Mail { get; }

    private BrowserFixture Chromium { get; }

    protected override IDictionary<string, string?>? ExtraConfig
    {
        get
        {
            var c = Mail.ServerConfig(_deposit);
            c["Sms:GatewayUrl"] = _gateway.Url;
            c["Sms:Seconds"] = "0";
            return c;
        }
    }

    public void Dispose()
    {
        _gateway.Dispose();
        GC.SuppressFinalize(this);
    }

    private static string Notice => InformationNotice.Current.Version;

    private static Hl7.Fhir.Model.Patient Identity(string ins, string birth = "1984-03-09") => new()
    {
        Identifier = [new Identifier(Ins.NirSystem, ins)],
        Name = [new HumanName { Use = HumanName.NameUse.Official, Family = "Lefèvre", Given = ["Camille", "Marie"] }],
        BirthDate = birth,
        Gender = AdministrativeGender.Female,
    };

    private static Parameters Opening(Hl7.Fhir.Model.Patient? patient, bool? consent, string? notice, params (string Name, DataType Value)[] more)
    {
        var p = new Parameters();
        if (patient is not null)
        {
            p.Parameter.Add(new Parameters.ParameterComponent { Name = "patient", Resource = patient });
        }

        if (consent is { } c)
        {
            p.Add("consent", new FhirBoolean(c));
        }

        if (notice is not null)
        {
            p.Add("information-notice", new FhirString(notice));
        }

        foreach (var (name, value) in more)
        {
            p.Add(name, value);
        }

        return p;
    }

    private async Task<(HttpStatusCode Status, string Body)> OpenAsync(TestProfessional by, Parameters p)
    {
        using var response = await Server.Http(by.Certificate).PostAsync("/fhir/Patient/$open-record", FhirAssert.Json(p));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private Task<T> DbAsync<T>(Func<DmpDbContext, Task<T>> query) => Server.WithScopeAsync(sp => query(sp.GetRequiredService<DmpDbContext>()));

    private async Task ActivateAsync(string ins, string code)
    {
        using var activate = await Server.Http(null).PostAsJsonAsync("/patient/activate", new { ins, code, password = Sessions.PatientPassword });
        Assert.True(activate.IsSuccessStatusCode, await activate.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Gp_OpensAtTheOffice_OnlyWithExpressConsent_AndThePatientActivatesWithThePrintedCode()
    {
        var gp = await Server.AddProfessionalAsync();
        var ins = TestIds.NewIns();

        // Without the consent flag: refused, said so, audited, and nothing written (not even the patient).
        var (status, body) = await OpenAsync(gp, Opening(Identity(ins), consent: null, Notice));
        Assert.True(status == HttpStatusCode.Forbidden, body);
        Assert.Contains("express consent is required", body, StringComparison.Ordinal);
        Assert.False(await DbAsync(db => db.PatientIdentifiers.AnyAsync(x => x.Value == ins)));
        Assert.True(await DbAsync(db => db.AuditEntries.AnyAsync(x => x.ActorId == gp.Id && x.Action == "open" && x.Outcome == "denied")));

        // A notice the patient was not shown (an older version) is refused too.
        (status, body) = await OpenAsync(gp, Opening(Identity(ins), true, "2020-01-01"));
        Assert.True(status is HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity, body);
        Assert.Contains($"the current one is {Notice}", body, StringComparison.Ordinal);

        (status, body) = await OpenAsync(gp, Opening(Identity(ins), true, Notice, ("treating-physician", new FhirString(gp.Rpps)), ("oppose-centre-15", new FhirBoolean(true))));
        Assert.True(status == HttpStatusCode.Created, body);
        var answer = FhirJson.Parse<Parameters>(body);
        Assert.True(((FhirBoolean)answer.GetSingle("registered").Value).Value);
        Assert.Equal("print", ((Code)answer.GetSingle("activation-delivery").Value).Value);
        var code = ((FhirString)answer.GetSingle("activation-code").Value).Value;
        var recordId = ((ResourceReference)answer.GetSingle("patient").Value).Reference["Patient/".Length..];

        var record = await DbAsync(db => db.Records.AsNoTracking().SingleAsync(r => r.RecordId == recordId));
        Assert.Equal(RecordStatus.Open, record.Status);
        Assert.Equal(gp.Id, record.TreatingPhysicianId);
        Assert.True(record.OpposeCentre15);
        Assert.False(record.OpposeBreakGlass);
        var opening = await DbAsync(db => db.RecordOpenings.AsNoTracking().SingleAsync(o => o.RecordId == recordId));
        Assert.Equal((OpeningChannel.Office, gp.Id, Notice, "professional", "print"), (opening.Channel, opening.CollectedById, opening.NoticeVersion, opening.OpenedBy, opening.ActivationDelivery));
        Assert.True(await DbAsync(db => db.AuditEntries.AnyAsync(x => x.RecordId == recordId && x.Action == "open" && x.Outcome == "success" && x.Detail!.Contains("information notice " + Notice))));

        // The patient activates their account with the printed code.
        await ActivateAsync(ins, code);

        // Opening again is refused (the record is open); different traits under the same INS are not matched.
        (status, body) = await OpenAsync(gp, Opening(Identity(ins), true, Notice));
        Assert.True(status == HttpStatusCode.Conflict, body);
        Assert.Contains("already open", body, StringComparison.Ordinal);
        (status, body) = await OpenAsync(gp, Opening(Identity(ins, birth: "1985-03-09"), true, Notice));
        Assert.True(status == HttpStatusCode.Conflict, body);
        Assert.Contains("identity traits", body, StringComparison.Ordinal);

        // By e-mail: the code goes to the patient's mailbox, not into the answer.
        var box = Mail.CreateMailbox("patient");
        var other = TestIds.NewIns();
        (status, body) = await OpenAsync(gp, Opening(Identity(other), true, Notice, ("activation-delivery", new Code("email")), ("email", new FhirString(box.Address)), ("language", new Code("en"))));
        Assert.True(status == HttpStatusCode.Created, body);
        Assert.DoesNotContain("activation-code", body, StringComparison.Ordinal);
        var mail = Assert.Single(await box.WaitForAsync());
        Assert.Equal("OpenDMP: your shared medical record is open", mail.Subject);
        var mailed = ActivationCode().Match(mail.TextBody).Groups[1].Value;
        await ActivateAsync(other, mailed);
    }

    [Fact]
    public async Task HospitalDesk_OpensWithTheCodeSentBySms_AndOnlyAProfessionalOfTheEstablishmentMayClaimIt()
    {
        var (urgentist, hospital) = await Server.AddHospitalAsync();
        var gp = await Server.AddProfessionalAsync();
        var ins = TestIds.NewIns();
        var sms = new[] { ("channel", (DataType)new Code("hospital")), ("activation-delivery", new Code("sms")), ("phone", new FhirString("06 11 22 33 44")) };

        var (status, body) = await OpenAsync(gp, Opening(Identity(ins), true, Notice, sms));
        Assert.True(status == HttpStatusCode.BadRequest || status == HttpStatusCode.UnprocessableEntity, body);
        Assert.Contains("attached to the establishment", body, StringComparison.Ordinal);

        (status, body) = await OpenAsync(urgentist, Opening(Identity(ins), true, Notice, sms));
        Assert.True(status == HttpStatusCode.Created, body);
        Assert.DoesNotContain("activation-code", body, StringComparison.Ordinal);
        var recordId = ((ResourceReference)FhirJson.Parse<Parameters>(body).GetSingle("patient").Value).Reference["Patient/".Length..];
        var text = JsonDocument.Parse(Assert.Single(_gateway.Accepted).Body).RootElement;
        Assert.Equal("+33611223344", text.GetProperty("to").GetString());
        var code = ActivationCode().Match(text.GetProperty("text").GetString()!).Groups[1].Value;
        Assert.NotEmpty(code);

        var opening = await DbAsync(db => db.RecordOpenings.AsNoTracking().SingleAsync(o => o.RecordId == recordId));
        Assert.Equal(OpeningChannel.Hospital, opening.Channel);
        Assert.Equal(urgentist.Id, opening.CollectedById);
        Assert.NotNull(opening.OrganizationId);
        await ActivateAsync(ins, code);

        // The patient sees who opened it, where, and the notice shown.
        var me = new Actor(ActorKind.Patient, recordId, "patient");
        var seen = await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().OpeningsAsync(recordId, me, Channels.Portal, default));
        var (_, collector, organization) = Assert.Single(seen);
        Assert.Equal(urgentist.Display, collector);
        Assert.Equal(hospital, organization);
    }

    [Fact]
    public async Task Patient_OpensOnlineWithTheInsurerLetter_RefusedWithoutConsent_ThenSeesTheOpening_AndTheProfessionalPortalOpensAnother()
    {
        // The insurer's letter for a registered patient without a record.
        var ins = TestIds.NewIns();
        var patient = await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(new NewPatient(ins, Ins.NirSystem, "MOREAU", "Léa", new DateOnly(1990, 6, 1), "F", null), Actor.Operator, Channels.Admin, default));
        using var output = new StringWriter();
        using var errors = new StringWriter();
        Assert.Equal(0, await AdminCli.RunAsync(["patient", "opening-letter", "--ins", ins, "--data", Server.Data.Root], Server.Config, output, errors));
        var letter = LetterCode().Match(output.ToString()).Value;
        Assert.NotEmpty(letter);

        await using (var context = await Chromium.ContextAsync(Server))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/patient/ouvrir");
            await Expect(page.GetByRole(AriaRole.Heading, new() { Name = InformationNotice.Current.French.Title })).ToBeVisibleAsync();
            await BrowserFixture.AssertAccessibleAsync(page);
            await page.FillAsync("#ins", ins);
            await page.FillAsync("#letter", letter);
            await page.FillAsync("#password", Sessions.PatientPassword);
            await page.ClickAsync("button[type=submit]");
            await Expect(page.Locator("p.error")).ToContainTextAsync("consent");
            Assert.False(await DbAsync(db => db.Records.AnyAsync(r => r.RecordId == patient.RecordId)));

            // A wrong letter code is refused as such, whatever the consent.
            await page.FillAsync("#ins", ins);
            await page.FillAsync("#letter", "AAAA-BBBB-CCCC");
            await page.FillAsync("#password", Sessions.PatientPassword);
            await page.CheckAsync("#consent");
            await page.CheckAsync("#oppose-break-glass");
            await page.ClickAsync("button[type=submit]");
            await Expect(page.Locator("p.error")).ToBeVisibleAsync();
            Assert.False(await DbAsync(db => db.Records.AnyAsync(r => r.RecordId == patient.RecordId)));

            await page.FillAsync("#ins", ins);
            await page.FillAsync("#letter", letter);
            await page.FillAsync("#password", Sessions.PatientPassword);
            await page.CheckAsync("#consent");
            await page.CheckAsync("#oppose-break-glass");
            await page.ClickAsync("button[type=submit]");
            await Expect(page.Locator("p.success")).ToBeVisibleAsync();
            var secret = await page.Locator("#totp-secret").InnerTextAsync();
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, "opening-online");

            var record = await DbAsync(db => db.Records.AsNoTracking().SingleAsync(r => r.RecordId == patient.RecordId));
            Assert.True(record.OpposeBreakGlass);
            var opening = await DbAsync(db => db.RecordOpenings.AsNoTracking().SingleAsync(o => o.RecordId == patient.RecordId));
            Assert.Equal((OpeningChannel.Online, (string?)null, "patient", "online"), (opening.Channel, opening.CollectedById, opening.OpenedBy, opening.ActivationDelivery));
            Assert.NotNull(await DbAsync(db => db.OpeningLetters.AsNoTracking().Where(l => l.RecordId == patient.RecordId).Select(l => l.UsedAt).SingleAsync()));

            // Signed in, the patient sees the opening on their authorisations page.
            await page.GotoAsync("/patient/connexion");
            await page.FillAsync("#ins", ins);
            await page.FillAsync("#password", Sessions.PatientPassword);
            await page.FillAsync("#totp", Totp.Code(Sessions.FromBase32(secret), Totp.StepAt(DateTimeOffset.UtcNow)));
            await page.ClickAsync("button[type=submit]");
            await page.GotoAsync("/patient/autorisations");
            await Expect(page.Locator("li.opening")).ToContainTextAsync("en ligne, avec votre accord recueilli par vous-même");
            await Expect(page.Locator("li.opening")).ToContainTextAsync(InformationNotice.Current.Version);
        }

        // The letter is spent: it opens nothing twice.
        Assert.Null(await Server.WithScopeAsync(sp => sp.GetRequiredService<IOnlineIdentityProof>().VerifyAsync(ins, letter, default)));

        // A GP opens another patient's record from the professional portal: refused without the box checked, then the printed code.
        var gp = await Server.AddProfessionalAsync();
        var other = TestIds.NewIns();
        await using (var context = await Chromium.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", gp.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/pro");
            await page.ClickAsync("a[href='/pro/ouvrir-dossier']");
            await BrowserFixture.AssertAccessibleAsync(page);
            await page.FillAsync("#ins", other);
            await page.FillAsync("#family", "Garnier");
            await page.FillAsync("#given", "Inès");
            await page.FillAsync("#birthdate", "1979-11-23");
            await page.ClickAsync("button[type=submit]");
            await Expect(page.Locator("p.error")).ToContainTextAsync("consent");
            Assert.False(await DbAsync(db => db.PatientIdentifiers.AnyAsync(x => x.Value == other)));
            // What was typed is kept.
            Assert.Equal("Garnier", await page.InputValueAsync("#family"));

            await page.CheckAsync("#consent");
            await page.ClickAsync("button[type=submit]");
            await Expect(page.Locator("p.success")).ToBeVisibleAsync();
            var code = await page.Locator("#activation-code").InnerTextAsync();
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, "opening-pro");
            await ActivateAsync(other, code);
        }

        Assert.True(await DbAsync(db => db.RecordOpenings.AnyAsync(o => o.CollectedById == gp.Id && o.Channel == OpeningChannel.Office)));
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    [GeneratedRegex(@"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}")]
    private static partial Regex LetterCode();

    [GeneratedRegex(@"activation[^:]*:\s*([A-Z0-9-]{6,})", RegexOptions.IgnoreCase)]
    private static partial Regex ActivationCode();
}

[Collection(MailCollection.Name)]
public sealed class OpeningTests_Sqlite(MailServers mail, BrowserFixture browser) : OpeningTests(mail, browser, new SqliteStorage()), IClassFixture<BrowserFixture>;

[Collection(MailCollection.Name)]
public sealed class OpeningTests_Postgres(MailServers mail, PostgresCluster pg, BrowserFixture browser) : OpeningTests(mail, browser, new PostgresStorage(pg, "openings")), IClassFixture<BrowserFixture>;
