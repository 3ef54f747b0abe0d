using System.Net;
using System.Net.Http.Headers;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.SelfMonitoring;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.SelfMonitoring;

/// <summary>
/// Self-monitoring (issue 15) on the real server: a connected device with a token the patient
/// issued records measurements over FHIR (tagged patient-entered) and can read nothing; a revoked
/// token is refused; implausible values are refused with the reason; a threshold set by the
/// treating physician warns the patient with the physician's advice and alerts the physician
/// (the alert holds no value); only the patient or the treating physician sets thresholds.
/// </summary>
public abstract class SelfMonitoringTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Alerts:DispatchSeconds"] = "0.3" };

    private Task<T> WithMonitoringAsync<T>(Func<SelfMonitoringService, Task<T>> f) => Server.WithScopeAsync(sp => f(sp.GetRequiredService<SelfMonitoringService>()));

    private static Actor PatientActor(TestPatient p) => new(ActorKind.Patient, p.Id, "patient");

    private static Actor Professional(TestProfessional p) => new(ActorKind.Professional, p.Id, p.Display, ProfessionCode: "10");

    private static Observation Glucose(decimal value, string unit = "g/L") => new()
    {
        Status = ObservationStatus.Final,
        Code = new CodeableConcept("http://loinc.org", "2339-0"),
        Value = new Quantity(value, unit),
        Effective = new FhirDateTime(DateTimeOffset.UtcNow.AddMinutes(-2)),
    };

    private HttpClient Device(string token)
    {
        var http = Server.Http(null);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    [Fact]
    public async Task ADevice_RecordsMeasurementsOnly_UntilThePatientRevokesIt()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var (device, token) = await WithMonitoringAsync(m => m.IssueDeviceAsync("Lecteur de glycémie", PatientActor(patient), Channels.Portal, default));
        Assert.StartsWith("dev_", token, StringComparison.Ordinal);
        var http = Device(token);

        using (var created = await http.PostAsync("/fhir/Observation", FhirAssert.Json(Glucose(1.12m))))
        {
            var body = await created.Content.ReadAsStringAsync();
            Assert.True(created.StatusCode == HttpStatusCode.Created, body);
            var o = FhirJson.Parse<Observation>(body);
            Assert.Equal("device", Assert.Single(o.Meta.Tag, t => t.System == MeasurementFhir.EnteredBySystem).Code);
            Assert.Equal(1.12m, ((Quantity)o.Value).Value);
            Assert.Equal("Patient/" + patient.Id, o.Subject.Reference);
        }

        // Implausible, wrong unit, unknown quantity: 422 with the reason, nothing written.
        await FhirAssert.OutcomeAsync(await http.PostAsync("/fhir/Observation", FhirAssert.Json(Glucose(45m))), HttpStatusCode.UnprocessableEntity, "between");
        await FhirAssert.OutcomeAsync(await http.PostAsync("/fhir/Observation", FhirAssert.Json(Glucose(110m, "mg/dL"))), HttpStatusCode.UnprocessableEntity, "g/L");
        var unknown = Glucose(1m);
        unknown.Code = new CodeableConcept("http://loinc.org", "2345-7");
        await FhirAssert.OutcomeAsync(await http.PostAsync("/fhir/Observation", FhirAssert.Json(unknown)), HttpStatusCode.UnprocessableEntity, "LOINC");
        Assert.Equal(1, await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Measurements.CountAsync(m => m.RecordId == patient.Id)));

        // The token reads nothing: not the documents, not the results, not the measurements.
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"/fhir/Observation?patient={patient.Id}")).StatusCode);

        // The patient sees the device's measurement in the series, and who entered it.
        var series = await WithMonitoringAsync(m => m.SeriesAsync(patient.Id, PatientActor(patient), Channels.Portal, 10, default));
        Assert.Equal("device:" + device.Id, Assert.Single(Assert.Single(series).Points).EnteredBy);
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(x => x.RecordId == patient.Id && x.ActorKind == "Device" && x.ActorId == device.Id && x.Mode == "patient-entered")));

        // Revoked: the next request is refused.
        await WithMonitoringAsync(async m => { await m.RevokeDeviceAsync(device.Id, PatientActor(patient), Channels.Portal, default); return 0; });
        await FhirAssert.OutcomeAsync(await http.PostAsync("/fhir/Observation", FhirAssert.Json(Glucose(1.0m))), HttpStatusCode.Unauthorized, "revoked");
        await FhirAssert.OutcomeAsync(await Device("dev_forged").PostAsync("/fhir/Observation", FhirAssert.Json(Glucose(1.0m))), HttpStatusCode.Unauthorized, "device token");
    }

    [Fact]
    public async Task TheTreatingPhysiciansThreshold_WarnsThePatientWithTheAdvice_AndAlertsThePhysician_WithoutTheValue()
    {
        var gp = await Server.AddProfessionalAsync();
        var other = await Server.AddProfessionalAsync(family: "Bernard", given: "Louis");
        var patient = await Server.AddPatientAsync(gp);
        var me = PatientActor(patient);

        // Only the patient or the treating physician sets a threshold; only the physician writes the advice.
        var refused = await Assert.ThrowsAsync<DmpException>(() => WithMonitoringAsync(async m => { await m.SetThresholdAsync(patient.Id, "2339-0", 0.7, 1.8, "Appelez-moi", true, Professional(other), Channels.Portal, default); return 0; }));
        Assert.Equal(ErrorKind.Forbidden, refused.Kind);
        var noAdvice = await Assert.ThrowsAsync<DmpException>(() => WithMonitoringAsync(async m => { await m.SetThresholdAsync(patient.Id, "2339-0", 0.7, 1.8, "Je me soigne", false, me, Channels.Portal, default); return 0; }));
        Assert.Equal(ErrorKind.Forbidden, noAdvice.Kind);
        await Assert.ThrowsAsync<DmpException>(() => WithMonitoringAsync(async m => { await m.SetThresholdAsync(patient.Id, "2339-0", 2.0, 1.0, null, false, me, Channels.Portal, default); return 0; }));

        // The patient's own threshold on weight warns, alerts no one.
        await WithMonitoringAsync(async m => { await m.SetThresholdAsync(patient.Id, "29463-7", null, 90, null, false, me, Channels.Portal, default); return 0; });
        var heavy = await WithMonitoringAsync(m => m.RecordAsync("29463-7", 92.5, null, me, Channels.Portal, default));
        Assert.NotNull(heavy.Crossed);
        Assert.Null(heavy.Crossed!.Advice);

        const string advice = "Resucrez-vous si moins de 0,7 ; au-dessus de 1,8 deux fois de suite, appelez le cabinet.";
        await WithMonitoringAsync(async m => { await m.SetThresholdAsync(patient.Id, "2339-0", 0.7, 1.8, advice, true, Professional(gp), Channels.Portal, default); return 0; });
        var normal = await WithMonitoringAsync(m => m.RecordAsync("2339-0", 1.1, null, me, Channels.Portal, default));
        Assert.Null(normal.Crossed);
        var high = await WithMonitoringAsync(m => m.RecordAsync("2339-0", 2.6, null, me, Channels.Portal, default));
        Assert.Equal(advice, high.Crossed?.Advice);

        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().AnyAsync(a => a.RecordId == patient.Id)));
        await Task.Delay(800);
        var alerts = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().Where(a => a.RecordId == patient.Id).ToListAsync());
        var alert = Assert.Single(alerts);
        Assert.Equal(gp.Id, alert.RecipientId);
        Assert.Equal("measurement", alert.Kind);
        // The alert as the physician's software reads it: that a measurement needs attention, no value.
        using var read = await Server.Http(gp.Certificate).GetAsync($"/fhir/Communication/{alert.Id}");
        var text = await read.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Contains("auto-surveillance", text, StringComparison.Ordinal);
        Assert.DoesNotContain("2.6", text, StringComparison.Ordinal);
        Assert.DoesNotContain("2,6", text, StringComparison.Ordinal);

        // The physician sees the series, patient-entered, with the threshold.
        var seen = await WithMonitoringAsync(m => m.SeriesAsync(patient.Id, Professional(gp), Channels.Portal, 10, default));
        var glucose = seen.Single(s => s.Quantity.Code == "2339-0");
        Assert.Equal([2.6, 1.1], glucose.Points.Select(p => p.Value));
        Assert.All(glucose.Points, p => Assert.Equal("patient", p.EnteredBy));
        Assert.Equal(gp.Id, glucose.Threshold?.SetBy);
    }
}

public sealed class SelfMonitoringTests_Sqlite() : SelfMonitoringTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class SelfMonitoringTests_Postgres(PostgresCluster pg) : SelfMonitoringTests(new PostgresStorage(pg, "selfmonitoring"));
