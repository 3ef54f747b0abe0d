using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>Nothing is left behind: a deleted document leaves its submission set, a crash leaves no content file for long, an empty page has no next page.</summary>
public abstract class LeftoversTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static DocumentToSubmit Note(string text) => new(Encoding.UTF8.GetBytes(text), "text/plain", "Note " + text, FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    /// <summary>Regression: a deleted document was still listed in its submission set.</summary>
    [Fact]
    public async Task DeletedDocument_LeavesItsSubmissionSet_AndAnEmptySetGoes()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        using (var r = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note("un"), Note("deux")]))))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        var docs = (await FhirAssert.BundleAsync(await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))).Entry.Select(e => e.Resource.Id).ToList();
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/fhir/DocumentReference/{docs[0]}")).StatusCode);
        var list = (Hl7.Fhir.Model.List)(await FhirAssert.BundleAsync(await http.GetAsync($"/fhir/List?patient={patient.Id}&code=submissionset"))).Entry.Single().Resource;
        Assert.Equal(["DocumentReference/" + docs[1]], list.Entry.Select(e => e.Item.Reference));
        Assert.DoesNotContain(docs[0], await (await http.GetAsync($"/fhir/List/{list.Id}")).Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/fhir/DocumentReference/{docs[1]}")).StatusCode);
        Assert.Empty((await FhirAssert.BundleAsync(await http.GetAsync($"/fhir/List?patient={patient.Id}&code=submissionset"))).Entry);
    }

    /// <summary>Regression: "_count=0" answered a next link equal to self.</summary>
    [Fact]
    public async Task CountZero_HasNoNextLink()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        await Server.SubmitAsync(gp, patient, Note("un"));
        var page = await FhirAssert.BundleAsync(await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_count=0&_total=accurate"));
        Assert.Empty(page.Entry);
        Assert.Equal(1, page.Total);
        Assert.DoesNotContain(page.Link, l => l.Relation == "next");
    }

    /// <summary>Regression: dates at the calendar's end (9999) answered 500.</summary>
    [Theory]
    [InlineData("DocumentReference", "date", "9999")]
    [InlineData("DocumentReference", "date", "ge9999-12-31")]
    [InlineData("DocumentReference", "period-end", "9999")]
    [InlineData("DocumentReference", "period", "9999-12")]
    [InlineData("List", "date", "9999")]
    [InlineData("Observation", "date", "ge9999-12-31")]
    [InlineData("DocumentReference", "date", "0001-01-01T00:00:00+14:00")]
    public async Task CalendarEdges_AreAnswered(string type, string name, string value)
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        using var response = await Server.Http(gp.Certificate).GetAsync($"/fhir/{type}?patient={patient.Id}&{name}={Uri.EscapeDataString(value)}");
        Assert.True((int)response.StatusCode is 200 or 400, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Regression: temporary and orphan content files left by a crash stayed forever.</summary>
    [Fact]
    public async Task Sweep_RemovesOldTemporaryAndOrphanFiles_NeverCommittedContent()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var kept = await Server.SubmitAsync(gp, patient, Note("gardé"));
        var dir = Path.Combine(Server.Data.Content, patient.Id);
        var usesFiles = Directory.Exists(dir);
        Directory.CreateDirectory(dir);
        var old = DateTime.UtcNow.AddHours(-3);
        var tmp = Path.Combine(dir, "abc.tmp-" + Guid.NewGuid().ToString("N"));
        var orphan = Path.Combine(dir, OpenDmp.Core.Common.Ids.New());
        var recent = Path.Combine(dir, OpenDmp.Core.Common.Ids.New());
        foreach (var f in new[] { tmp, orphan, recent })
        {
            await File.WriteAllBytesAsync(f, [1, 2, 3]);
        }

        File.SetLastWriteTimeUtc(tmp, old);
        File.SetLastWriteTimeUtc(orphan, old);
        if (usesFiles)
        {
            File.SetLastWriteTimeUtc(Path.Combine(dir, kept), old);
        }

        var report = await Server.WithScopeAsync(sp => sp.GetRequiredService<ContentSweeper>().SweepAsync(Server.Data.Content, TimeSpan.FromHours(1), CancellationToken.None));
        Assert.Equal(new SweepReport(1, 1), report);
        Assert.False(File.Exists(tmp));
        Assert.False(File.Exists(orphan));
        Assert.True(File.Exists(recent), "a file younger than the margin may belong to a submission in flight");
        Assert.Equal(usesFiles, File.Exists(Path.Combine(dir, kept)));
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(gp.Certificate).GetAsync($"/fhir/Binary/{kept}")).StatusCode);
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AnyAsync(e => e.ObjectType == "Content" && e.Action == "delete")));
    }
}

public sealed class LeftoversTests_Sqlite() : LeftoversTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class LeftoversTests_Postgres(PostgresCluster pg) : LeftoversTests(new PostgresStorage(pg, "leftovers"));
