using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>The admin tool (same executable) against a running server's data directory and database; Synthea and PDSm material loaded as published.</summary>
public abstract class ImportAndCliTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static string TestData(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", .. parts]);

    private async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task ImportSynthea_LoadsCompletely_AndIsSearchable()
    {
        var (code, output, error) = await CliAsync("import", "fhir", TestData("synthea", "Bundle-Hospital-01.json"), TestData("synthea", "Bundle-Practitioner-01.json"), TestData("synthea", "Bundle-Patient-01.json"));
        Assert.True(code == 0, error);
        Assert.Contains("272 organisations", output, StringComparison.Ordinal);
        Assert.Contains("272 practitioners", output, StringComparison.Ordinal);
        Assert.Contains("1 patients (1 with an attributed test identity), 21 documents, 159 observations, 2 reimbursed cares", output, StringComparison.Ordinal);

        // Searchable once a treating physician is set for the imported record.
        var gp = await Server.AddProfessionalAsync();
        var http = Server.Http(gp.Certificate);
        var patientId = "ec1a6cad-8825-7b5c-4e14-257c696d5f11";
        (code, _, error) = await CliAsync("record", "treating-physician", "--ins", patientId, "--rpps", gp.Rpps);
        Assert.True(code == 0, error);
        // The 20 documents of the bundle and the reimbursement history (ReimbursementTests).
        using (var docs = await http.GetAsync($"/fhir/DocumentReference?patient={patientId}&_total=accurate&_count=5&type=http://loinc.org|34117-2"))
        {
            var bundle = await FhirAssert.BundleAsync(docs);
            Assert.Equal(20, bundle.Total);
            Assert.Equal(5, bundle.Entry.Count);
            Assert.Contains(bundle.Link, l => l.Relation == "next");
            var doc = (DocumentReference)bundle.Entry[0].Resource;
            Assert.Contains(doc.Meta.Security, c => c.Code == "HTEST");
            Assert.StartsWith("Practitioner/", doc.Author[0].Reference, StringComparison.Ordinal);
            Assert.StartsWith("\n20", await FhirAssert.RetrieveTextAsync(http, doc.Content[0].Attachment.Url), StringComparison.Ordinal);
        }

        using (var obs = await http.GetAsync($"/fhir/Observation?patient={patientId}&_total=accurate&code=http://loinc.org|8302-2"))
        {
            var bundle = await FhirAssert.BundleAsync(obs);
            Assert.True(bundle.Total > 0);
            Assert.All(bundle.Entry, e => Assert.Equal("8302-2", ((Observation)e.Resource).Code.Coding[0].Code));
        }

        using (var pat = await http.GetAsync($"/fhir/Patient/{patientId}"))
        {
            var p = FhirJson.Parse<Patient>(await pat.Content.ReadAsStringAsync());
            Assert.Equal(Ins.LocalTestSystem, p.Identifier[0].System);
            Assert.Contains(p.Meta.Security, c => c.Code == "HTEST");
        }

        using (var pract = await http.GetAsync("/fhir/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999984591"))
        {
            Assert.Single((await FhirAssert.BundleAsync(pract)).Entry);
        }

        // A transaction bundle with several patients.
        (code, output, error) = await CliAsync("import", "fhir", TestData("synthea", "Bundle-transaction-01.json"));
        Assert.True(code == 0, error);
        Assert.Contains("5 patients (5 with an attributed test identity), 2 documents", output, StringComparison.Ordinal);

        // Importing again duplicates nothing.
        (code, output, _) = await CliAsync("import", "fhir", TestData("synthea", "Bundle-Patient-01.json"));
        Assert.Equal(0, code);
        Assert.Contains("0 patients", output, StringComparison.Ordinal);
        Assert.Contains("0 documents", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PdsmReplaceExample_RefusedForItsHashErratum_AcceptedOnceCorrected()
    {
        // The example's patient (kept with its id, flagged as a test identity) and the document it replaces.
        var (code, _, error) = await CliAsync("import", "fhir", TestData("ans-pdsm", "Patient-fr-patient-123.json"));
        Assert.True(code == 0, error);
        var gp = await Server.AddProfessionalAsync();
        (code, _, error) = await CliAsync("record", "treating-physician", "--ins", "fr-patient-123", "--rpps", gp.Rpps);
        Assert.True(code == 0, error);
        var old = new DocumentReference
        {
            Id = "doc-old",
            MasterIdentifier = new Identifier("urn:ietf:rfc:3986", "urn:uuid:44444444-4444-4444-8444-444444444444"),
            Status = DocumentReferenceStatus.Current,
            Type = new CodeableConcept("http://loinc.org", "34133-9"),
            Subject = new ResourceReference("Patient/fr-patient-123"),
            Date = new DateTimeOffset(2025, 1, 1, 10, 0, 0, TimeSpan.FromHours(1)),
            Content = [new DocumentReference.ContentComponent { Attachment = new Attachment { ContentType = "application/pdf", Data = Encoding.ASCII.GetBytes("Old!") } }],
        };
        var oldFile = Path.Combine(Server.Data.Root, "doc-old.json");
        await File.WriteAllTextAsync(oldFile, FhirJson.Serialize(new Bundle { Type = Bundle.BundleType.Collection, Entry = [new Bundle.EntryComponent { FullUrl = "urn:uuid:44444444-4444-4444-8444-444444444444", Resource = old }] }));
        (code, _, error) = await CliAsync("import", "fhir", oldFile);
        Assert.True(code == 0, error);

        var http = Server.Http(gp.Certificate);
        var published = await File.ReadAllTextAsync(TestData("ans-pdsm", "Bundle-bundle-exemple-comprehensiveprovidedocument-replace.json"));

        // As published, the example's attachment.hash is SHA-1("hello") while its Binary holds "Hello":
        // OpenDMP refuses it, naming exactly that element, and writes nothing.
        var before = await Server.CountDocumentsAsync();
        using (var refused = await http.PostAsync("/fhir", FhirAssert.Json(published)))
        {
            var oo = await FhirAssert.OutcomeAsync(refused, HttpStatusCode.UnprocessableEntity, "hash does not match");
            Assert.Equal("Bundle.entry[1].resource.content[0].attachment.hash", oo.Issue[0].Expression.Single());
        }

        Assert.Equal(before, await Server.CountDocumentsAsync());
        Assert.Contains("\"hash\" : \"qvTGHdzF6KLavt4PO0gs2a6pQ00=\"", published, StringComparison.Ordinal);

        // With that one erratum corrected in memory (SHA-1 of "Hello"), everything else is accepted as written.
        var corrected = published.Replace("qvTGHdzF6KLavt4PO0gs2a6pQ00=", "9/+ei3uy4Jtwk1pdeF4MxdnQq/A=", StringComparison.Ordinal);
        using var response = await http.PostAsync("/fhir", FhirAssert.Json(corrected));
        var result = await FhirAssert.BundleAsync(response);
        Assert.Equal(Bundle.BundleType.TransactionResponse, result.Type);
        Assert.Equal(["201 Created", "201 Created", "200 OK", "201 Created"], result.Entry.Select(e => e.Response.Status));
        Assert.StartsWith("DocumentReference/doc-old/_history/", result.Entry[2].Response.Location, StringComparison.Ordinal);
        var newId = result.Entry[1].Response.Location.Split('/')[1];

        using var oldNow = await http.GetAsync("/fhir/DocumentReference/doc-old");
        Assert.Equal(DocumentReferenceStatus.Superseded, FhirJson.Parse<DocumentReference>(await oldNow.Content.ReadAsStringAsync()).Status);
        using var newDoc = await http.GetAsync("/fhir/DocumentReference/" + newId);
        var replacement = FhirJson.Parse<DocumentReference>(await newDoc.Content.ReadAsStringAsync());
        Assert.Equal("DocumentReference/doc-old", replacement.RelatesTo[0].Target.Reference);
        Assert.Equal("urn:uuid:55555555-5555-4555-8555-555555555555", replacement.MasterIdentifier.Value);
        Assert.Equal("Hello", await FhirAssert.RetrieveTextAsync(http, replacement.Content[0].Attachment.Url));

        // Posting it again: the document already exists.
        using var again = await http.PostAsync("/fhir", FhirAssert.Json(corrected));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task Cli_ValidatesInput_WithClearMessagesAndExitCodes()
    {
        var (code, _, error) = await CliAsync("professional", "add", "--rpps", "10000000018", "--profession", "10", "--specialty", "SM54", "--family", "X", "--given", "Y");
        Assert.Equal(2, code);
        Assert.Contains("check digit", error, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("professional", "add", "--rpps", "10000000017", "--profession", "10", "--family", "X", "--given", "Y");
        Assert.Equal(2, code);
        Assert.Contains("needs a specialty", error, StringComparison.Ordinal);
        var rpps = TestIds.NewRpps();
        (code, var output, error) = await CliAsync("professional", "add", "--rpps", rpps, "--profession", "10", "--specialty", "SM54", "--family", "Martin", "--given", "Claire");
        Assert.True(code == 0, error);
        Assert.Contains(rpps, output, StringComparison.Ordinal);

        (code, _, error) = await CliAsync("patient", "add", "--ins", "180017505600104", "--family", "Claire", "--given", "Martin", "--birth-date", "1980-01-15", "--sex", "M", "--birth-place", "75056");
        Assert.Equal(2, code);
        Assert.Contains("key is wrong", error, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("patient", "add", "--ins", "180017505600103", "--family", "Claire", "--given", "Martin", "--birth-date", "15/01/1980", "--sex", "M");
        Assert.Equal(2, code);
        Assert.Contains("YYYY-MM-DD", error, StringComparison.Ordinal);
        var corsican = Ins.WithKey("285042B040012");
        (code, _, error) = await CliAsync("patient", "add", "--ins", corsican, "--family", "Santoni", "--given", "Maria", "--birth-date", "1985-04-02", "--sex", "F", "--birth-place", "2B040");
        Assert.True(code == 0, error);
        (code, _, error) = await CliAsync("patient", "add", "--ins", corsican, "--family", "Santoni", "--given", "Maria", "--birth-date", "1985-04-02", "--sex", "F");
        Assert.Equal(3, code);
        Assert.Contains("already exists", error, StringComparison.Ordinal);

        (code, _, error) = await CliAsync("record", "open", "--ins", corsican, "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "pharmacy");
        Assert.Equal(2, code);
        Assert.Contains("office, hospital, counter or online", error, StringComparison.Ordinal);
        (code, output, error) = await CliAsync("record", "open", "--ins", corsican, "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "office");
        Assert.True(code == 0, error);
        var firstCode = System.Text.RegularExpressions.Regex.Match(output, "[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}").Value;
        Assert.NotEmpty(firstCode);

        // The operator re-issues the activation code: the first one stops working, the new one activates the account.
        (code, output, error) = await CliAsync("patient", "activation", "--ins", corsican);
        Assert.True(code == 0, error);
        var newCode = System.Text.RegularExpressions.Regex.Match(output, "[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}").Value;
        Assert.NotEqual(firstCode, newCode);
        var web = Server.Http(null);
        static StringContent Activation(string ins, string code) =>
            new(System.Text.Json.JsonSerializer.Serialize(new { ins, code, password = "un mot de passe 2026" }), System.Text.Encoding.UTF8, "application/json");
        using (var old = await web.PostAsync("/patient/activate", Activation(corsican, firstCode)))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, old.StatusCode);
        }

        using (var activated = await web.PostAsync("/patient/activate", Activation(corsican, newCode.ToLowerInvariant())))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, activated.StatusCode);
        }

        (code, _, error) = await CliAsync("patient", "activation", "--ins", "180017505600103");
        Assert.Equal(2, code);
        Assert.Contains("no patient", error, StringComparison.Ordinal);

        // Legal representatives: registered, listed, revoked; bad input says what is wrong.
        (code, _, error) = await CliAsync("representative", "add", "--ins", corsican, "--name", "Paul Santoni", "--relationship", "uncle");
        Assert.Equal(2, code);
        Assert.Contains("parent", error, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("representative", "add", "--ins", corsican, "--name", "Paul Santoni", "--relationship", "parent", "--until", "2001-01-01");
        Assert.Equal(2, code);
        Assert.Contains("future", error, StringComparison.Ordinal);
        (code, output, error) = await CliAsync("representative", "add", "--ins", corsican, "--name", "Paul Santoni", "--relationship", "parent", "--until", "2099-04-02");
        Assert.True(code == 0, error);
        var repId = System.Text.RegularExpressions.Regex.Match(output, "RL-[A-Z2-9]{4}-[A-Z2-9]{4}").Value;
        Assert.NotEmpty(repId);
        (code, output, _) = await CliAsync("representative", "list", "--ins", corsican);
        Assert.Equal(0, code);
        Assert.Contains($"{repId}\tparent\tPaul Santoni\tnot activated\t2099-04-02", output, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("representative", "revoke", "--id", repId.ToLowerInvariant());
        Assert.True(code == 0, error);
        (code, output, _) = await CliAsync("representative", "list", "--ins", corsican);
        Assert.Contains($"{repId}\tparent\tPaul Santoni\trevoked", output, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("representative", "activation", "--id", repId);
        Assert.Equal(3, code);
        Assert.Contains("ended or was revoked", error, StringComparison.Ordinal);

        // A group practice is declared with its members.
        (code, output, error) = await CliAsync("group", "add", "--name", "MSP des Lilas", "--kind", "msp", "--member", rpps);
        Assert.True(code == 0, error);
        Assert.Contains("Group/", output, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("group", "add", "--name", "MSP", "--kind", "club", "--member", rpps);
        Assert.Equal(2, code);
        Assert.Contains("msp, network or health-centre", error, StringComparison.Ordinal);
        (code, _, error) = await CliAsync("record", "open", "--ins", corsican, "--consent-collected-by", rpps, "--channel", "office");
        Assert.Equal(3, code);
        Assert.Contains("already open", error, StringComparison.Ordinal);
        (code, _, _) = await CliAsync("record", "close", "--ins", corsican);
        Assert.Equal(0, code);
        (code, _, error) = await CliAsync("record", "close", "--ins", corsican);
        Assert.Equal(3, code);
        Assert.Contains("already closed", error, StringComparison.Ordinal);
        (code, _, _) = await CliAsync("record", "reopen", "--ins", corsican);
        Assert.Equal(0, code);

        // A certificate issued by the tool authenticates its professional.
        var certDir = Path.Combine(Server.Data.Root, "issued");
        (code, output, error) = await CliAsync("pki", "issue-professional", "--rpps", rpps, "--out", certDir);
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(certDir, rpps + ".crt")) && File.Exists(Path.Combine(certDir, rpps + ".key")));
        var cert = RunningServer.Reload(System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(Path.Combine(certDir, rpps + ".crt"), Path.Combine(certDir, rpps + ".key")));
        using var me = await Server.Http(cert).GetAsync($"/fhir/Patient?identifier={Ins.NirSystem}|{corsican}");
        var found = await FhirAssert.BundleAsync(me);
        Assert.Single(found.Entry);
        (code, _, error) = await CliAsync("pki", "issue-professional", "--rpps", TestIds.NewRpps(), "--out", certDir);
        Assert.Equal(2, code);
        Assert.Contains("no professional", error, StringComparison.Ordinal);
    }
}

public sealed class ImportAndCliTests_Sqlite() : ImportAndCliTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ImportAndCliTests_Postgres(PostgresCluster pg) : ImportAndCliTests(new PostgresStorage(pg, "cli"));
