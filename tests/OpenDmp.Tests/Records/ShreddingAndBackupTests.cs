using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Records;

/// <summary>
/// The end of a record (ADR 0019): destroying a closed record's data key leaves it unreadable — also
/// when a restored backup brings the wrapped key back — and the retention job does it on time.
/// On SQLite, the online backup restores into a new folder with the key store kept apart.
/// </summary>
public abstract class ShreddingTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    /// <summary>No periodic checkpoint while 'audit verify' reads the trail (the same choice as the audit tests: a checkpoint written mid-verification is a race of the test, not a break).</summary>
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Audit:CheckpointSeconds"] = "0" };

    protected async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    protected async Task<string> FileAsync(TestProfessional gp, TestPatient patient, string title)
    {
        var response = await Server.Fhir(gp.Certificate).TransactionAsync(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf(title), "application/pdf", title)]));
        return response!.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
    }

    protected Task<ErrorKind?> OperatorRetrieveAsync(string docId) => Server.WithScopeAsync<ErrorKind?>(async sp =>
    {
        try
        {
            await sp.GetRequiredService<DocumentQueries>().RetrieveAsync(docId, Actor.Operator, Channels.Admin, CancellationToken.None);
            return null;
        }
        catch (DmpException ex)
        {
            return ex.Kind;
        }
    });

    [Fact]
    public async Task AShreddedRecord_StaysUnreadable_EvenWhenItsOldKeyComesBack_AndRetentionShredsOnTime()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var docId = await FileAsync(gp, patient, "Compte rendu");
        await Server.WithScopeAsync(sp => sp.GetRequiredService<PersonalSpaceService>().SaveAsync(patient.Id, "allergy", new Dictionary<string, string?> { ["substance"] = "Pénicilline" }, new Actor(ActorKind.Patient, patient.Id, "patient"), Channels.Portal, CancellationToken.None));
        var oldKey = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().RecordKeys.AsNoTracking().SingleAsync(k => k.RecordId == patient.Id));

        // Only a closed record, and only with the record id typed again.
        var (code, _, error) = await CliAsync("record", "shred", "--ins", patient.Id, "--confirm", patient.Id);
        Assert.True(code == 3 && error.Contains("close it first", StringComparison.Ordinal), error);
        Assert.Equal(0, (await CliAsync("record", "close", "--ins", patient.Id)).Code);
        (code, _, error) = await CliAsync("record", "shred", "--ins", patient.Id, "--confirm", "another");
        Assert.True(code == 2 && error.Contains("--confirm must repeat the record id", StringComparison.Ordinal), error);
        (code, var output, error) = await CliAsync("record", "shred", "--ins", patient.Id, "--confirm", patient.Id);
        Assert.True(code == 0, error);
        Assert.Contains("destroyed", output, StringComparison.Ordinal);

        Assert.Equal(ErrorKind.Gone, await OperatorRetrieveAsync(docId));
        Assert.Null(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Documents.Where(d => d.Id == docId).Select(d => d.Title).SingleAsync()));
        Assert.Empty(await Server.WithScopeAsync(sp => sp.GetRequiredService<PersonalSpaceService>().ListAsync(patient.Id, new Actor(ActorKind.Patient, patient.Id, "patient"), Channels.Portal, CancellationToken.None)));

        // A restored backup brings the wrapped key back: the tombstone in the key store wins.
        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            db.RecordKeys.Add(new RecordKey { RecordId = oldKey.RecordId, WrappedKey = oldKey.WrappedKey, CreatedAt = oldKey.CreatedAt });
            return await db.SaveChangesAsync();
        });
        Assert.Equal(ErrorKind.Gone, await OperatorRetrieveAsync(docId));
        Assert.True(Server.Services.GetRequiredService<KeyRing>().IsShredded(patient.Id));

        // It cannot be reopened; the audit trail keeps the destruction and still verifies.
        (code, _, error) = await CliAsync("record", "reopen", "--ins", patient.Id);
        Assert.True(code == 3 && error.Contains("cannot be reopened", StringComparison.Ordinal), error);
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AnyAsync(a => a.RecordId == patient.Id && a.ObjectType == "RecordKey")));
        (code, output, error) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output + error);

        // Retention: a record closed eleven years ago is shredded by the job, a recent one is kept.
        var old = await Server.AddPatientAsync(gp);
        var recent = await Server.AddPatientAsync(gp);
        var oldDoc = await FileAsync(gp, old, "Ancien");
        var recentDoc = await FileAsync(gp, recent, "Récent");
        Assert.Equal(0, (await CliAsync("record", "close", "--ins", old.Id)).Code);
        Assert.Equal(0, (await CliAsync("record", "close", "--ins", recent.Id)).Code);
        await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Records.Where(r => r.RecordId == old.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.ClosedAt, DateTimeOffset.UtcNow.AddYears(-11))));
        Assert.Equal(1, await Server.WithScopeAsync(sp => sp.GetRequiredService<RecordRetention>().EnforceAsync(CancellationToken.None)));
        Assert.Equal(ErrorKind.Gone, await OperatorRetrieveAsync(oldDoc));
        Assert.Null(await OperatorRetrieveAsync(recentDoc));
    }
}

