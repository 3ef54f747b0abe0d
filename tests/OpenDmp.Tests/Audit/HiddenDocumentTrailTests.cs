using System.Net;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Audit;

/// <summary>
/// Nothing about a document kept from the patient reaches the patient's trail until it is released:
/// not its entries, not the submission set that filed it, not the supersession of what it replaced.
/// </summary>
public abstract class HiddenDocumentTrailTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static DocumentToSubmit Doc(string title, string? visibility = null, string? replaces = null) =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, Visibility: visibility, ReplacesDocumentId: replaces);

    private static async Task<List<AuditEvent>> TrailAsync(HttpClient http, string patientId)
    {
        using var response = await http.GetAsync($"/fhir/AuditEvent?patient={patientId}&_count=500");
        return (await FhirAssert.BundleAsync(response)).Entry.Select(e => (AuditEvent)e.Resource!).ToList();
    }

    private static IEnumerable<string> Objects(IEnumerable<AuditEvent> trail) =>
        trail.SelectMany(a => a.Entity).Select(e => e.What?.Reference).OfType<string>();

    /// <summary>Regression: the submission set's "create List" entry named the author and the filing time of a document invisible to the patient.</summary>
    [Fact]
    public async Task InvisibleDocument_LeavesNoTraceInThePatientsTrail_UntilReleased()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        var before = await TrailAsync(patientHttp, patient.Id);
        var hidden = await Server.SubmitAsync(gp, patient, Doc("Annonce", "INVISIBLE_PATIENT"));
        using (await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference/{hidden}"))
        {
        }

        var during = await TrailAsync(patientHttp, patient.Id);
        var leaked = during.Where(a => before.All(b => b.Id != a.Id) && a.Agent.Any(g => g.Who?.Reference == "Practitioner/" + gp.Id) && Objects([a]).Any(o => !o.StartsWith("Patient/", StringComparison.Ordinal) && o != "AuditEvent")).ToList();
        Assert.True(leaked.Count == 0, "leaked: " + string.Join(", ", leaked.SelectMany(a => Objects([a]))));
        Assert.DoesNotContain(Objects(during), o => o.StartsWith("List/", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.OK, (await Server.Http(gp.Certificate).PostAsync($"/fhir/DocumentReference/{hidden}/$release", null)).StatusCode);
        var after = await TrailAsync(patientHttp, patient.Id);
        Assert.Contains(Objects(after), o => o == "DocumentReference/" + hidden);
        Assert.Contains(Objects(after), o => o.StartsWith("List/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvisibleDocument_CannotReplaceADocumentThePatientSees()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var visible = await Server.SubmitAsync(gp, patient, Doc("CR v1"));
        using var response = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Doc("CR v2", "INVISIBLE_PATIENT", visible)])));
        await FhirAssert.OutcomeAsync(response, HttpStatusCode.UnprocessableEntity, "cannot replace a document they see");
    }
}

public sealed class HiddenDocumentTrailTests_Sqlite() : HiddenDocumentTrailTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class HiddenDocumentTrailTests_Postgres(PostgresCluster pg) : HiddenDocumentTrailTests(new PostgresStorage(pg, "hiddentrail"));
