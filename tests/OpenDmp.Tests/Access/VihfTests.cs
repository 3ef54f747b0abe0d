using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// A structure's software acting for a professional (issue 17's identity part): the structure
/// authenticates with its organisation certificate over mutual TLS and asserts the professional in a
/// VIHF (SAML 2.0, signed by the structure's key) sent in the X-OpenDMP-VIHF header. The assertion is
/// written here by hand from the format in docs/integration/vihf.md, as a vendor would. A good one
/// acts as the professional, with the structure in the trail; each bad one is refused with a 401
/// that says what is wrong.
/// </summary>
public abstract class VihfTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private Task<(string Finess, X509Certificate2 Certificate, string Id)> StructureAsync(string name) => Server.AddStructureAsync(name);

    private static string Header(Vihfs.Vihf v, X509Certificate2? signer, Func<string, string>? afterSigning = null) => Vihfs.Header(v, signer, afterSigning);

    private async Task<(HttpStatusCode Status, string Body)> ReadAsync(X509Certificate2 certificate, string url, string header)
    {
        var http = Server.Http(certificate);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Add("X-OpenDMP-VIHF", header);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AStructureAssertsTheProfessional_AndEveryBadAssertionIsRefused()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Vidal", "Inès");
        var patient = await Server.AddPatientAsync(gp);
        var doc = await Server.SubmitAsync(gp, patient, new OpenDmp.Core.Documents.DocumentToSubmit("Courrier"u8.ToArray(), "text/plain", "Courrier", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var (finess, structure, structureId) = await StructureAsync("Centre de santé des Lilas (test)");
        var (_, other, _) = await StructureAsync("Clinique voisine (test)");
        var now = DateTimeOffset.UtcNow;
        var good = new Vihfs.Vihf(gp.Rpps, "10", "1" + finess, Server.BaseUrl.TrimEnd('/'), now.AddMinutes(-1), now.AddMinutes(10));
        var url = $"/fhir/DocumentReference/{doc}";

        // Without an assertion the structure reads nothing; with one, it acts as the professional.
        Assert.Equal(HttpStatusCode.Forbidden, (await Server.Http(structure).GetAsync(url)).StatusCode);
        var header = Header(good, structure);
        var (status, body) = await ReadAsync(structure, url, header);
        Assert.True(status == HttpStatusCode.OK, body);
        var entry = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .OrderByDescending(e => e.Seq).FirstAsync(e => e.RecordId == patient.Id && e.Action == "read" && e.ViaStructure != null));
        Assert.Equal((gp.Id, "Professional", structureId), (entry.ActorId, entry.ActorKind, entry.ViaStructure));

        // The patient sees the professional and the structure's software.
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        using (var trail = await patientHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_count=100"))
        {
            var events = FhirJson.Parse<Bundle>(await trail.Content.ReadAsStringAsync()).Entry.Select(e => (AuditEvent)e.Resource).ToList();
            Assert.Contains(events, e => e.Agent.Any(a => a.Who?.Reference == "Practitioner/" + gp.Id) && e.Agent.Any(a => a.Who?.Reference == "Organization/" + structureId && a.Requestor == false));
        }

        // Each bad assertion: a 401 that says what is wrong (a 403 for an access mode not offered here).
        async Task RefusedAsync(X509Certificate2 certificate, string value, string why, HttpStatusCode expected = HttpStatusCode.Unauthorized)
        {
            var (s, b) = await ReadAsync(certificate, url, value);
            Assert.True(s == expected, $"{why}: {(int)s} {b}");
            Assert.Contains(why, b, StringComparison.Ordinal);
            Assert.Contains("OperationOutcome", b, StringComparison.Ordinal);
        }

        await RefusedAsync(structure, header, "already used");
        await RefusedAsync(structure, Header(good, null), "not signed");
        await RefusedAsync(structure, Header(good with { NotBefore = now.AddHours(-2), NotOnOrAfter = now.AddHours(-1) }, structure), "has expired");
        await RefusedAsync(structure, Header(good with { NotOnOrAfter = now.AddHours(5) }, structure), "at most 60 minutes");
        await RefusedAsync(structure, Header(good with { Audience = "https://another.example" }, structure), "audience must be");
        await RefusedAsync(structure, Header(good, structure, xml => xml.Replace("8" + gp.Rpps, "8" + TestIds.NewRpps(), StringComparison.Ordinal)), "altered after signing");
        await RefusedAsync(structure, Header(good, other), "not valid for the structure certificate");
        await RefusedAsync(other, Header(good, other), "is not the structure of the certificate");
        await RefusedAsync(structure, Header(good with { Role = "21" }, structure), "is not the professional's profession");
        await RefusedAsync(structure, Header(good with { Rpps = TestIds.NewRpps() }, structure), "no active professional");
        await RefusedAsync(structure, Header(good with { Purpose = "bris_de_glace" }, structure), "names its patient in urn:oasis:names:tc:xacml:2.0:resource:resource-id");
        await RefusedAsync(structure, Header(good with { Purpose = "curiosite" }, structure), "'curiosite' is unknown");
        await RefusedAsync(structure, Header(good with { Ins = "199999999999999" }, structure), "names no patient known to OpenDMP");
        await RefusedAsync(gp.Certificate, Header(good, structure), "a professional's own card needs none");
        await RefusedAsync(structure, "not base64!", "must be the base64");
        await RefusedAsync(structure, Convert.ToBase64String("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"u8.ToArray()), "not well-formed XML");
    }
}

public sealed class VihfTests_Sqlite() : VihfTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class VihfTests_Postgres(PostgresCluster pg) : VihfTests(new PostgresStorage(pg, "vihf"));
