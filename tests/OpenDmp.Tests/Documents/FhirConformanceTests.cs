using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.Extensions.Logging;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>What an unmodified Firely FhirClient and the CapabilityStatement expect of the server.</summary>
public abstract class FhirConformanceTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private readonly LogCapture _log = new();

    protected override Action<ILoggingBuilder>? Logging => b => b.AddProvider(_log);

    private static Bundle Note(TestProfessional gp, TestPatient patient) =>
        SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("Compte rendu"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);

    /// <summary>Regression: the transaction answered Location DocumentReference/{id}/_history/1, and reading it answered 404.</summary>
    [Fact]
    public async Task FhirClient_FollowsTheTransactionLocation_AndReadsIt()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var client = Server.Fhir(gp.Certificate);
        var response = await client.TransactionAsync(Note(gp, patient));
        var location = response!.Entry.Select(e => e.Response.Location).Single(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal));
        Assert.EndsWith("/_history/1", location, StringComparison.Ordinal);
        var doc = await client.ReadAsync<DocumentReference>(location);
        Assert.Equal(location.Split('/')[1], doc!.Id);
        Assert.Equal("1", doc.Meta.VersionId);
        var list = response.Entry.Select(e => e.Response.Location).Single(l => l.StartsWith("List/", StringComparison.Ordinal));
        Assert.NotNull(await client.ReadAsync<List>(list));

        // Superseded, the document is at version 2: version 1 answers 404 saying only the current one is kept.
        using var patch = new HttpRequestMessage(HttpMethod.Patch, $"/fhir/DocumentReference/{doc.Id}")
        {
            Content = FhirAssert.Json(new Parameters
            {
                Parameter = [new Parameters.ParameterComponent
                {
                    Name = "operation",
                    Part = [new() { Name = "type", Value = new Code("replace") }, new() { Name = "path", Value = new FhirString("DocumentReference.status") }, new() { Name = "value", Value = new Code("superseded") }],
                }],
            }),
        };
        using (var patched = await Server.Http(gp.Certificate).SendAsync(patch))
        {
            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        }

        using var old = await Server.Http(gp.Certificate).GetAsync("/fhir/" + location);
        await FhirAssert.OutcomeAsync(old, HttpStatusCode.NotFound, "only the current version is kept");
    }

    [Theory]
    [InlineData("PUT", "/fhir/DocumentReference/abc", HttpStatusCode.MethodNotAllowed, "not an interaction OpenDMP supports on DocumentReference")]
    [InlineData("DELETE", "/fhir/List/abc", HttpStatusCode.MethodNotAllowed, "not an interaction OpenDMP supports on List")]
    [InlineData("POST", "/fhir/Patient", HttpStatusCode.MethodNotAllowed, "supported: read, search-type")]
    [InlineData("GET", "/fhir/CarePlan", HttpStatusCode.NotFound, "does not serve this resource type")]
    [InlineData("PUT", "/fhir/MedicationRequest/abc", HttpStatusCode.MethodNotAllowed, "supported: read, search-type")]
    public async Task AnInteractionTheCapabilityStatementDoesNotDeclare_Is405_AnUnknownType404(string method, string path, HttpStatusCode status, string message)
    {
        var gp = await Server.AddProfessionalAsync();
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method is "PUT" or "POST" ? FhirAssert.Json("{\"resourceType\":\"Basic\"}") : null };
        using var response = await Server.Http(gp.Certificate).SendAsync(request);
        await FhirAssert.OutcomeAsync(response, status, message);
    }

    [Fact]
    public async Task ADuplicateMasterIdentifier_Is409_NotAFailedStatementInTheLog_AndConditionalCreateIsRefusedClearly()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        var bundle = Note(gp, patient);
        using (var first = await http.PostAsync("/fhir", FhirAssert.Json(bundle)))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        _log.Clear();
        using (var again = await http.PostAsync("/fhir", FhirAssert.Json(bundle)))
        {
            await FhirAssert.OutcomeAsync(again, HttpStatusCode.Conflict, "masterIdentifier");
        }

        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Warning && (e.Category.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal) || e.Category.StartsWith("Npgsql", StringComparison.Ordinal)));

        var conditional = Note(gp, patient);
        conditional.Entry.Single(e => e.Resource is DocumentReference).Request.IfNoneExist = "identifier=urn:ietf:rfc:3986|urn:uuid:1";
        using var refused = await http.PostAsync("/fhir", FhirAssert.Json(conditional));
        var oo = await FhirAssert.OutcomeAsync(refused, HttpStatusCode.UnprocessableEntity, "conditional create (request.ifNoneExist) is not supported");
        Assert.EndsWith(".request.ifNoneExist", oo.Issue[0].Expression.Single(), StringComparison.Ordinal);

        var metadata = OpenDmp.Core.Fhir.FhirJson.Parse<CapabilityStatement>(await Server.Http(null).GetStringAsync("/fhir/metadata"));
        var documentReference = metadata.Rest[0].Resource.Single(r => r.Type == "DocumentReference");
        Assert.False(documentReference.ConditionalCreate);
        Assert.Contains(documentReference.Interaction, i => i.Code == CapabilityStatement.TypeRestfulInteraction.Vread);
    }

    private sealed class LogCapture : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; private set; } = new();

        public void Clear() => Entries = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LogCapture owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }
}

public sealed class FhirConformanceTests_Sqlite() : FhirConformanceTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class FhirConformanceTests_Postgres(PostgresCluster pg) : FhirConformanceTests(new PostgresStorage(pg, "conformance"));
