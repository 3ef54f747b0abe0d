using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>A permit's obligation (the patient's first-access notification) is carried out only once the request succeeded.</summary>
public abstract class ObligationTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private Task<int> FirstAccessNotificationsAsync(string recordId, string professionalId) =>
        Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking().CountAsync(n => n.RecordId == recordId && n.Kind == "first-access" && n.ProfessionalId == professionalId));

    /// <summary>Regression: an ITI-65 refused for bad input (422) told the patient that the professional had accessed their record.</summary>
    [Fact]
    public async Task RefusedRequest_NotifiesNoOne_ThenTheFirstSuccessDoes()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        var bad = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("x"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
        bad.Entry.Select(e => e.Resource).OfType<Hl7.Fhir.Model.DocumentReference>().Single().Content[0].Attachment.Hash = new byte[20];
        using (var refused = await http.PostAsync("/fhir", FhirAssert.Json(bad)))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        }

        Assert.Equal(0, await FirstAccessNotificationsAsync(patient.Id, gp.Id));
        using (var ok = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.Equal(1, await FirstAccessNotificationsAsync(patient.Id, gp.Id));
    }

    /// <summary>Regression: filing a document invisible to the patient told the patient, through the first-access notification, that the professional had been there.</summary>
    [Fact]
    public async Task FilingOnlyHiddenDocuments_NotifiesNoOne_UntilAVisibleAccess()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        var hidden = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("annonce"), "text/plain", "Annonce", FormatCode: "urn:ihe:iti:xds-sd:text:2008", Visibility: "INVISIBLE_PATIENT")]);
        using (var filed = await http.PostAsync("/fhir", FhirAssert.Json(hidden)))
        {
            Assert.Equal(HttpStatusCode.OK, filed.StatusCode);
        }

        Assert.Equal(0, await FirstAccessNotificationsAsync(patient.Id, gp.Id));
        using (var ok = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.Equal(1, await FirstAccessNotificationsAsync(patient.Id, gp.Id));
    }
}

public sealed class ObligationTests_Sqlite() : ObligationTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ObligationTests_Postgres(PostgresCluster pg) : ObligationTests(new PostgresStorage(pg, "obligations"));
