using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hl7.Fhir.Model;
using OpenDmp.Core.Identity;
using OpenDmp.Server.Demo;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>The demo world that `dotnet run` creates, and the README's curl example against it.</summary>
public abstract class DemoWorldTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    [Fact]
    public async Task DemoWorld_IsCreatedOnce_AndTheReadmeQueryWorks()
    {
        var summary = await DemoWorld.EnsureAsync(Server.Services, Server.Data, CancellationToken.None);
        Assert.True(summary.Created);
        Assert.Equal(3, summary.Professionals.Count);
        Assert.Equal(3, summary.Patients.Count);
        var again = await DemoWorld.EnsureAsync(Server.Services, Server.Data, CancellationToken.None);
        Assert.False(again.Created);
        Assert.Equal(3, again.Patients.Count);

        // curl --cert data/demo/10000000017.crt --key … '…/fhir/DocumentReference?patient.identifier=urn:oid:1.2.250.1.213.1.4.11|156037505602424'
        var gp = RunningServer.Reload(X509Certificate2.CreateFromPemFile(Path.Combine(Server.Data.Demo, DemoWorld.GpRpps + ".crt"), Path.Combine(Server.Data.Demo, DemoWorld.GpRpps + ".key")));
        var http = Server.Http(gp);
        using var response = await http.GetAsync($"/fhir/DocumentReference?patient.identifier={Ins.DemoSystem}|156037505602424");
        var bundle = await FhirAssert.BundleAsync(response);
        Assert.Equal(2, bundle.Entry.Count);
        var pdf = bundle.Entry.Select(e => (DocumentReference)e.Resource).Single(d => d.Content[0].Attachment.ContentType == "application/pdf");
        Assert.StartsWith("%PDF-1.4", await FhirAssert.RetrieveTextAsync(http, pdf.Content[0].Attachment.Url), StringComparison.Ordinal);
        Assert.Contains(pdf.Meta.Security, c => c.Code == "HTEST");

        // The pharmacist of the demo has no grant on this record: refused, and told how to get one.
        var pharmacist = RunningServer.Reload(X509Certificate2.CreateFromPemFile(Path.Combine(Server.Data.Demo, DemoWorld.PharmacistRpps + ".crt"), Path.Combine(Server.Data.Demo, DemoWorld.PharmacistRpps + ".key")));
        using var other = await Server.Http(pharmacist).GetAsync($"/fhir/DocumentReference?patient.identifier={Ins.DemoSystem}|156037505602424&_total=accurate");
        await FhirAssert.OutcomeAsync(other, HttpStatusCode.Forbidden, "$declare-access");
    }
}

public sealed class DemoWorldTests_Sqlite() : DemoWorldTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class DemoWorldTests_Postgres(PostgresCluster pg) : DemoWorldTests(new PostgresStorage(pg, "demo"));
