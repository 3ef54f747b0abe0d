using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>`opendmp audit verify` proves the trail intact, and names the first broken entry when a stored row is altered or a chain truncated.</summary>
public abstract class AuditVerifyTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    /// <summary>Checkpoints are written by the tests themselves (the command line), none by the server.</summary>
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Audit:CheckpointSeconds"] = "0" };

    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private async Task<TestPatient> ActivityAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("note"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
        using (await http.PostAsync("/fhir", FhirAssert.Json(bundle)))
        {
        }

        using (await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
        }

        return patient;
    }

    private Task<int> SqlAsync(FormattableString sql) =>
        Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Database.ExecuteSqlAsync(sql));

    [Fact]
    public async Task AuditEvent_TreatingPhysicianSeesEveryAccess_OthersOnlyTheirOwn()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var gpHttp = Server.Http(gp.Certificate);
        using (await gpHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
        }

        var pharmacist = await Server.AddProfessionalAsync("21", null);
        var phHttp = Server.Http(pharmacist.Certificate);
        using (await phHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
        }

        using (await phHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
        }

        using var all = await gpHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_total=accurate");
        var bundle = await FhirAssert.BundleAsync(all);
        var events = bundle.Entry.Select(e => (Hl7.Fhir.Model.AuditEvent)e.Resource).ToList();
        Assert.Equal(bundle.Total, events.Count);
        Assert.Contains(events, a => a.Agent[0].Who.Reference == "Practitioner/" + pharmacist.Id && a.Action == Hl7.Fhir.Model.AuditEvent.AuditEventAction.E);
        Assert.Contains(events, a => a.Agent[0].Who.Reference == "Practitioner/" + gp.Id && a.Subtype[0].Code == "search-type");
        Assert.All(events, a => Assert.Contains(a.Entity, en => en.What.Reference == "Patient/" + patient.Id));
        Assert.True(events[0].Recorded >= events[^1].Recorded);

        using var own = await phHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}");
        var ownEvents = (await FhirAssert.BundleAsync(own)).Entry.Select(e => (Hl7.Fhir.Model.AuditEvent)e.Resource).ToList();
        Assert.NotEmpty(ownEvents);
        Assert.All(ownEvents, a => Assert.Equal("Practitioner/" + pharmacist.Id, a.Agent[0].Who.Reference));
    }

    [Fact]
    public async Task Verify_IntactTrail_ExitsZero()
    {
        await ActivityAsync();
        var (code, output) = await CliAsync("audit", "checkpoint");
        Assert.True(code == 0, output);
        (code, output) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output);
        Assert.Contains("1 signed checkpoints checked", output, StringComparison.Ordinal);
        Assert.Contains("The audit trail is intact.", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentRequestsOnOneRecord_KeepOneUnbrokenChain()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        // Writes (ITI-65) and reads (each audited) on the same record at the same time.
        var tasks = Enumerable.Range(0, 8).Select(async i =>
        {
            for (var j = 0; j < 5; j++)
            {
                var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes($"note {i}.{j}"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
                using var write = await http.PostAsync("/fhir", FhirAssert.Json(bundle));
                Assert.Equal(System.Net.HttpStatusCode.OK, write.StatusCode);
                using var read = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}");
                Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
            }
        });
        await Task.WhenAll(tasks);
        var seqs = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(x => x.RecordId == patient.Id).OrderBy(x => x.Seq).Select(x => x.Seq).ToListAsync());
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(x => (long)x), seqs);
        Assert.True(seqs.Count >= 8 * 5 * 3, $"{seqs.Count} entries");
        var (code, output) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output);
        Assert.Contains("The audit trail is intact.", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_RowAlteredInTheDatabase_FailsAndNamesIt()
    {
        var patient = await ActivityAsync();
        // Someone with database access rewrites who read the record.
        Assert.Equal(1, await SqlAsync($"UPDATE audit_entries SET actor_id = 'someone-else' WHERE record_id = {patient.Id} AND seq = 3"));
        var (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains($"BROKEN chain {patient.Id}, entry 3: the entry's content does not match its hash (altered)", output, StringComparison.Ordinal);
        Assert.Contains("NOT intact: 1 problem(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_ChainTruncatedAfterCheckpoint_FailsAndNamesIt()
    {
        var patient = await ActivityAsync();
        var (code, _) = await CliAsync("audit", "checkpoint");
        Assert.Equal(0, code);
        var last = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.Where(e => e.RecordId == patient.Id).MaxAsync(e => e.Seq));
        // Removing the last entries leaves a chain that is internally consistent: only the signed checkpoint can tell.
        Assert.Equal(1, await SqlAsync($"DELETE FROM audit_entries WHERE record_id = {patient.Id} AND seq = {last}"));
        string output;
        (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains($"BROKEN chain {patient.Id}, entry {last}: checkpoint 1 vouches for this entry but it is missing (truncated chain)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_ForgedCheckpoint_IsRejected()
    {
        await ActivityAsync();
        var (code, _) = await CliAsync("audit", "checkpoint");
        Assert.Equal(0, code);
        Assert.Equal(1, await SqlAsync($"UPDATE audit_checkpoints SET heads = heads || 'x' WHERE id = 1"));
        string output;
        (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains("BROKEN chain checkpoint, entry 1: the checkpoint's heads do not match its signed root (altered)", output, StringComparison.Ordinal);
        Assert.Equal(1, await SqlAsync($"UPDATE audit_checkpoints SET root = '00' || root WHERE id = 1"));
        (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains("BROKEN chain checkpoint, entry 1: the checkpoint's signature is not valid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotateSigningKey_OlderCheckpointsStillVerify_OldKeyGone()
    {
        await ActivityAsync();
        Assert.Equal(0, (await CliAsync("audit", "checkpoint")).Code);
        var pki = Path.Combine(Server.Data.Root, "pki");
        var oldCertificate = await File.ReadAllTextAsync(Path.Combine(pki, "audit.crt"));
        var oldKey = await File.ReadAllTextAsync(Path.Combine(pki, "audit.key"));

        var (code, output) = await CliAsync("audit", "rotate-signing-key");
        Assert.True(code == 0, output);
        Assert.Contains("signed with the new key", output, StringComparison.Ordinal);
        Assert.NotEqual(oldKey, await File.ReadAllTextAsync(Path.Combine(pki, "audit.key")));
        var retired = Assert.Single(System.IO.Directory.GetFiles(Path.Combine(pki, "audit-retired"), "*.crt"));
        Assert.Equal(oldCertificate.Trim(), (await File.ReadAllTextAsync(retired)).Trim());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(pki, "audit.key")));
        }

        // Both checkpoints verify: the first against the retired certificate, the second against the new one.
        await ActivityAsync();
        Assert.Equal(0, (await CliAsync("audit", "checkpoint")).Code);
        (code, output) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output);
        Assert.Contains("3 signed checkpoints checked", output, StringComparison.Ordinal);

        // Trusting the new certificate alone: the checkpoint signed before the rotation is not vouched for.
        (code, output) = await CliAsync("audit", "verify", "--certificate", Path.Combine(pki, "audit.crt"));
        Assert.Equal(4, code);
        Assert.Contains("BROKEN chain checkpoint, entry 1: the checkpoint's signature is not valid", output, StringComparison.Ordinal);

        // A bundle of both (what an operator publishes) vouches for all.
        var bundle = Path.Combine(Server.Data.Root, "trusted-audit.pem");
        await File.WriteAllTextAsync(bundle, oldCertificate + "\n" + await File.ReadAllTextAsync(Path.Combine(pki, "audit.crt")));
        (code, output) = await CliAsync("audit", "verify", "--certificate", bundle);
        Assert.True(code == 0, output);
    }
}

public sealed class AuditVerifyTests_Sqlite() : AuditVerifyTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class AuditVerifyTests_Postgres(PostgresCluster pg) : AuditVerifyTests(new PostgresStorage(pg, "audit"));
