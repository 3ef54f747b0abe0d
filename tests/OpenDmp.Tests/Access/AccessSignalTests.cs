using System.Net;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// Signals of improper access (issue 20), through the real server and Chromium: a generated burst of
/// first accesses by one professional, repeated emergency accesses, and an access just before the
/// patient blocked the professional each raise a signal for the access-review role; a signal holds no
/// clinical data; only a reviewer lists them, and every review is audited.
/// </summary>
public abstract class AccessSignalTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    private const string Secret = "Séropositivité VIH confirmée";

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["AccessSignals:ScanSeconds"] = "0.3",
        ["AccessSignals:Rules:0:Id"] = "burst",
        ["AccessSignals:Rules:0:Kind"] = "new-records",
        ["AccessSignals:Rules:0:Count"] = "5",
        ["AccessSignals:Rules:0:WindowMinutes"] = "30",
        ["AccessSignals:Rules:1:Id"] = "emergencies",
        ["AccessSignals:Rules:1:Kind"] = "emergency",
        ["AccessSignals:Rules:1:Count"] = "2",
        ["AccessSignals:Rules:1:WindowMinutes"] = "60",
        ["AccessSignals:Rules:2:Id"] = "block",
        ["AccessSignals:Rules:2:Kind"] = "around-block",
        ["AccessSignals:Rules:2:Count"] = "1",
        ["AccessSignals:Rules:2:WindowMinutes"] = "60",
    };

    private Task<List<AccessSignal>> SignalsAsync() =>
        Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AccessSignals.AsNoTracking().ToListAsync());

    [Fact]
    public async Task ABurstEmergenciesAndAnAccessAroundABlock_RaiseSignals_WithoutContent_ReviewedByTheReviewRoleOnly()
    {
        var gp = await Server.AddProfessionalAsync();
        var curious = await Server.AddProfessionalAsync("10", "SM54", "Fouineur", "Paul");
        var honest = await Server.AddProfessionalAsync("10", "SM54", "Sage", "Anne");
        var patients = new List<TestPatient>();
        for (var i = 0; i < 6; i++)
        {
            var p = await Server.AddPatientAsync(gp);
            await Server.SubmitAsync(gp, p, new DocumentToSubmit(Encoding.UTF8.GetBytes(Secret), "text/plain", Secret, FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
            patients.Add(p);
        }

        // A burst: the curious professional reaches five records they had no link with.
        var http = Server.Http(curious.Certificate);
        foreach (var p in patients.Take(5))
        {
            var declare = new Parameters();
            declare.Add("mode", new Code("alleged"));
            declare.Add("confirm", new FhirBoolean(true));
            using (var r = await http.PostAsync($"/fhir/Patient/{p.Id}/$declare-access", FhirAssert.Json(declare)))
            {
                Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
            }

            using var search = await http.GetAsync($"/fhir/DocumentReference?patient={p.Id}");
            Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        }

        // The honest one reaches a single record: nothing to signal.
        var one = new Parameters();
        one.Add("mode", new Code("alleged"));
        one.Add("confirm", new FhirBoolean(true));
        (await Server.Http(honest.Certificate).PostAsync($"/fhir/Patient/{patients[5].Id}/$declare-access", FhirAssert.Json(one))).Dispose();
        (await Server.Http(honest.Certificate).GetAsync($"/fhir/DocumentReference?patient={patients[5].Id}")).Dispose();

        // Two emergency accesses by the same professional.
        foreach (var p in patients.Take(2))
        {
            var emergency = new Parameters();
            emergency.Add("mode", new Code("break-glass"));
            emergency.Add("reason", new FhirString("patient inconscient"));
            using var r = await Server.Http(honest.Certificate).PostAsync($"/fhir/Patient/{p.Id}/$emergency-access", FhirAssert.Json(emergency));
            Assert.True(r.IsSuccessStatusCode, await r.Content.ReadAsStringAsync());
        }

        // The patient blocks the curious professional just after their access.
        var target = patients[0];
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<ConsentService>().BlockAsync(target.Id, curious.Rpps, true, new Actor(ActorKind.Patient, target.Id, "patient"), Channels.Portal, default);
            return 0;
        });

        await Wait.UntilAsync(async () => (await SignalsAsync()).Select(s => s.Kind).Distinct().Count() == 3, TimeSpan.FromSeconds(30));
        var signals = await SignalsAsync();
        var burst = Assert.Single(signals, s => s.Kind == AccessSignalOptions.NewRecords);
        Assert.Equal((curious.Id, 5), (burst.ProfessionalId, burst.Count));
        var emergencies = Assert.Single(signals, s => s.Kind == AccessSignalOptions.Emergency);
        Assert.Equal((honest.Id, 2), (emergencies.ProfessionalId, emergencies.Count));
        var block = Assert.Single(signals, s => s.Kind == AccessSignalOptions.AroundBlock);
        Assert.Equal((curious.Id, target.Id), (block.ProfessionalId, block.RecordId));
        Assert.DoesNotContain(signals, s => s.ProfessionalId == honest.Id && s.Kind == AccessSignalOptions.NewRecords);
        // Nothing clinical in a signal, nor in the trail of its raising.
        Assert.DoesNotContain(Secret, JsonSerializer.Serialize(signals), StringComparison.Ordinal);
        var raisedTrail = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(e => e.ObjectType == "AccessSignal").Select(e => e.Detail).ToListAsync());
        Assert.Equal(3, raisedTrail.Count);
        Assert.DoesNotContain(raisedTrail, d => d!.Contains(Secret, StringComparison.Ordinal));

        // Only the access-review role lists them.
        using (var refused = await Server.Http(gp.Certificate).GetAsync("/pro/revue-acces"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("access-review role", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var reviewer = await Server.AddProfessionalAsync("10", "SM54", "Revue", "Claire");
        using var output = new StringWriter();
        using var errors = new StringWriter();
        Assert.Equal(0, await AdminCli.RunAsync(["professional", "reviewer", "--rpps", reviewer.Rpps, "--data", Server.Data.Root], Server.Config, output, errors));
        await using (var context = await browser.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", reviewer.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/pro/revue-acces");
            await Assertions.Expect(page.Locator("tr.signal")).ToHaveCountAsync(3);
            await Assertions.Expect(page.Locator("tr.signal", new() { HasText = "Paul Fouineur" }).First).ToBeVisibleAsync();
            Assert.DoesNotContain(Secret, await page.ContentAsync(), StringComparison.Ordinal);
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, "access-review");
            await page.FillAsync($"#note-{burst.Id}", "Aucun lien de soins connu : transmis au DPO.");
            await page.ClickAsync($"button[name=Decision][value='{burst.Id}:referred']");
            await Assertions.Expect(page.Locator("p.success")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("tr.signal")).ToHaveCountAsync(2);
        }

        var reviewed = (await SignalsAsync()).Single(s => s.Id == burst.Id);
        Assert.Equal(("referred", reviewer.Id), (reviewed.Outcome, reviewed.ReviewedBy));
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(e => e.ObjectType == "AccessSignal" && e.ObjectId == burst.Id && e.ActorId == reviewer.Id && e.Detail == "reviewed: referred")));
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(e => e.ObjectType == "AccessSignal" && e.ActorId == gp.Id && e.Outcome == "denied")));
    }
}

public sealed class AccessSignalTests_Sqlite(BrowserFixture browser) : AccessSignalTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class AccessSignalTests_Postgres(PostgresCluster pg, BrowserFixture browser) : AccessSignalTests(new PostgresStorage(pg, "accesssignals"), browser), IClassFixture<BrowserFixture>;