public sealed class ShreddingTests_Sqlite() : ShreddingTests(new SqliteStorage())
{
    [Fact]
    public async Task AnOnlineBackup_RestoresIntoANewFolder_AndARecordShreddedSince_StaysShredded()
    {
        var gp = await Server.AddProfessionalAsync();
        var kept = await Server.AddPatientAsync(gp);
        var ended = await Server.AddPatientAsync(gp);
        var keptDoc = await FileAsync(gp, kept, "Gardé");
        var endedDoc = await FileAsync(gp, ended, "Détruit ensuite");
        using (var result = await Server.Http(gp.Certificate).PostAsync("/fhir/Observation", FhirAssert.Json(new Hl7.Fhir.Model.Observation
        {
            Status = Hl7.Fhir.Model.ObservationStatus.Final,
            Code = new Hl7.Fhir.Model.CodeableConcept("http://loinc.org", "2345-7", "Glucose"),
            Subject = new Hl7.Fhir.Model.ResourceReference(ended.Reference),
            Effective = new Hl7.Fhir.Model.FhirDateTime(DateTimeOffset.UtcNow.AddDays(-1)),
            Value = new Hl7.Fhir.Model.Quantity { Value = 5.4m, Unit = "mmol/L", Code = "mmol/L", System = "http://unitsofmeasure.org" },
        })))
        {
            Assert.Equal(HttpStatusCode.Created, result.StatusCode);
        }


        // Online: the server keeps serving while the backup runs.
        var backupDir = Path.Combine(Path.GetTempPath(), "opendmp-backup-" + Guid.NewGuid().ToString("N")[..8]);
        var restored = new OpenDmp.Server.Hosting.DataDirectory(Path.Combine(Path.GetTempPath(), "opendmp-restored-" + Guid.NewGuid().ToString("N")[..8]));
        try
        {
            var (code, output, error) = await CliAsync("backup", "--out", backupDir);
            Assert.True(code == 0, error);
            Assert.Contains("2 documents, 2 content files", output, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(backupDir, "keys")));

            // After the backup, one record reaches the end of its retention.
            Assert.Equal(0, (await CliAsync("record", "close", "--ins", ended.Id)).Code);
            Assert.Equal(0, (await CliAsync("record", "shred", "--ins", ended.Id, "--confirm", ended.Id)).Code);

            // A new machine: the key store comes from its own backup (here: the live one), then the data backup.
            Directory.CreateDirectory(restored.Root);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Assert.Equal(2, await AdminCli.RunAsync(["restore", "--from", backupDir, "--data", restored.Root], Server.Config, stdout, stderr));
            Assert.Contains("no key store", stderr.ToString(), StringComparison.Ordinal);
            Directory.CreateDirectory(Path.Combine(restored.Root, "keys"));
            foreach (var f in Directory.EnumerateFiles(Path.Combine(Server.Data.Root, "keys")))
            {
                File.Copy(f, Path.Combine(restored.Root, "keys", Path.GetFileName(f)));
            }

            stderr = new StringWriter();
            Assert.True(await AdminCli.RunAsync(["restore", "--from", backupDir, "--data", restored.Root], Server.Config, stdout, stderr) == 0, stderr.ToString());
            stderr = new StringWriter();
            Assert.Equal(2, await AdminCli.RunAsync(["restore", "--from", backupDir, "--data", restored.Root], Server.Config, stdout, stderr));
            Assert.Contains("--force", stderr.ToString(), StringComparison.Ordinal);
            stderr = new StringWriter();
            Assert.True(await AdminCli.RunAsync(["audit", "verify", "--data", restored.Root], Server.Config, stdout, stderr) == 0, stderr.ToString());

            // The restored platform serves the kept record; the one shredded since the backup stays unreadable.
            await using var second = await RunningServer.StartAsync(null, shared: restored, ownsData: false);
            var http = second.Http(gp.Certificate);
            using (var read = await http.GetAsync($"/fhir/Binary/{keptDoc}"))
            {
                Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            }

            using (var gone = await http.GetAsync($"/fhir/Binary/{endedDoc}"))
            {
                Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
            }

            // What the restored database held in clear about it went again before the server served.
            Assert.False(await second.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Observations.AnyAsync(o => o.RecordId == ended.Id)));
            Assert.Null(await second.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Documents.Where(d => d.Id == endedDoc).Select(d => d.Title).SingleAsync()));
        }
        finally
        {
            foreach (var dir in new[] { backupDir, restored.Root })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, true);
                }
            }
        }
    }
}

[Collection(PostgresCollection.Name)]
public sealed class ShreddingTests_Postgres(PostgresCluster pg) : ShreddingTests(new PostgresStorage(pg, "shredding"));
