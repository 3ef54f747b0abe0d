using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// A group practice's consent, as the patient should see it (issue 20), through the real server and
/// Chromium: the professional's page shows the group's current members before the declaration and
/// takes the patient's exclusions in the same step; the excluded member reads nothing; the patient's
/// authorisations page lists the members by name, marks the excluded one and excludes another.
/// </summary>
public abstract class GroupConsentTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    [Fact]
    public async Task TheMembersAreShownBeforeConsent_ExclusionsApply_AndThePatientSeesThemByName()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var doc = await Server.SubmitAsync(gp, patient, new OpenDmp.Core.Documents.DocumentToSubmit("CR de consultation"u8.ToArray(), "text/plain", "CR de consultation", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var declarer = await Server.AddProfessionalAsync("10", "SM54", "Roux", "Hélène");
        var nurse = await Server.AddProfessionalAsync("10", "SM54", "Blanc", "Julie");
        var physio = await Server.AddProfessionalAsync("70", null, "Petit", "Marc");
        var group = await Server.WithScopeAsync(sp => sp.GetRequiredService<DirectoryService>().AddGroupAsync("MSP des Tilleuls", "msp", [declarer.Rpps, nurse.Rpps, physio.Rpps], CancellationToken.None));

        await using (var context = await browser.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", declarer.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync($"/pro/patients/{patient.Id}");
            var section = page.Locator("section[aria-labelledby=declare-group]");
            await Assertions.Expect(section).ToContainTextAsync("Julie Blanc");
            await Assertions.Expect(section).ToContainTextAsync("Marc Petit");
            await BrowserFixture.AssertAccessibleAsync(page);
            // The patient excludes the physiotherapist before consenting.
            await page.CheckAsync($"#exclude-{group.Id}-{physio.Id}");
            await page.CheckAsync("#group-confirm");
            await page.ClickAsync($"button[name=GroupId][value='{group.Id}']");
            await Assertions.Expect(page.Locator("p.success")).ToContainTextAsync("Accès du groupe déclaré");
            await BrowserFixture.ScreenshotAsync(page, "group-declaration");
        }

        var grant = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Grants.AsNoTracking().SingleAsync(g => g.RecordId == patient.Id && g.Mode == "group"));
        Assert.Equal(physio.Id, grant.Excluded);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await Server.Http(nurse.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await Server.Http(physio.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);

        // The patient sees the members by name, the excluded one marked, and excludes the nurse too.
        var (_, cookie) = await Server.LoginPatientAsync(patient);
        await using (var context = await browser.ContextAsync(Server))
        {
            var parts = cookie.Split('=', 2);
            await context.AddCookiesAsync([new Cookie { Name = parts[0], Value = parts[1], Url = Server.BaseUrl }]);
            var page = await context.NewPageAsync();
            await page.GotoAsync("/patient/autorisations");
            var members = page.Locator("ul.members");
            await Assertions.Expect(members).ToContainTextAsync("Hélène Roux");
            await Assertions.Expect(members.Locator("li", new() { HasText = "Marc Petit" })).ToContainTextAsync("exclu");
            await BrowserFixture.AssertAccessibleAsync(page);
            await page.GetByRole(AriaRole.Button, new() { Name = "Exclure Julie Blanc" }).ClickAsync();
            await Assertions.Expect(page.Locator("p.success")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("ul.members li", new() { HasText = "Julie Blanc" })).ToContainTextAsync("exclu");
        }

        Assert.Equal(System.Net.HttpStatusCode.Forbidden, (await Server.Http(nurse.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await Server.Http(declarer.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
    }
}

public sealed class GroupConsentTests_Sqlite(BrowserFixture browser) : GroupConsentTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class GroupConsentTests_Postgres(PostgresCluster pg, BrowserFixture browser) : GroupConsentTests(new PostgresStorage(pg, "groupconsent"), browser), IClassFixture<BrowserFixture>;
