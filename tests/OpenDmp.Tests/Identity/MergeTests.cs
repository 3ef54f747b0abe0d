using System.Net;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Patient = Hl7.Fhir.Model.Patient;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Identity;

/// <summary>
/// Merge and unmerge of a duplicate identity (IHE PMIR): documents, masks, authorisations and
/// oppositions follow to the survivor, the merged Patient is inactive and replaced-by the survivor,
/// filing under it is refused, the survivor's history shows both chains, both patients are told; the
/// unmerge puts every row and every byte of content back as it was.
/// </summary>
public abstract class MergeTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private static DocumentToSubmit Note(string text) => new(Encoding.UTF8.GetBytes(text), "text/plain", text, FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    /// <summary>
    /// Everything a record holds that a merge may move, as text: rows with every column, content as
    /// decrypted bytes. First-access marks are left out: an access to the survivor during the merge
    /// is a fact of the survivor's record that the unmerge does not erase.
    /// </summary>
    private Task<string> SnapshotAsync(string recordId) => Server.WithScopeAsync(async sp =>
    {
        var db = sp.GetRequiredService<DmpDbContext>();
        var store = sp.GetRequiredService<IContentStore>();
        var documents = await db.Documents.AsNoTracking().Where(d => d.RecordId == recordId).OrderBy(d => d.Id).ToListAsync();
        var content = new List<string>();
        foreach (var d in documents)
        {
            content.Add(d.Id + ":" + Convert.ToBase64String(await store.GetAsync(db, recordId, d.ContentKey, CancellationToken.None) ?? []));
        }

        var record = await db.Records.AsNoTracking().FirstAsync(r => r.RecordId == recordId);
        record.UpdatedAt = default;
        return JsonSerializer.Serialize(new
        {
            documents,
            content,
            links = await db.DocumentLinks.AsNoTracking().Where(l => l.RecordId == recordId).OrderBy(l => l.DocumentId).ThenBy(l => l.Kind).ThenBy(l => l.Target).ToListAsync(),
            sets = await db.SubmissionSets.AsNoTracking().Where(s => s.RecordId == recordId).OrderBy(s => s.Id).ToListAsync(),
            observations = await db.Observations.AsNoTracking().Where(o => o.RecordId == recordId).OrderBy(o => o.Id).ToListAsync(),
            entries = await db.ClinicalEntries.AsNoTracking().Where(e => e.RecordId == recordId).OrderBy(e => e.Id).ToListAsync(),
            grants = await db.Grants.AsNoTracking().Where(g => g.RecordId == recordId).OrderBy(g => g.Id).ToListAsync(),
            blocked = await db.BlockedProfessionals.AsNoTracking().Where(b => b.RecordId == recordId).OrderBy(b => b.ProfessionalId).ToListAsync(),
            record,
        });
    });

    [Fact]
    public async Task DocumentsGrantsAndOppositionsFollowTheSurvivor_AndTheUnmergeRestoresEveryByte()
    {
        var gpA = await Server.AddProfessionalAsync(family: "Aubert", given: "Claire");
        var gpB = await Server.AddProfessionalAsync(family: "Bernard", given: "Louis");
        var blockedGp = await Server.AddProfessionalAsync(family: "Colin", given: "Marc");
        var survivor = await Server.AddPatientAsync(new NewPatient(TestIds.NewIns(), Ins.NirSystem, "MARCHAND", "Élodie Anne", new DateOnly(1982, 4, 12), "F", "44109"), gpA);
        // The same woman registered again at another desk (accents lost, second given name dropped), with her own record.
        var duplicate = await Server.AddPatientAsync(new NewPatient(TestIds.NewIns(), Ins.NirSystem, "MARCHAND", "Elodie", new DateOnly(1982, 4, 12), "F", "44109"), gpB);
        var kept = await Server.SubmitAsync(gpA, survivor, Note("Compte rendu de consultation (identité conservée)"));
        var moved = await Server.SubmitAsync(gpB, duplicate, Note("Compte rendu de consultation (doublon)"));
        var masked = await Server.SubmitAsync(gpB, duplicate, Note("Compte rendu masqué par la patiente"));
        using (var m = await Server.Http(gpB.Certificate).PostAsync($"/fhir/DocumentReference/{masked}/$mask", FhirAssert.Json(new Parameters())))
        {
            Assert.True(m.IsSuccessStatusCode, await m.Content.ReadAsStringAsync());
        }

        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<OpenDmp.Core.Access.ConsentService>().BlockAsync(duplicate.Id, blockedGp.Id, true, Actor.Operator, Channels.Admin, CancellationToken.None);
            // The second registration is doubtful (RNIV): the qualified identity is the one to keep.
            return await sp.GetRequiredService<RecordService>().SetIdentityAsync(duplicate.Id, new IdentityEvidence(null, null, null, Doubtful: true), Actor.Operator, Channels.Admin, CancellationToken.None);
        });
        using (var before = await Server.Http(gpB.Certificate).GetAsync($"/fhir/DocumentReference?patient={survivor.Id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, before.StatusCode); // gpB has no authorisation on the survivor yet
        }

        var survivorBefore = await SnapshotAsync(survivor.Id);
        var duplicateBefore = await SnapshotAsync(duplicate.Id);

        // The officer finds the pair and merges it in the portal ("same person: merge"): the survivor is the qualified identity.
        var (code, output) = await CliAsync("identity", "duplicates");
        Assert.True(code == 0, output);
        var officer = await Server.AddProfessionalAsync("10", "SM54", "Vigie", "Anne");
        (code, output) = await CliAsync("professional", "identity-officer", "--rpps", officer.Rpps);
        Assert.True(code == 0, output);
        await using (var context = await browser.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", officer.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync("/pro/identitovigilance");
            await Microsoft.Playwright.Assertions.Expect(page.Locator("tr.duplicate-pair")).ToHaveCountAsync(1);
            await page.ClickAsync("tr.duplicate-pair button:not(.secondary)");
            await Microsoft.Playwright.Assertions.Expect(page.Locator("p.success")).ToContainTextAsync("2 document(s)");
            await Microsoft.Playwright.Assertions.Expect(page.Locator("tr.merge")).ToHaveCountAsync(1);
            Assert.Contains($"Patient/{duplicate.Id}", await page.InnerTextAsync("tr.merge td:nth-child(2)"), StringComparison.Ordinal);
            Assert.Contains($"Patient/{survivor.Id}", await page.InnerTextAsync("tr.merge td:nth-child(3)"), StringComparison.Ordinal);
            await BrowserFixture.AssertAccessibleAsync(page);
        }

        // The merged Patient is inactive and names its survivor; the survivor names what it replaces.
        var gpAHttp = Server.Http(gpA.Certificate);
        var gpBHttp = Server.Http(gpB.Certificate);
        var mergedPatient = FhirJson.Parse<Patient>(await gpAHttp.GetStringAsync($"/fhir/Patient/{duplicate.Id}"));
        Assert.False(mergedPatient.Active);
        Assert.Equal(($"Patient/{survivor.Id}", Patient.LinkType.ReplacedBy), (mergedPatient.Link.Single().Other.Reference, mergedPatient.Link.Single().Type!.Value));
        var survivorPatient = FhirJson.Parse<Patient>(await gpAHttp.GetStringAsync($"/fhir/Patient/{survivor.Id}"));
        Assert.Equal(($"Patient/{duplicate.Id}", Patient.LinkType.Replaces), (survivorPatient.Link.Single().Other.Reference, survivorPatient.Link.Single().Type!.Value));

        // gpB's authorisation followed: he reads the survivor's own document; his masked one moved masked.
        var seenByB = FhirJson.Parse<Bundle>(await gpBHttp.GetStringAsync($"/fhir/DocumentReference?patient={survivor.Id}"));
        Assert.Equal(new[] { kept, masked, moved }.Order(StringComparer.Ordinal), seenByB.Entry.Select(e => e.Resource.Id).Order(StringComparer.Ordinal));
        Assert.All(seenByB.Entry, e => Assert.Equal($"Patient/{survivor.Id}", ((DocumentReference)e.Resource).Subject.Reference));
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Documents.AsNoTracking().AnyAsync(d => d.RecordId == survivor.Id && d.Id == masked && d.Masked)));
        // gpA reads the moved document's content, re-sealed under the survivor's key, byte for byte.
        using (var raw = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Binary/{moved}") { Headers = { { "Accept", "text/plain" } } })
        using (var content = await gpAHttp.SendAsync(raw))
        {
            Assert.Equal("Compte rendu de consultation (doublon)", await content.Content.ReadAsStringAsync());
        }
        // The opposition followed too.
        using (var refused = await Server.Http(blockedGp.Certificate).GetAsync($"/fhir/DocumentReference?patient={survivor.Id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("the patient has not authorised you", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Nothing is filed under the merged identity any more; the answer names the survivor.
        using (var late = await gpBHttp.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(duplicate.Reference, gpB.Rpps, gpB.Display, [Note("Envoyé trop tard")]))))
        {
            Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
            Assert.Contains($"merged into Patient/{survivor.Id}", await late.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The survivor's history shows the merged identity's chain too (entries named {record}.{seq}), and the merge on both.
        var history = FhirJson.Parse<Bundle>(await gpAHttp.GetStringAsync($"/fhir/AuditEvent?patient={survivor.Id}&_count=100"));
        Assert.Contains(history.Entry, e => e.Resource.Id.StartsWith(duplicate.Id + ".", StringComparison.Ordinal));
        Assert.Contains(history.Entry, e => e.Resource.Id.StartsWith(survivor.Id + ".", StringComparison.Ordinal));
        var notified = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking()
            .Where(n => n.Kind == OpenDmp.Core.Notifications.NotificationEvents.IdentityMerge).Select(n => n.RecordId).ToListAsync());
        Assert.Equal(new[] { duplicate.Id, survivor.Id }.Order(StringComparer.Ordinal), notified.Order(StringComparer.Ordinal));

        // The command line lists the merge and undoes it; a second undo is refused.
        (code, output) = await CliAsync("identity", "merges");
        Assert.True(code == 0, output);
        var mergeId = output.Split(' ', 2)[0];
        Assert.Contains($"Patient/{duplicate.Id} -> Patient/{survivor.Id}  2 documents", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("identity", "unmerge", "--merge", mergeId);
        Assert.True(code == 0, output);
        Assert.Contains("has its 2 documents and", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("identity", "unmerge", "--merge", mergeId);
        Assert.Equal(3, code);
        Assert.Contains("already undone", output, StringComparison.Ordinal);

        // Every row and every byte is back where it was.
        Assert.Equal(survivorBefore, await SnapshotAsync(survivor.Id));
        Assert.Equal(duplicateBefore, await SnapshotAsync(duplicate.Id));
        using (var again = await gpBHttp.GetAsync($"/fhir/DocumentReference?patient={survivor.Id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, again.StatusCode);
        }

        Assert.NotEmpty(FhirJson.Parse<Bundle>(await gpBHttp.GetStringAsync($"/fhir/DocumentReference?patient={duplicate.Id}")).Entry);
        Assert.True(FhirJson.Parse<Patient>(await gpAHttp.GetStringAsync($"/fhir/Patient/{duplicate.Id}")).Active);

        // The chains were appended to, never rewritten.
        (code, output) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task AMergeIsRefusedWhenItCannotBeRight_AndToProfessionalsWithoutTheRole()
    {
        var gp = await Server.AddProfessionalAsync();
        var a = await Server.AddPatientAsync(gp);
        var b = await Server.AddPatientAsync(gp);
        var (code, output) = await CliAsync("identity", "merge", "--merged", a.Id, "--survivor", a.Id);
        Assert.Equal(2, code);
        Assert.Contains("cannot be merged into itself", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("identity", "merge", "--merged", a.Id);
        Assert.Equal(2, code);
        Assert.Contains("--merged and --survivor", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("identity", "merge", "--merged", a.Id, "--survivor", b.Id);
        Assert.True(code == 0, output);
        (code, output) = await CliAsync("identity", "merge", "--merged", b.Id, "--survivor", a.Id);
        Assert.Equal(3, code);
        Assert.Contains($"was itself merged into Patient/{b.Id}", output, StringComparison.Ordinal);
        (code, output) = await CliAsync("identity", "unmerge", "--merge", "no-such-merge");
        Assert.Equal(2, code);
        Assert.Contains("no merge no-such-merge", output, StringComparison.Ordinal);

        // Two registrations of a facility, without any record: the identity alone is merged, and unmerged.
        var first = await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(
            new NewPatient(TestIds.NewIns(), Ins.NirSystem, "NGUYEN", "Thi Lan", new DateOnly(1990, 2, 3), "F", "99243"), Actor.Operator, Channels.Admin, CancellationToken.None));
        var second = await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(
            new NewPatient(TestIds.NewIns(), Ins.NirSystem, "NGUYEN", "Lan", new DateOnly(1990, 2, 3), "F", "99243"), Actor.Operator, Channels.Admin, CancellationToken.None));
        (code, output) = await CliAsync("identity", "merge", "--merged", second.RecordId, "--survivor", first.RecordId);
        Assert.True(code == 0, output);
        var registration = FhirJson.Parse<Patient>(await Server.Http(gp.Certificate).GetStringAsync($"/fhir/Patient/{second.RecordId}"));
        Assert.Equal(Patient.LinkType.ReplacedBy, registration.Link.Single().Type);
        (code, output) = await CliAsync("record", "open", "--ins", second.Ins, "--treating-physician", gp.Rpps, "--consent-collected-by", gp.Rpps, "--channel", "office");
        Assert.NotEqual(0, code);
        Assert.True(output.Contains("this identity was merged into another", StringComparison.Ordinal), output);
        (code, output) = await CliAsync("identity", "merges");
        (code, output) = await CliAsync("identity", "unmerge", "--merge", output.Split(' ', 2)[0]);
        Assert.True(code == 0, output);
        Assert.Empty(FhirJson.Parse<Patient>(await Server.Http(gp.Certificate).GetStringAsync($"/fhir/Patient/{second.RecordId}")).Link);
        Assert.False(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Records.AnyAsync(r => r.RecordId == second.RecordId)));

        // A professional without the identity-vigilance role: refused, and the refusal is audited.
        var merges = await Server.WithScopeAsync(async sp =>
        {
            var actor = new Actor(ActorKind.Professional, gp.Id, gp.Display, "10");
            var ex = await Assert.ThrowsAsync<DmpException>(() => sp.GetRequiredService<IdentityMerges>().MergeAsync(b.Id, a.Id, actor, Channels.Portal, CancellationToken.None));
            Assert.Equal(ErrorKind.Forbidden, ex.Kind);
            return await sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().CountAsync(e => e.ActorId == gp.Id && e.Outcome != "success" && e.ObjectType == "Patient");
        });
        Assert.Equal(1, merges);
    }
}

public sealed class MergeTests_Sqlite(BrowserFixture browser) : MergeTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class MergeTests_Postgres(PostgresCluster pg, BrowserFixture browser) : MergeTests(new PostgresStorage(pg, "merges"), browser), IClassFixture<BrowserFixture>;
