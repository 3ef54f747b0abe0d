using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Identity;

/// <summary>
/// The identity-vigilance queue on the registered identities: a detection run queues the possible
/// duplicates (not the twins), a decision is on both records' chains, and a decided pair is never
/// proposed again.
/// </summary>
public abstract partial class DuplicateQueueTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private Task<Patient> RegisterAsync(string family, string given, string birth, string sex, string? place) =>
        Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(
            new NewPatient(TestIds.NewIns(), Ins.TestSystem, family, given, DateOnly.Parse(birth, System.Globalization.CultureInfo.InvariantCulture), sex, place), Actor.Operator, Channels.Admin, CancellationToken.None));

    [GeneratedRegex(@"^(\S+)\s+0\.\d{3}\s", RegexOptions.Multiline)]
    private static partial Regex PairLine();

    [Fact]
    public async Task ADuplicateIsQueued_TwinsAreNot_AndADecisionIsFinalAndAudited()
    {
        var helene = await RegisterAsync("LEFÈVRE", "Hélène Marie", "1975-03-08", "F", "69123");
        var again = await RegisterAsync("LEFEVRE", "Helene", "1975-08-03", "F", null); // a desk's second registration: accents lost, day and month swapped
        await RegisterAsync("LEFÈVRE", "Camille", "1975-03-08", "F", "69123");          // her twin sister
        await RegisterAsync("LEFÈVRE", "Hélène", "1990-11-23", "F", "75056");           // a namesake

        var (code, output) = await CliAsync("identity", "duplicates");
        Assert.True(code == 0, output);
        Assert.Contains("1 possible duplicates (1 new in the queue, 0 already queued, 0 already decided)", output, StringComparison.Ordinal);
        var line = Assert.Single(PairLine().Matches(output));
        Assert.Contains($"Patient/{helene.RecordId}", output, StringComparison.Ordinal);
        Assert.Contains($"Patient/{again.RecordId}", output, StringComparison.Ordinal);
        var pairId = line.Groups[1].Value;
        // Listing the queue shows identity traits: on each record's chain, even for the operator.
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(e => e.RecordId == again.RecordId && e.Detail != null && e.Detail.Contains("identity traits shown"))));

        (code, output) = await CliAsync("identity", "decide", "--pair", pairId, "--same-person");
        Assert.True(code == 0, output);
        Assert.Contains("same-person", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("identity", "decide", "--pair", pairId, "--different-persons");
        Assert.Equal(3, code);
        Assert.Contains("already decided", output, StringComparison.Ordinal);

        // The identity-vigilance officer reviews the queue in the portal: a second pair, decided there.
        var marc = await RegisterAsync("ROUSSEAU", "Margot", "1961-12-01", "F", "35238");
        var marcAgain = await RegisterAsync("ROUSEAU", "Margot", "1961-12-01", "F", "35238");
        (code, output) = await CliAsync("identity", "duplicates");
        Assert.True(code == 0, output);
        var gp = await Server.AddProfessionalAsync();
        using (var refused = await Server.Http(gp.Certificate).GetAsync("/pro/identitovigilance"))
        {
            Assert.Contains("identity-vigilance role", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var officer = await Server.AddProfessionalAsync("10", "SM54", "Vigie", "Anne");
        (code, output) = await CliAsync("professional", "identity-officer", "--rpps", officer.Rpps);
        Assert.True(code == 0, output);
        await using (var context = await browser.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", officer.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/pro/identitovigilance");
            await Microsoft.Playwright.Assertions.Expect(page.Locator("tr.duplicate-pair")).ToHaveCountAsync(1);
            Assert.Contains("ROUSEAU Margot", await page.InnerTextAsync("tr.duplicate-pair"), StringComparison.Ordinal);
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, "identity-vigilance");
            await page.ClickAsync("tr.duplicate-pair button.secondary");
            await Microsoft.Playwright.Assertions.Expect(page.Locator("p.success")).ToBeVisibleAsync();
            await Microsoft.Playwright.Assertions.Expect(page.Locator("tr.duplicate-pair")).ToHaveCountAsync(0);
        }

        var shown = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => (e.RecordId == marc.RecordId || e.RecordId == marcAgain.RecordId) && e.ActorId == officer.Id).Select(e => e.Detail).ToListAsync());
        Assert.Contains(shown, d => d!.Contains("identity traits shown", StringComparison.Ordinal));
        Assert.Contains(shown, d => d!.Contains("not the same person", StringComparison.Ordinal));

        // A new run does not propose them again.
        (code, output) = await CliAsync("identity", "duplicates");
        Assert.True(code == 0, output);
        Assert.Contains("(0 new in the queue, 0 already queued, 2 already decided)", output, StringComparison.Ordinal);

        // The decision is on both records' chains, each naming the other.
        var details = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => (e.RecordId == helene.RecordId || e.RecordId == again.RecordId) && e.Detail != null && e.Detail.StartsWith("identity vigilance: ") && !e.Detail.Contains("shown"))
            .Select(e => new { e.RecordId, e.Detail }).ToListAsync());
        Assert.Equal(2, details.Count);
        Assert.Contains(details, d => d.RecordId == helene.RecordId && d.Detail!.Contains($"Patient/{again.RecordId}", StringComparison.Ordinal));
        Assert.Contains(details, d => d.RecordId == again.RecordId && d.Detail!.Contains($"Patient/{helene.RecordId}", StringComparison.Ordinal));
    }
}

public sealed class DuplicateQueueTests_Sqlite(BrowserFixture browser) : DuplicateQueueTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class DuplicateQueueTests_Postgres(PostgresCluster pg, BrowserFixture browser) : DuplicateQueueTests(new PostgresStorage(pg, "duplicates"), browser), IClassFixture<BrowserFixture>;
