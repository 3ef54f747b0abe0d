using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>Bad input is a 4xx with an OperationOutcome that says what is wrong, and nothing is written. Authentication is real mTLS.</summary>
public abstract class BadInputAndSecurityTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Documents:MaxContentBytes"] = "65536" };

    private static DocumentToSubmit Text(string text) =>
        new(Encoding.UTF8.GetBytes(text), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    private async Task<(TestProfessional Gp, TestPatient Patient, HttpClient Http)> WorldAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        return (gp, patient, Server.Http(gp.Certificate));
    }

    private async Task AssertRefusedAsync(HttpClient http, HttpContent body, HttpStatusCode status, string message)
    {
        var before = await Server.CountDocumentsAsync();
        using var response = await http.PostAsync("/fhir", body);
        await FhirAssert.OutcomeAsync(response, status, message);
        Assert.Equal(before, await Server.CountDocumentsAsync());
    }

    private static Bundle Valid(TestProfessional gp, TestPatient patient, string text = "Compte rendu") =>
        SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Text(text)]);

    private static DocumentReference Doc(Bundle b) => b.Entry.Select(e => e.Resource).OfType<DocumentReference>().First();

    [Fact]
    public async Task MalformedJson_Is400()
    {
        var (_, _, http) = await WorldAsync();
        await AssertRefusedAsync(http, FhirAssert.Json("{\"resourceType\":\"Bundle\",\"type\":"), HttpStatusCode.BadRequest, "not valid");
    }

    [Fact]
    public async Task WrongResourceType_Is400()
    {
        var (_, patient, http) = await WorldAsync();
        await AssertRefusedAsync(http, FhirAssert.Json(new Hl7.Fhir.Model.Patient { Id = patient.Id }), HttpStatusCode.BadRequest, "expected a Bundle");
    }

    [Fact]
    public async Task NotATransaction_Is422()
    {
        var (gp, patient, http) = await WorldAsync();
        var b = Valid(gp, patient);
        b.Type = Bundle.BundleType.Batch;
        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.UnprocessableEntity, "transaction");
    }

    [Fact]
    public async Task NonJsonContentType_Is400()
    {
        var (gp, patient, http) = await WorldAsync();
        await AssertRefusedAsync(http, new StringContent(FhirJson.Serialize(Valid(gp, patient)), Encoding.UTF8, "application/xml"), HttpStatusCode.BadRequest, "FHIR JSON");
    }

    [Theory]
    [InlineData("masterIdentifier")]
    [InlineData("type")]
    [InlineData("category")]
    [InlineData("author")]
    [InlineData("securityLabel")]
    [InlineData("format")]
    [InlineData("facilityType")]
    [InlineData("practiceSetting")]
    [InlineData("size")]
    [InlineData("hash")]
    [InlineData("date")]
    public async Task MissingMetadata_Is422NamingIt(string element)
    {
        var (gp, patient, http) = await WorldAsync();
        var b = Valid(gp, patient);
        var d = Doc(b);
        switch (element)
        {
            case "masterIdentifier": d.MasterIdentifier = null; break;
            case "type": d.Type = null; break;
            case "category": d.Category.Clear(); break;
            case "author": d.Author.Clear(); break;
            case "securityLabel": d.SecurityLabel.Clear(); break;
            case "format": d.Content[0].Format = null; break;
            case "facilityType": d.Context.FacilityType = null; break;
            case "practiceSetting": d.Context.PracticeSetting = null; break;
            case "size": d.Content[0].Attachment.SizeElement = null; break;
            case "hash": d.Content[0].Attachment.Hash = null; break;
            case "date": d.Date = null; break;
        }

        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.UnprocessableEntity, element);
    }

    [Fact]
    public async Task CodeOutsideAnsValueSet_Is422NamingTheValueSet()
    {
        var (gp, patient, http) = await WorldAsync();
        var b = Valid(gp, patient);
        Doc(b).Type = new CodeableConcept("http://loinc.org", "34117-2");
        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.UnprocessableEntity, "JDV_J07");
    }

    [Fact]
    public async Task WrongHashOrSize_Is422()
    {
        var (gp, patient, http) = await WorldAsync();
        var b = Valid(gp, patient);
        Doc(b).Content[0].Attachment.Hash = new byte[20];
        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.UnprocessableEntity, "hash does not match");
        var b2 = Valid(gp, patient);
        Doc(b2).Content[0].Attachment.Size = 3;
        await AssertRefusedAsync(http, FhirAssert.Json(b2), HttpStatusCode.UnprocessableEntity, "size says 3 bytes");
    }

    [Fact]
    public async Task UnknownPatient_Is422()
    {
        var (gp, _, http) = await WorldAsync();
        var b = SubmissionBuilder.Build("Patient/does-not-exist", gp.Rpps, gp.Display, [Text("x")]);
        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.UnprocessableEntity, "unknown patient");
    }

    [Fact]
    public async Task ClosedRecord_Is422_AndReopenedAcceptsAgain()
    {
        var (gp, patient, http) = await WorldAsync();
        await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().CloseAsync(patient.Id, Actor.Operator, Channels.Admin, CancellationToken.None));
        await AssertRefusedAsync(http, FhirAssert.Json(Valid(gp, patient)), HttpStatusCode.UnprocessableEntity, "closed");
        using (var search = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            await FhirAssert.OutcomeAsync(search, HttpStatusCode.Forbidden, "closed");
        }

        await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordService>().ReopenAsync(patient.Id, Actor.Operator, Channels.Admin, CancellationToken.None));
        using var ok = await http.PostAsync("/fhir", FhirAssert.Json(Valid(gp, patient)));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task OversizeContent_Is413_NothingWritten()
    {
        var (gp, patient, http) = await WorldAsync();
        var big = new byte[70_000];
        Random.Shared.NextBytes(big);
        var b = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(big, "application/pdf", "Gros document")]);
        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.RequestEntityTooLarge, "limit is 65536");

        // Far above the limit: refused from its Content-Length, before the body is read (the client
        // asks "Expect: 100-continue", as clients uploading large bodies should).
        var huge = new byte[3_000_000];
        var b2 = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(huge, "application/pdf", "Énorme")]);
        var before = await Server.CountDocumentsAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/fhir") { Content = FhirAssert.Json(b2) };
        request.Headers.ExpectContinue = true;
        using var response = await http.SendAsync(request);
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.RequestEntityTooLarge, "larger than the server accepts");
        Assert.Equal(before, await Server.CountDocumentsAsync());
    }

    [Fact]
    public async Task HalfValidBundle_LeavesNothingBehind()
    {
        var (gp, patient, http) = await WorldAsync();
        var b = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Text("bon"), Text("mauvais")]);
        b.Entry.Select(e => e.Resource).OfType<DocumentReference>().Last().Content[0].Attachment.Hash = new byte[20];
        await AssertRefusedAsync(http, FhirAssert.Json(b), HttpStatusCode.UnprocessableEntity, "hash");
        Assert.Empty(Directory.Exists(Path.Combine(Server.Data.Content, patient.Id)) ? Directory.GetFiles(Path.Combine(Server.Data.Content, patient.Id)) : []);
    }

    [Fact]
    public async Task NoClientCertificate_Is401OperationOutcome()
    {
        var (_, patient, _) = await WorldAsync();
        using var response = await Server.Http(null).GetAsync($"/fhir/DocumentReference?patient={patient.Id}");
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.Unauthorized, "client certificate");
    }

    [Fact]
    public async Task CertificateFromAnotherCa_Is401()
    {
        var (gp, patient, _) = await WorldAsync();
        var otherDir = Path.Combine(Server.Data.Root, "other-ca");
        var other = TestCertificateAuthority.LoadOrCreate(otherDir, TimeProvider.System);
        var forged = RunningServer.Reload(other.IssueProfessional(gp.Rpps, gp.Display, null, otherDir, TimeProvider.System));
        using var response = await Server.Http(forged).GetAsync($"/fhir/DocumentReference?patient={patient.Id}");
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.Unauthorized, "not a valid OpenDMP certificate");
    }

    [Fact]
    public async Task ExpiredCertificate_Is401()
    {
        var (gp, patient, _) = await WorldAsync();
        var past = new FixedTime(DateTimeOffset.UtcNow.AddDays(-20));
        var expired = RunningServer.Reload(Server.Ca.IssueProfessional(gp.Rpps, gp.Display, null, Path.Combine(Server.Data.Root, "expired"), past, TimeSpan.FromDays(10)));
        using var response = await Server.Http(expired).GetAsync($"/fhir/DocumentReference?patient={patient.Id}");
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.Unauthorized, "expired");
    }

    [Fact]
    public async Task CertificateOfUnknownProfessional_Is401()
    {
        var (_, patient, _) = await WorldAsync();
        var stranger = RunningServer.Reload(Server.Ca.IssueProfessional(TestIds.NewRpps(), "Inconnu", null, Path.Combine(Server.Data.Root, "stranger"), TimeProvider.System));
        using var response = await Server.Http(stranger).GetAsync($"/fhir/DocumentReference?patient={patient.Id}");
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.Unauthorized, "no professional of the directory");
    }

    [Fact]
    public async Task AuditTrail_RecordsAccesses_InAnUnbrokenChain()
    {
        var (gp, patient, http) = await WorldAsync();
        using (await http.PostAsync("/fhir", FhirAssert.Json(Valid(gp, patient))))
        {
        }

        using (await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
        }

        var stranger = await Server.AddProfessionalAsync("21", null);
        using (await Server.Http(stranger.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
        }

        var entries = await Server.WithScopeAsync(sp => Task.FromResult(sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().AuditEntries.Where(a => a.RecordId == patient.Id).OrderBy(a => a.Seq).ToList()));
        Assert.Contains(entries, a => a.Action == "create" && a.ObjectType == "DocumentReference" && a.ActorId == gp.Id);
        Assert.Contains(entries, a => a.Action == "search" && a.Outcome == "success" && a.ActorId == gp.Id);
        Assert.Contains(entries, a => a.Action == "search" && a.ActorId == stranger.Id);
        var prev = OpenDmp.Core.Audit.AuditTrail.Genesis;
        for (var i = 0; i < entries.Count; i++)
        {
            Assert.Equal(i + 1, entries[i].Seq);
            Assert.Equal(prev, entries[i].PrevHash);
            Assert.Equal(OpenDmp.Core.Audit.AuditTrail.ComputeHash(entries[i]), entries[i].Hash);
            prev = entries[i].Hash;
        }
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

public sealed class BadInputAndSecurityTests_Sqlite() : BadInputAndSecurityTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class BadInputAndSecurityTests_Postgres(PostgresCluster pg) : BadInputAndSecurityTests(new PostgresStorage(pg, "bad"));
