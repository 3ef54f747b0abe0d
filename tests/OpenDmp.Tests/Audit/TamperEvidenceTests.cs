using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Audit;

/// <summary>
/// Tamper evidence that survives someone who can write the database and the data folder: checkpoints
/// every second over the chains just written, chained to each other, anchored in a file outside the
/// database, signed with a key kept apart from the data; and a proof each patient can download and
/// check alone (here with openssl for the signature).
/// </summary>
public abstract class TamperEvidenceTests : ServerTestBase
{
    private static readonly string KeyDir = Path.Combine(Path.GetTempPath(), "opendmp-audit-key-" + Guid.NewGuid().ToString("N")[..8]);
    private static readonly string AnchorDir = Path.Combine(Path.GetTempPath(), "opendmp-anchor-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The SQLite and PostgreSQL classes run in parallel and share the key folder: one creates it, the other waits.</summary>
    private static readonly Lock KeyLock = new();

    protected TamperEvidenceTests(IStorageUnderTest storage)
        : base(storage)
    {
        lock (KeyLock)
        {
            if (!File.Exists(Path.Combine(KeyDir, "published-audit.crt")))
            {
                // The signing key lives with another administrator, outside the data folder.
                using var signer = TestCertificateAuthority.LoadOrCreate(KeyDir, TimeProvider.System).AuditSigner(KeyDir, TimeProvider.System);
                File.Copy(Path.Combine(KeyDir, "audit.crt"), Path.Combine(KeyDir, "published-audit.crt"), overwrite: true);
            }
        }
    }

    private string Anchor { get; } = Path.Combine(AnchorDir, Guid.NewGuid().ToString("N") + ".jsonl");

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Audit:CheckpointSeconds"] = "1",
        ["Audit:SigningCertificateFile"] = Path.Combine(KeyDir, "audit.crt"),
        ["Audit:SigningKeyFile"] = Path.Combine(KeyDir, "audit.key"),
        ["Audit:VerificationCertificateFile"] = Path.Combine(KeyDir, "published-audit.crt"),
        ["Audit:AnchorFile"] = Anchor,
    };

    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private Task<T> DbAsync<T>(Func<DmpDbContext, Task<T>> query) => Server.WithScopeAsync(sp => query(sp.GetRequiredService<DmpDbContext>()));

    private Task<int> SqlAsync(FormattableString sql) => DbAsync(db => db.Database.ExecuteSqlAsync(sql));

    private async Task<(TestProfessional Gp, TestPatient Patient)> ActivityAsync(string? visibility = null)
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        await Server.SubmitAsync(gp, patient, new DocumentToSubmit(Encoding.UTF8.GetBytes("note"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        if (visibility is not null)
        {
            await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Annonce"), "application/pdf", "Annonce", Visibility: visibility));
        }

        using (await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
        }

        return (gp, patient);
    }

    /// <summary>Waits until a signed checkpoint covers the chain's newest entry (the server checkpoints every second).</summary>
    private async Task<long> CoveredAsync(string recordId)
    {
        long head = 0;
        await Wait.UntilAsync(async () =>
        {
            head = await DbAsync(db => db.AuditEntries.Where(e => e.RecordId == recordId).MaxAsync(e => e.Seq));
            return await DbAsync(db => db.AuditCheckpointHeads.AnyAsync(h => h.RecordId == recordId && h.Seq == head));
        }, TimeSpan.FromSeconds(30));
        return head;
    }

    /// <summary>
    /// Regression: an entry whose transaction committed after a checkpoint had taken its chain (marked
    /// at the append) stayed uncovered until the next full checkpoint; it is now covered within seconds.
    /// </summary>
    [Fact]
    public async Task AnEntryCommittedAfterACheckpointTookItsChain_IsCoveredSoonAfter()
    {
        var (_, patient) = await ActivityAsync();
        await CoveredAsync(patient.Id);
        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            await using var scope = await sp.GetRequiredService<WriteGate>().EnterAsync(db, patient.Id, default);
            await sp.GetRequiredService<AuditTrail>().AppendAsync(db, new AuditItem(patient.Id, OpenDmp.Core.Common.Actor.Operator, AuditAction.Read, "success", OpenDmp.Core.Common.Channels.Admin, "Patient", patient.Id), default);
            await db.SaveChangesAsync();
            // Checkpoints pass (every second here) while the transaction is open: they read the former head.
            await Task.Delay(2500);
            await scope.CommitAsync(default);
            return 0;
        });
        var head = await CoveredAsync(patient.Id);
        Assert.True(head > 0);
    }

