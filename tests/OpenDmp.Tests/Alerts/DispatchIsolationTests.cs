using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Alerts;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Fm = Hl7.Fhir.Model;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Alerts;

/// <summary>
/// One record whose alerts cannot be written (a fault injected in the database itself: a trigger
/// refusing that record's alert rows) does not hold the dispatcher's queue: the other records'
/// alerts go out, the faulty record's events are set aside after Alerts:MaxAttempts failures and
/// come back once the operator requeues them.
/// </summary>
public abstract class DispatchIsolationTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Alerts:DispatchSeconds"] = "0.2",
        ["Alerts:MaxAttempts"] = "3",
    };

    private async Task AdmitAsync(TestProfessional urgentist, TestPatient patient)
    {
        var p = new Fm.Parameters();
        p.Add("setting", new Fm.Code("EMER"));
        using var response = await Server.Http(urgentist.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(p));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private Task<int> ExecAsync(string sql) => Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Database.ExecuteSqlRawAsync(sql));

    private Task<bool> IsPostgresAsync() => Server.WithScopeAsync(sp => Task.FromResult(sp.GetRequiredService<DmpDbContext>().Database.IsNpgsql()));

    [Fact]
    public async Task APoisonRecord_IsSetAside_TheOthersAreAlerted_AndItComesBackWhenRequeued()
    {
        var gp = await Server.AddProfessionalAsync();
        var poisoned = await Server.AddPatientAsync(gp);
        var healthy = await Server.AddPatientAsync(gp);
        var (urgentist, _) = await Server.AddHospitalAsync();
        // The fault: every alert row of that one record is refused by the database.
        if (await IsPostgresAsync())
        {
            await ExecAsync($"CREATE FUNCTION opendmp_test_poison() RETURNS trigger AS $$ BEGIN IF NEW.record_id = '{poisoned.Id}' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql");
            await ExecAsync("CREATE TRIGGER opendmp_test_poison BEFORE INSERT ON professional_alerts FOR EACH ROW EXECUTE FUNCTION opendmp_test_poison()");
        }
        else
        {
            await ExecAsync($"CREATE TRIGGER opendmp_test_poison BEFORE INSERT ON professional_alerts WHEN NEW.record_id = '{poisoned.Id}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
        }

        await AdmitAsync(urgentist, poisoned);
        await AdmitAsync(urgentist, healthy);

        // The healthy record's alert goes out; the poisoned one's event is set aside after three failures, no alert written.
        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().AnyAsync(a => a.RecordId == healthy.Id)));
        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().RecordEvents.AsNoTracking().AnyAsync(e => e.RecordId == poisoned.Id && e.FailedAt != null)));
        var aside = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().RecordEvents.AsNoTracking().SingleAsync(e => e.RecordId == poisoned.Id));
        Assert.Equal(3, aside.Attempts);
        Assert.NotNull(aside.ProcessedAt);
        Assert.NotNull(aside.Failure);
        Assert.DoesNotContain("injected", aside.Failure, StringComparison.Ordinal);
        Assert.False(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().AnyAsync(a => a.RecordId == poisoned.Id)));

        // The cause fixed, the operator requeues: the alert goes out.
        await ExecAsync(await IsPostgresAsync() ? "DROP TRIGGER opendmp_test_poison ON professional_alerts" : "DROP TRIGGER opendmp_test_poison");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await OpenDmp.Server.Cli.AdminCli.RunAsync(["alerts", "requeue", "--data", Server.Data.Root], Server.Config, stdout, stderr);
        Assert.True(code == 0, stdout + stderr.ToString());
        Assert.Contains("1 event(s) requeued.", stdout.ToString(), StringComparison.Ordinal);
        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().AnyAsync(a => a.RecordId == poisoned.Id && a.RecipientId == gp.Id)));
    }
}

/// <summary>
/// Several records' alerts written in one transaction (one lot): each alert is there, each record's
/// audit chain stays unbroken ('audit verify'), and a second dispatch of the same events writes nothing.
/// </summary>
public abstract class DispatchLotTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    // The test dispatches itself (no background round takes the events first).
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Alerts:DispatchSeconds"] = "0", ["Audit:CheckpointSeconds"] = "0" };

    [Fact]
    public async Task ALotOfRecords_IsWrittenInOneTransaction_WithUnbrokenChains()
    {
        var gp = await Server.AddProfessionalAsync();
        var (urgentist, _) = await Server.AddHospitalAsync();
        var patients = new List<TestPatient>();
        for (var i = 0; i < 4; i++)
        {
            var patient = await Server.AddPatientAsync(gp);
            patients.Add(patient);
            var p = new Fm.Parameters();
            p.Add("setting", new Fm.Code("EMER"));
            using var response = await Server.Http(urgentist.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(p));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var written = await Server.WithScopeAsync(async sp =>
        {
            var alerts = sp.GetRequiredService<AlertService>();
            var events = await alerts.PendingEventsAsync(default);
            Assert.Equal(4, events.Count);
            var lot = events.GroupBy(e => e.RecordId).Select(g => (g.Key, g.ToList())).ToList();
            var first = await alerts.DispatchRecordsAsync(lot, default);
            // The same events again: already processed, nothing more.
            Assert.Equal(0, await alerts.DispatchRecordsAsync(lot, default));
            return first;
        });
        Assert.Equal(4, written);
        foreach (var patient in patients)
        {
            Assert.Single(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ProfessionalAlerts.AsNoTracking().Where(a => a.RecordId == patient.Id && a.RecipientId == gp.Id).ToListAsync()));
        }

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await OpenDmp.Server.Cli.AdminCli.RunAsync(["audit", "verify", "--data", Server.Data.Root], Server.Config, stdout, stderr);
        Assert.True(code == 0, stdout + stderr.ToString());
        Assert.Contains("The audit trail is intact.", stdout.ToString(), StringComparison.Ordinal);
    }
}

public sealed class DispatchLotTests_Sqlite() : DispatchLotTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class DispatchLotTests_Postgres(PostgresCluster pg) : DispatchLotTests(new PostgresStorage(pg, "dispatchlot"));

public sealed class DispatchIsolationTests_Sqlite() : DispatchIsolationTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class DispatchIsolationTests_Postgres(PostgresCluster pg) : DispatchIsolationTests(new PostgresStorage(pg, "dispatchiso"));
