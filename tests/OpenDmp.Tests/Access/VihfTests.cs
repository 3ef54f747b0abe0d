using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography.Xml;
using System.Xml;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
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
    private async Task CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        Assert.True(code == 0, $"opendmp {string.Join(' ', args)}: {stdout}{stderr}");
    }

    private async Task<(string Finess, X509Certificate2 Certificate, string Id)> StructureAsync(string name)
    {
        var finess = "69" + Random.Shared.Next(1_000_000, 9_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await CliAsync("organization", "add", "--finess", finess, "--name", name);
        var dir = Path.Combine(Server.Data.Root, "vihf-certs");
        await CliAsync("pki", "issue-organisation", "--finess", finess, "--out", dir, "--p12-password", "test");
        var cert = X509Certificate2.CreateFromPemFile(Path.Combine(dir, $"org-{finess}.crt"), Path.Combine(dir, $"org-{finess}.key"));
        var id = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Organizations.Where(o => o.Finess == finess).Select(o => o.Id).SingleAsync());
        return (finess, RunningServer.Reload(cert), id);
    }

    /// <summary>The assertion's fields a test may change.</summary>
    private sealed record Vihf(string Rpps, string Role, string Structure, string Audience, DateTimeOffset NotBefore, DateTimeOffset NotOnOrAfter, string Purpose = "normal", string Ins = "123456789012345");

    private static string Xml(Vihf v, string id) => $"""
        <saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" IssueInstant="{v.NotBefore:yyyy-MM-ddTHH:mm:ssZ}" Version="2.0">
          <saml2:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">CN=Logiciel de test, O=Test</saml2:Issuer>
          <saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">Dr Test</saml2:NameID></saml2:Subject>
          <saml2:Conditions NotBefore="{v.NotBefore:yyyy-MM-ddTHH:mm:ssZ}" NotOnOrAfter="{v.NotOnOrAfter:yyyy-MM-ddTHH:mm:ssZ}">
            <saml2:AudienceRestriction><saml2:Audience>{v.Audience}</saml2:Audience></saml2:AudienceRestriction>
          </saml2:Conditions>
          <saml2:AuthnStatement AuthnInstant="{v.NotBefore:yyyy-MM-ddTHH:mm:ssZ}"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>
          <saml2:AttributeStatement>
            <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><saml2:AttributeValue>8{v.Rpps}</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role">
              <saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="{v.Role}" codeSystem="1.2.250.1.71.1.2.7" displayName="Médecin"/></saml2:AttributeValue>
              <saml2:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="SM54" codeSystem="1.2.250.1.71.4.2.5" displayName="Médecine générale"/></saml2:AttributeValue>
            </saml2:Attribute>
            <saml2:Attribute Name="Identifiant_Structure"><saml2:AttributeValue>{v.Structure}</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="Secteur_Activite"><saml2:AttributeValue>SA01^1.2.250.1.71.4.2.4</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="VIHF_Version"><saml2:AttributeValue>3.0</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="Authentification_mode"><saml2:AttributeValue>INDIRECTE</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="urn:oasis:names:tc:xacml:2.0:resource:resource-id"><saml2:AttributeValue>{v.Ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO^NH</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="Ressource_URN"><saml2:AttributeValue>urn:dmp</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"><saml2:AttributeValue><PurposeOfUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="{v.Purpose}" codeSystem="1.2.250.1.213.1.1.4.248" displayName="Mode d'accès"/></saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="LPS_Nom"><saml2:AttributeValue>Logiciel de test</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="LPS_Version"><saml2:AttributeValue>1.0</saml2:AttributeValue></saml2:Attribute>
            <saml2:Attribute Name="LPS_ID_HOMOLOGATION_DMP"><saml2:AttributeValue>TEST-0001</saml2:AttributeValue></saml2:Attribute>
          </saml2:AttributeStatement>
        </saml2:Assertion>
        """;

    /// <summary>Enveloped XML-DSig over the assertion (exclusive c14n, RSA-SHA256), placed after the Issuer; null key = unsigned.</summary>
    private static string Header(Vihf v, X509Certificate2? signer, Func<string, string>? afterSigning = null)
    {
        var id = "_" + Guid.NewGuid().ToString("N");
        var doc = new XmlDocument { PreserveWhitespace = true };
        doc.LoadXml(Xml(v, id));
        if (signer is not null)
        {
            var signed = new SignedXml(doc) { SigningKey = signer.GetRSAPrivateKey() };
            signed.SignedInfo!.CanonicalizationMethod = SignedXml.XmlDsigExcC14NTransformUrl;
            signed.SignedInfo.SignatureMethod = SignedXml.XmlDsigRSASHA256Url;
            var reference = new Reference("#" + id) { DigestMethod = SignedXml.XmlDsigSHA256Url };
            reference.AddTransform(new XmlDsigEnvelopedSignatureTransform());
            reference.AddTransform(new XmlDsigExcC14NTransform());
            signed.AddReference(reference);
            var keyInfo = new KeyInfo();
            keyInfo.AddClause(new KeyInfoX509Data(signer));
            signed.KeyInfo = keyInfo;
            signed.ComputeSignature();
            var issuer = doc.DocumentElement!.GetElementsByTagName("Issuer", "urn:oasis:names:tc:SAML:2.0:assertion")[0]!;
            doc.DocumentElement.InsertAfter(doc.ImportNode(signed.GetXml(), true), issuer);
        }

        var xml = doc.OuterXml;
        return Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(afterSigning?.Invoke(xml) ?? xml));
    }

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
        var good = new Vihf(gp.Rpps, "10", "1" + finess, Server.BaseUrl.TrimEnd('/'), now.AddMinutes(-1), now.AddMinutes(10));
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
        await RefusedAsync(structure, Header(good with { Purpose = "bris_de_glace" }, structure), "$emergency-access", HttpStatusCode.Forbidden);
        await RefusedAsync(gp.Certificate, Header(good, structure), "a professional's own card needs none");
        await RefusedAsync(structure, "not base64!", "must be the base64");
        await RefusedAsync(structure, Convert.ToBase64String("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"u8.ToArray()), "not well-formed XML");
    }
}

public sealed class VihfTests_Sqlite() : VihfTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class VihfTests_Postgres(PostgresCluster pg) : VihfTests(new PostgresStorage(pg, "vihf"));