    /// <summary>
    /// A checkpoint names each chain's newest entry — the chains asked for (an unknown one is left
    /// out) and, for the full checkpoint, every chain — whatever the chains' lengths (the heads are
    /// found by one descent of the key per chain, no longer by reading every entry).
    /// </summary>
    [Fact]
    public async Task Checkpoint_NamesEachChainsNewestEntry_ForTheChainsAskedAndForAll()
    {
        var (_, shortChain) = await ActivityAsync();
        var (_, longChain) = await ActivityAsync();
        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            await using var scope = await sp.GetRequiredService<WriteGate>().EnterAsync(db, longChain.Id, default);
            for (var i = 0; i < 40; i++)
            {
                await sp.GetRequiredService<AuditTrail>().AppendAsync(db, new AuditItem(longChain.Id, OpenDmp.Core.Common.Actor.Operator, AuditAction.Read, "success", OpenDmp.Core.Common.Channels.Admin, "Patient", longChain.Id), default);
            }

            await db.SaveChangesAsync();
            await scope.CommitAsync(default);
            return 0;
        });

        Task<Dictionary<string, long>> NewestAsync() => DbAsync(db => db.AuditEntries.GroupBy(e => e.RecordId).Select(g => new { g.Key, Seq = g.Max(e => e.Seq) }).ToDictionaryAsync(x => x.Key, x => x.Seq));
        var before = await NewestAsync();
        var (asked, all) = await Server.WithScopeAsync(async sp =>
        {
            var verifier = sp.GetRequiredService<AuditVerifier>();
            return (await verifier.CheckpointAsync(default, [shortChain.Id, longChain.Id, "no-such-chain"]), await verifier.CheckpointAsync(default));
        });
        var after = await NewestAsync();

        async Task<Dictionary<string, long>> HeadsAsync(AuditCheckpoint? cp)
        {
            var heads = new Dictionary<string, long>();
            foreach (var line in cp!.Heads.Split('\n'))
            {
                var parts = line.Split(' ');
                var (chain, seq, hash) = (parts[0], long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), parts[2]);
                Assert.Equal(hash, await DbAsync(db => db.AuditEntries.Where(e => e.RecordId == chain && e.Seq == seq).Select(e => e.Hash).SingleAsync()));
                heads[chain] = seq;
            }

            return heads;
        }

        var askedHeads = await HeadsAsync(asked);
        Assert.Equal(new[] { longChain.Id, shortChain.Id }.Order(StringComparer.Ordinal), askedHeads.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(before[longChain.Id], askedHeads[longChain.Id]);
        Assert.Equal(before[shortChain.Id], askedHeads[shortChain.Id]);
        Assert.True(before[longChain.Id] > 40);

        // Every chain, each at its newest entry (other activity may add entries meanwhile: between the two readings).
        var allHeads = await HeadsAsync(all);
        Assert.Equal(after.Keys.Order(StringComparer.Ordinal), allHeads.Keys.Order(StringComparer.Ordinal));
        Assert.All(allHeads, h => Assert.InRange(h.Value, before.GetValueOrDefault(h.Key), after[h.Key]));
    }

    /// <summary>
    /// Reads are audited by the group commit, which on PostgreSQL continues the chain heads it wrote
    /// last in one round trip. Another writer extends the chain in between (here the operator's
    /// entries, like a deposit's): the next reads are still answered and audited, the chain has no
    /// gap, no fork, no repeated entry, and verifies; so does the system chain, where the refusals
    /// of absent documents go through the same group commit.
    /// </summary>
    [Fact]
    public async Task GroupCommit_ContinuesAChainAnotherWriterExtendedMeanwhile()
    {
        var (gp, patient) = await ActivityAsync();
        var id = await DbAsync(db => db.Documents.Where(d => d.RecordId == patient.Id).Select(d => d.Id).FirstAsync());
        using var http = Server.Http(gp.Certificate);
        async Task ReadAsync(int times)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, times).Select(_ => http.GetAsync($"/fhir/DocumentReference/{id}")));
            Assert.All(answers, a => Assert.Equal(System.Net.HttpStatusCode.OK, a.StatusCode));
        }

        Task<int> ReadsAsync() => DbAsync(db => db.AuditEntries.CountAsync(e => e.RecordId == patient.Id && e.ObjectId == id && e.ActorId == gp.Id && e.Action == "read"));

        await ReadAsync(4);
        await ReadAsync(4);
        for (var round = 0; round < 3; round++)
        {
            await Server.WithScopeAsync(async sp =>
            {
                var db = sp.GetRequiredService<DmpDbContext>();
                await using var scope = await sp.GetRequiredService<WriteGate>().EnterAsync(db, patient.Id, default);
                await sp.GetRequiredService<AuditTrail>().AppendAsync(db, new AuditItem(patient.Id, OpenDmp.Core.Common.Actor.Operator, AuditAction.Read, "success", OpenDmp.Core.Common.Channels.Admin, "Patient", patient.Id), default);
                await db.SaveChangesAsync();
                await scope.CommitAsync(default);
                return 0;
            });
            await ReadAsync(5);

            // An absent document's refusal goes to the system chain through the same group commit.
            using var absent = await http.GetAsync($"/fhir/DocumentReference/absent-{round}-{Guid.NewGuid():N}");
            Assert.Equal(System.Net.HttpStatusCode.NotFound, absent.StatusCode);
        }

        Assert.Equal(8 + 15, await ReadsAsync());
        var system = await DbAsync(db => db.AuditEntries.Where(e => e.RecordId == AuditTrail.SystemChain).OrderBy(e => e.Seq).ToListAsync());
        Assert.Equal(3, system.Count(e => e.ObjectId!.StartsWith("absent-", StringComparison.Ordinal) && e.Outcome == "not-found"));
        Assert.Equal(Enumerable.Range(1, system.Count).Select(i => (long)i), system.Select(e => e.Seq));
        var chain = await DbAsync(db => db.AuditEntries.Where(e => e.RecordId == patient.Id).OrderBy(e => e.Seq).ToListAsync());
        Assert.Equal(Enumerable.Range(1, chain.Count).Select(i => (long)i), chain.Select(e => e.Seq));
        for (var i = 0; i < chain.Count; i++)
        {
            Assert.Equal(i == 0 ? AuditTrail.Genesis : chain[i - 1].Hash, chain[i].PrevHash);
            Assert.Equal(AuditTrail.ComputeHash(chain[i]), chain[i].Hash);
        }

        var (code, output) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output);
    }

    /// <summary>
    /// The chain's newest entries disappear while the server runs (a restore of an older state, a
    /// failover that lost commits): the group commit does not continue the head it remembers, which
    /// is gone, but the chain as it now is — no gap, each entry linked to the one before.
    /// </summary>
    [Fact]
    public async Task GroupCommit_DoesNotContinueARememberedHeadThatIsGone()
    {
        var (gp, patient) = await ActivityAsync();
        var id = await DbAsync(db => db.Documents.Where(d => d.RecordId == patient.Id).Select(d => d.Id).FirstAsync());
        using var http = Server.Http(gp.Certificate);
        for (var i = 0; i < 3; i++)
        {
            using var read = await http.GetAsync($"/fhir/DocumentReference/{id}");
            Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        }

        var newest = await DbAsync(db => db.AuditEntries.Where(e => e.RecordId == patient.Id).MaxAsync(e => e.Seq));
        Assert.Equal(2, await SqlAsync($"DELETE FROM audit_entries WHERE record_id = {patient.Id} AND seq > {newest - 2}"));
        for (var i = 0; i < 3; i++)
        {
            using var read = await http.GetAsync($"/fhir/DocumentReference/{id}");
            Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        }

        var chain = await DbAsync(db => db.AuditEntries.Where(e => e.RecordId == patient.Id).OrderBy(e => e.Seq).ToListAsync());
        Assert.Equal(newest + 1, chain.Count);
        Assert.Equal(Enumerable.Range(1, chain.Count).Select(i => (long)i), chain.Select(e => e.Seq));
        for (var i = 1; i < chain.Count; i++)
        {
            Assert.Equal(chain[i - 1].Hash, chain[i].PrevHash);
            Assert.Equal(AuditTrail.ComputeHash(chain[i]), chain[i].Hash);
        }
    }

    /// <summary>Regression: deleting the newest entries written after the last signed checkpoint left "audit verify" intact.</summary>
    [Fact]
    public async Task NewestEntries_CutSecondsLater_AreDetected()
    {
        var (_, patient) = await ActivityAsync();
        var head = await CoveredAsync(patient.Id);
        Assert.Equal(2, await SqlAsync($"DELETE FROM audit_entries WHERE record_id = {patient.Id} AND seq >= {head - 1}"));
        var (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains($"BROKEN chain {patient.Id}, entry {head}:", output, StringComparison.Ordinal);
        Assert.Contains("truncated chain", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckpointsRemovedWithTheTail_AreDetectedByTheAnchorFile_AndTheCheckpointChain()
    {
        var (_, patient) = await ActivityAsync();
        var head = await CoveredAsync(patient.Id);
        var (code, output) = await CliAsync("audit", "verify");
        Assert.True(code == 0, output);

        // Someone removes the tail and every checkpoint that vouches for it, from the database only.
        var covering = await DbAsync(db => db.AuditCheckpointHeads.Where(h => h.RecordId == patient.Id && h.Seq == head).Select(h => h.CheckpointId).ToListAsync());
        var first = covering.Min();
        await SqlAsync($"DELETE FROM audit_entries WHERE record_id = {patient.Id} AND seq = {head}");
        await SqlAsync($"DELETE FROM audit_checkpoint_heads WHERE checkpoint_id >= {first}");
        await SqlAsync($"DELETE FROM audit_checkpoints WHERE id >= {first}");
        (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains($"BROKEN chain checkpoint, entry {first}: the anchor file holds this checkpoint but the database no longer does", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrailResignedWithAKeyFromTheDataFolder_IsDetected()
    {
        await ActivityAsync();
        await Wait.UntilAsync(async () => await DbAsync(db => db.AuditCheckpoints.AnyAsync()), TimeSpan.FromSeconds(30));
        Assert.False(File.Exists(Path.Combine(Server.Data.Pki, "audit.key")), "the audit signing key must not be in the data folder");

        // Whoever holds only the data folder signs with a key of their own.
        using var forger = TestCertificateAuthority.LoadOrCreate(Server.Data.Pki, TimeProvider.System).AuditSigner(Server.Data.Pki, TimeProvider.System);
        var cp = await DbAsync(db => db.AuditCheckpoints.OrderBy(c => c.Id).FirstAsync());
        using var rsa = forger.GetRSAPrivateKey()!;
        var forged = Convert.ToBase64String(rsa.SignData(Encoding.UTF8.GetBytes(AuditVerifier.Canonical(cp)), System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1));
        var thumbprint = forger.Thumbprint;
        await SqlAsync($"UPDATE audit_checkpoints SET signature = {forged}, signer = {thumbprint} WHERE id = {cp.Id}");
        var (code, output) = await CliAsync("audit", "verify");
        Assert.Equal(4, code);
        Assert.Contains($"BROKEN chain checkpoint, entry {cp.Id}: the checkpoint's signature is not valid", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PatientProof_VerifiesOffline_WithOpenssl_AndRevealsNothingKeptFromThePatient()
    {
        var (gp, patient) = await ActivityAsync("INVISIBLE_PATIENT");
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        await CoveredAsync(patient.Id);
        using var response = await patientHttp.GetAsync($"/fhir/Patient/{patient.Id}/$audit-proof");
        var json = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, json);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition!.DispositionType);
        var proof = JsonNode.Parse(json)!.AsObject();

        // The entries about the invisible document are there by their hashes only.
        var entries = proof["entries"]!.AsArray().Select(e => e!.AsObject()).ToList();
        Assert.Contains(entries, e => e["redacted"] is not null);
        var hiddenId = await DbAsync(db => db.Documents.Where(d => d.RecordId == patient.Id && d.HiddenFromPatient).Select(d => d.Id).SingleAsync());
        Assert.DoesNotContain(hiddenId, json, StringComparison.Ordinal);

        using var published = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(KeyDir, "published-audit.crt"));
        var check = AuditProofs.Verify(json, published);
        Assert.True(check.Valid, string.Join("\n", check.Lines));

        // The signature, checked by another tool from the documented signed text.
        var cp = proof["checkpoint"]!.AsObject();
        var signed = string.Join('\n', "opendmp-audit-checkpoint-v2", (long)cp["time"]!, (string)cp["previous"]!, (string)cp["root"]!);
        var dir = Directory.CreateTempSubdirectory("opendmp-proof-").FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "signed.txt"), signed);
        await File.WriteAllBytesAsync(Path.Combine(dir, "sig.bin"), Convert.FromBase64String((string)cp["signature"]!));
        await File.WriteAllTextAsync(Path.Combine(dir, "pub.pem"), published.PublicKey.GetRSAPublicKey()!.ExportSubjectPublicKeyInfoPem());
        var (exit, text) = await RunAsync("openssl", "dgst", "-sha256", "-verify", Path.Combine(dir, "pub.pem"), "-signature", Path.Combine(dir, "sig.bin"), Path.Combine(dir, "signed.txt"));
        Assert.True(exit == 0 && text.Contains("Verified OK", StringComparison.Ordinal), text);

        // The command line says the same; an altered entry breaks the proof.
        var file = Path.Combine(dir, "proof.json");
        await File.WriteAllTextAsync(file, json);
        var (code, output) = await CliAsync("audit", "verify-proof", file, "--certificate", Path.Combine(KeyDir, "published-audit.crt"));
        Assert.True(code == 0, output);
        Assert.Contains("The proof is valid.", output, StringComparison.Ordinal);
        var altered = entries.First(e => e["redacted"] is null && (string?)e["actorId"] == gp.Id);
        altered["actorId"] = "someone-else";
        await File.WriteAllTextAsync(file, proof.ToJsonString());
        (code, output) = await CliAsync("audit", "verify-proof", file);
        Assert.Equal(4, code);
        Assert.Contains("does not match its hash (altered)", output, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, output);
    }
}

public sealed class TamperEvidenceTests_Sqlite() : TamperEvidenceTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class TamperEvidenceTests_Postgres(PostgresCluster pg) : TamperEvidenceTests(new PostgresStorage(pg, "tamper"))
{
    /// <summary>
    /// The audit group's one-round-trip batch asks for generic plans; pooled connections keep their
    /// session state (no reset on close), so the setting must end with the batch's implicit
    /// transaction and never reach the next user of the connection.
    /// </summary>
    [Fact]
    public async Task GroupBatch_GenericPlans_EndWithTheBatch()
    {
        var (inBatch, after) = await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            await db.Database.OpenConnectionAsync();
            try
            {
                await using var batch = db.Database.GetDbConnection().CreateBatch();
                WriteGate.AddStatement(batch, WriteGate.GenericPlansSql, []);
                WriteGate.AddStatement(batch, "SELECT current_setting('plan_cache_mode')", []);
                string inside;
                await using (var reader = await batch.ExecuteReaderAsync())
                {
                    await reader.NextResultAsync();
                    await reader.ReadAsync();
                    inside = reader.GetString(0);
                }

                await using var next = db.Database.GetDbConnection().CreateCommand();
                next.CommandText = "SELECT current_setting('plan_cache_mode')";
                return (inside, (string)(await next.ExecuteScalarAsync())!);
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }
        });
        Assert.Equal("force_generic_plan", inBatch);
        Assert.Equal("auto", after);
    }
}
