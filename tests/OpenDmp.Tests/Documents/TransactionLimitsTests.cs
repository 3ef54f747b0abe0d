using System.Net;
using System.Text;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>
/// One transaction is bounded (documents, entries, bytes: configurable) so that it cannot hold its
/// record's writers for long; a refusal names the limit and writes nothing.
/// </summary>
public abstract class TransactionLimitsTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Documents:MaxDocumentsPerTransaction"] = "5",
        ["Documents:MaxEntriesPerTransaction"] = "20",
        ["Documents:MaxTransactionBytes"] = "300000",
    };

    private static DocumentToSubmit Note(int i) => new(Encoding.UTF8.GetBytes("note " + i), "text/plain", "Note " + i, FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    [Fact]
    public async Task TooManyDocuments_Is422NamingTheLimit_AndNothingIsWritten()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var before = await Server.CountDocumentsAsync();
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, Enumerable.Range(0, 6).Select(Note).ToList())));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.UnprocessableEntity, "Documents:MaxDocumentsPerTransaction");
        Assert.Equal(before, await Server.CountDocumentsAsync());

        using var ok = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, Enumerable.Range(0, 5).Select(Note).ToList())));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(before + 5, await Server.CountDocumentsAsync());
    }

    [Fact]
    public async Task TooManyEntries_Is422NamingTheLimit()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Note(1)]);
        for (var i = 0; i < 20; i++)
        {
            bundle.Entry.Add(new Hl7.Fhir.Model.Bundle.EntryComponent { FullUrl = "urn:uuid:" + Guid.NewGuid(), Resource = new Hl7.Fhir.Model.Binary { ContentType = "text/plain", Data = [1] }, Request = new Hl7.Fhir.Model.Bundle.RequestComponent { Method = Hl7.Fhir.Model.Bundle.HTTPVerb.POST, Url = "Binary" } });
        }

        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(bundle));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.UnprocessableEntity, "Documents:MaxEntriesPerTransaction");
    }

    [Fact]
    public async Task TooManyBytes_Is413NamingTheLimit()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var big = new byte[250_000];
        Random.Shared.NextBytes(big);
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(big, "application/pdf", "Gros")])));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.RequestEntityTooLarge, "at most 300000 bytes");
    }
}

public sealed class TransactionLimitsTests_Sqlite() : TransactionLimitsTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class TransactionLimitsTests_Postgres(PostgresCluster pg) : TransactionLimitsTests(new PostgresStorage(pg, "txlimits"));
