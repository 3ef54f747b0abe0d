using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Server.Fhir;
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

/// <summary>
/// Large transactions are admitted a few at a time (they cost several times their size in memory
/// while parsed): beyond the limit a large body is refused with 503 and Retry-After before it is
/// read, while small transactions go through. Storage plays no part: SQLite only.
/// </summary>
public sealed class TransactionGateTests() : ServerTestBase(new SqliteStorage())
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Documents:LargeTransactionBytes"] = "20000",
        ["Documents:MaxConcurrentLargeTransactions"] = "1",
        ["Documents:LargeTransactionWaitSeconds"] = "0",
    };

    [Fact]
    public async Task BeyondTheConcurrentLimit_ALargeBodyIs503WithRetryAfter_AndSmallOnesPass()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        HttpContent Large()
        {
            var content = new byte[40_000];
            Random.Shared.NextBytes(content);
            return FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(content, "application/pdf", "Gros")]));
        }

        // A first large transaction whose body arrives slowly holds the only slot.
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var slow = new StalledContent(await Large().ReadAsByteArrayAsync(), started, release.Task);
        var first = Server.Http(gp.Certificate).PostAsync("/fhir", slow);
        await started.Task;
        var gate = Server.Services.GetRequiredService<TransactionGate>();
        for (var i = 0; i < 300 && gate.InProgress == 0; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(1, gate.InProgress);
        using (var second = await Server.Http(gp.Certificate).PostAsync("/fhir", Large()))
        {
            await FhirAssert.OutcomeAsync(second, HttpStatusCode.ServiceUnavailable, "Documents:MaxConcurrentLargeTransactions");
            Assert.Equal(TimeSpan.FromSeconds(5), second.Headers.RetryAfter?.Delta);
        }

        using (var small = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("petite note"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]))))
        {
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        }

        release.SetResult();
        using (var done = await first)
        {
            Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        }

        // The slot is free again.
        using var after = await Server.Http(gp.Certificate).PostAsync("/fhir", Large());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    private sealed class StalledContent : HttpContent
    {
        private readonly byte[] _body;
        private readonly TaskCompletionSource _started;
        private readonly Task _release;

        public StalledContent(byte[] body, TaskCompletionSource started, Task release)
        {
            _body = body;
            _started = started;
            _release = release;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/fhir+json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await stream.WriteAsync(_body.AsMemory(0, 100));
            await stream.FlushAsync();
            _started.TrySetResult();
            await _release;
            await stream.WriteAsync(_body.AsMemory(100));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _body.Length;
            return true;
        }
    }
}
