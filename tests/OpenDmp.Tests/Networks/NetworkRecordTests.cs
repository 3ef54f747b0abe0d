using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Networks;

/// <summary>
/// A health network's record space: its members read and write it only while the patient is
/// enrolled with consent, never the national record without a grant there; a document published
/// into the national record follows the national rules; enrolment, withdrawal and every access are on
/// the patient's chain.
/// </summary>
public abstract class NetworkRecordTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static Parameters Args(params (string Name, DataType Value)[] values)
    {
        var p = new Parameters();
        foreach (var (name, value) in values)
        {
            p.Add(name, value);
        }

        return p;
    }

    private static async Task<(HttpStatusCode Status, string Body)> PostAsync(HttpClient http, string path, Parameters p)
    {
        using var response = await http.PostAsync(path, FhirAssert.Json(p));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task MembersUseTheNetworkRecordOnlyWithTheEnrolment_AndNothingOfTheNationalRecordWithoutAGrant()
    {
        var gp = await Server.AddProfessionalAsync(family: "Traitant", given: "Paul");
        var oncologist = await Server.AddProfessionalAsync("10", "SM54", "Onco", "Inès");
        var nurse = await Server.AddProfessionalAsync("60", null, "Coordinatrice", "Léa");
        var outsider = await Server.AddProfessionalAsync(family: "Dehors", given: "Jean");
        var patient = await Server.AddPatientAsync(gp);
        var network = await Server.WithScopeAsync(sp => sp.GetRequiredService<DirectoryService>().AddGroupAsync("Réseau régional de cancérologie", "network", [oncologist.Rpps, nurse.Rpps], CancellationToken.None));
        var practice = await Server.WithScopeAsync(sp => sp.GetRequiredService<DirectoryService>().AddGroupAsync("Maison de santé", "msp", [oncologist.Rpps], CancellationToken.None));
        var national = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(Encoding.UTF8.GetBytes("Compte rendu du médecin traitant"), "text/plain", "CR", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var onco = Server.Http(oncologist.Certificate);
        var coordination = Server.Http(nurse.Certificate);
        var record = $"/fhir/Patient/{patient.Id}/$network-record?network={network.Id}";

        // Before the enrolment: nothing, and the refusal says why.
        var (status, body) = await GetAsync(onco, record);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("not enrolled in the network", body, StringComparison.Ordinal);
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-enrol", Args(("network", new FhirString(network.Id))));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("consent", body, StringComparison.Ordinal);
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-enrol", Args(("network", new FhirString(practice.Id)), ("consent", new FhirBoolean(true))));
        Assert.Equal(HttpStatusCode.NotFound, status);
        (status, body) = await PostAsync(Server.Http(outsider.Certificate), $"/fhir/Patient/{patient.Id}/$network-enrol", Args(("network", new FhirString(network.Id)), ("consent", new FhirBoolean(true))));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("only the members of the network", body, StringComparison.Ordinal);

        // The oncologist enrols the patient with her consent and writes the coordination plan.
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-enrol", Args(("network", new FhirString("Group/" + network.Id)), ("consent", new FhirBoolean(true))));
        Assert.True(status == HttpStatusCode.Created, body);
        var plan = Encoding.UTF8.GetBytes("Programme personnalisé de soins : chimiothérapie J1-J21, consultation d'annonce faite.");
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-record", Args(("network", new FhirString(network.Id)), ("kind", new FhirString("coordination")),
            ("title", new FhirString("Programme personnalisé de soins")), ("contentType", new FhirString("text/plain")), ("content", new Base64Binary(plan))));
        Assert.True(status == HttpStatusCode.Created, body);
        var planId = FhirJson.Parse<DocumentReference>(body).Id;
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-record", Args(("network", new FhirString(network.Id)), ("kind", new FhirString("coordination")),
            ("title", new FhirString("Page")), ("contentType", new FhirString("text/html")), ("content", new Base64Binary(Encoding.UTF8.GetBytes("<script>alert(1)</script>")))));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("text/plain or application/pdf", body, StringComparison.Ordinal);

        // The network's coordinating nurse reads it; an outsider does not.
        var list = FhirJson.Parse<Bundle>((await GetAsync(coordination, record)).Body);
        var entry = (DocumentReference)Assert.Single(list.Entry).Resource;
        Assert.Equal(("Programme personnalisé de soins", planId), (entry.Description, entry.Id));
        using (var content = await coordination.GetAsync(entry.Content[0].Attachment.Url))
        {
            Assert.Equal(HttpStatusCode.OK, content.StatusCode);
            Assert.Equal(plan, await content.Content.ReadAsByteArrayAsync());
            Assert.Contains("sandbox", content.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(Server.Http(outsider.Certificate), record)).Status);

        // Membership gives nothing of the national record: no search, no read, no publication without a grant there.
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(coordination, $"/fhir/DocumentReference?patient={patient.Id}")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(coordination, $"/fhir/Binary/{national}")).Status);
        var publish = Args(("network", new FhirString(network.Id)), ("document", new FhirString(planId)), ("type", new FhirString("11488-4")));
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-publish", publish);
        Assert.Equal(HttpStatusCode.Forbidden, status);

        // With the patient's consent to the national record (alleged), the oncologist publishes the plan there.
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$declare-access", Args(("mode", new Code("alleged")), ("confirm", new FhirBoolean(true))));
        Assert.True(status == HttpStatusCode.Created, body);
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-publish", publish);
        Assert.True(status == HttpStatusCode.Created, body);
        var published = ((ResourceReference)FhirJson.Parse<Parameters>(body).Parameter.Single(p => p.Name == "document").Value).Reference.Split('/')[1];
        using (var raw = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Binary/{published}") { Headers = { { "Accept", "text/plain" } } })
        using (var filed = await Server.Http(gp.Certificate).SendAsync(raw))
        {
            Assert.Equal(plan, await filed.Content.ReadAsByteArrayAsync());
        }
        (status, body) = await PostAsync(onco, $"/fhir/Patient/{patient.Id}/$network-publish", publish);
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("already published", body, StringComparison.Ordinal);

        // The patient sees the network in her history and withdraws: the members' rights end at once.
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(patientHttp, record)).Status);
        (status, body) = await PostAsync(patientHttp, $"/fhir/Patient/{patient.Id}/$network-withdraw", Args(("network", new FhirString(network.Id))));
        Assert.True(status == HttpStatusCode.OK, body);
        (status, body) = await GetAsync(coordination, record);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("withdrew", body, StringComparison.Ordinal);

        var chain = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id).Select(e => new { e.Action, e.ActorId, e.ObjectType, e.Outcome }).ToListAsync());
        Assert.Contains(chain, e => e.Action == "network-enrol" && e.ActorId == oncologist.Id && e.Outcome == "success");
        Assert.Contains(chain, e => e.Action == "network-withdraw" && e.ActorId == patient.Id);
        Assert.Contains(chain, e => e.Action == "create" && e.ObjectType == "NetworkDocument" && e.ActorId == oncologist.Id);
        Assert.Contains(chain, e => e.Action == "retrieve" && e.ObjectType == "NetworkDocument" && e.ActorId == nurse.Id);
        Assert.Contains(chain, e => e.ActorId == outsider.Id && e.Outcome == "denied");
        Assert.Contains(chain, e => e.ActorId == nurse.Id && e.Outcome == "denied" && e.ObjectType == "Group");
        // The patient's own history shows them (AuditEvent, as the portal reads it).
        var history = await GetAsync(patientHttp, $"/fhir/AuditEvent?patient={patient.Id}&_count=200");
        Assert.Contains("network-enrol", history.Body, StringComparison.Ordinal);
        Assert.Contains("network-withdraw", history.Body, StringComparison.Ordinal);
    }
}

public sealed class NetworkRecordTests_Sqlite() : NetworkRecordTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class NetworkRecordTests_Postgres(PostgresCluster pg) : NetworkRecordTests(new PostgresStorage(pg, "networks"));
