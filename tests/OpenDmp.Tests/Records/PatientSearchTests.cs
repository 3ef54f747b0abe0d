using System.Net;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Records;

/// <summary>
/// PDQm finds the patient in front of the professional, never the registry: an INS or the three
/// strict traits together, exact matches, a small page, no count; each search reaches the trail of
/// the patients it returns.
/// </summary>
public abstract class PatientSearchTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private async Task<string> AddAsync(string family, string given, DateOnly birth)
    {
        var p = await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(new NewPatient(TestIds.NewIns(), Ins.NirSystem, family, given, birth, "F", "75056"), Actor.Operator, Channels.Admin, CancellationToken.None));
        return p.RecordId;
    }

    /// <summary>Regression: "family=" (empty), "name=" or "given=" returned every patient with INS, name and birth date, and _total the registry's size.</summary>
    [Theory]
    [InlineData("family=")]
    [InlineData("given=")]
    [InlineData("name=")]
    [InlineData("family=&given=&birthdate=")]
    [InlineData("family=MARTIN")]
    [InlineData("family=MARTIN&birthdate=1980-01-02")]
    [InlineData("given=Lea&birthdate=1980-01-02")]
    [InlineData("_total=accurate")]
    [InlineData("birthdate=ge1900-01-01")]
    [InlineData("gender=female")]
    public async Task Enumeration_IsRefused_With400(string query)
    {
        await AddAsync("MARTIN", "Léa", new DateOnly(1980, 1, 2));
        var gp = await Server.AddProfessionalAsync();
        using var response = await Server.Http(gp.Certificate).GetAsync("/fhir/Patient?" + query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)response.StatusCode} {body}");
        Assert.DoesNotContain("MARTIN", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StrictTraits_MatchExactly_CaseAndAccentsIgnored_AndNeverCount()
    {
        var lea = await AddAsync("MARTIN", "Léa Marie", new DateOnly(1980, 1, 2));
        await AddAsync("MARTINEZ", "Léa", new DateOnly(1980, 1, 2));
        await AddAsync("MARTIN", "Léo", new DateOnly(1980, 1, 2));
        var gp = await Server.AddProfessionalAsync();
        var http = Server.Http(gp.Certificate);

        var found = await FhirAssert.BundleAsync(await http.GetAsync("/fhir/Patient?family=martin&given=LEA&birthdate=1980-01-02&_total=accurate"));
        Assert.Equal([lea], found.Entry.Select(e => e.Resource.Id));
        Assert.Null(found.Total);
        Assert.Single((await FhirAssert.BundleAsync(await http.GetAsync("/fhir/Patient?family=MARTIN&given=L%C3%A9a%20Marie&birthdate=1980-01-02"))).Entry);
        Assert.Empty((await FhirAssert.BundleAsync(await http.GetAsync("/fhir/Patient?family=MART&given=Lea&birthdate=1980-01-02"))).Entry);
        Assert.Empty((await FhirAssert.BundleAsync(await http.GetAsync("/fhir/Patient?family=MARTIN&given=Le&birthdate=1980-01-02"))).Entry);
        Assert.Empty((await FhirAssert.BundleAsync(await http.GetAsync("/fhir/Patient?family=MARTIN&given=Lea&birthdate=1980-01-03"))).Entry);
    }

    [Fact]
    public async Task Homonyms_GiveOneSmallPage_WithoutACount()
    {
        for (var i = 0; i < PatientQueries.MaxResults + 2; i++)
        {
            await AddAsync("DURAND", "Jean", new DateOnly(1950, 6, 1));
        }

        var gp = await Server.AddProfessionalAsync();
        var page = await FhirAssert.BundleAsync(await Server.Http(gp.Certificate).GetAsync("/fhir/Patient?family=DURAND&given=Jean&birthdate=1950-06-01&_count=500&_total=accurate"));
        Assert.Equal(PatientQueries.MaxResults, page.Entry.Count);
        Assert.Null(page.Total);
        Assert.Contains(page.Link, l => l.Relation == "next");
    }

    [Fact]
    public async Task EverySearch_IsInTheTrailOfThePatientsItReturns()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var stranger = await Server.AddProfessionalAsync("21", null, "Petit", "Sophie");
        using (var r = await Server.Http(stranger.Certificate).GetAsync($"/fhir/Patient?identifier={patient.System}|{patient.Ins}"))
        {
            Assert.Single((await FhirAssert.BundleAsync(r)).Entry);
        }

        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(e => e.RecordId == patient.Id && e.ActorId == stranger.Id).ToListAsync());
        var search = Assert.Single(entries);
        Assert.Equal("search", search.Action);
        Assert.Equal("Patient", search.ObjectType);
        Assert.Equal("by=identifier", search.Detail);
    }
}

public sealed class PatientSearchTests_Sqlite() : PatientSearchTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class PatientSearchTests_Postgres(PostgresCluster pg) : PatientSearchTests(new PostgresStorage(pg, "pdqm"));
