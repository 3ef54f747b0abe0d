using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;
using Record = OpenDmp.Core.Records.Record;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// Reads by id decided on a document and facts kept in memory (PostgreSQL, ADR 0036): every change
/// to the facts committed elsewhere — as another instance, an admin command or SQL by hand would
/// commit it, without this server's knowledge — applies to the very next read: the permit decided
/// on the remembered facts is refused by the audit writer under the record's lock, nothing of it
/// is written, and the read is decided again from the database. On SQLite nothing is remembered
/// and the same reads give the same answers.
/// </summary>
public abstract class RememberedDocumentTests(IStorageUnderTest storage, bool postgres) : ServerTestBase(storage)
{
    [Fact]
    public async Task EveryChangeCommittedElsewhere_AppliesToTheVeryNextRead_AndOnlyItsRefusalIsAudited()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var id = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR"), "application/pdf", "CR"));
        // The reader holds a grant of their own (neither author nor treating physician).
        var reader = await Server.AddProfessionalAsync("10", "SM04", "Bernard", "Louis");
        using (var declared = await Server.Http(reader.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Integration.TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        var http = Server.Http(reader.Certificate);
        var cache = Server.Services.GetRequiredService<DocumentFactsCache>();

        async Task<HttpStatusCode> ReadAsync()
        {
            using var response = await http.GetAsync($"/fhir/DocumentReference/{id}");
            return response.StatusCode;
        }

        async Task ReadTwiceAsync()
        {
            // The first from the database (remembered on PostgreSQL), the second from memory there.
            Assert.Equal(HttpStatusCode.OK, await ReadAsync());
            var hits = cache.Hits;
            Assert.Equal(HttpStatusCode.OK, await ReadAsync());
            Assert.Equal(postgres ? hits + 1 : 0, cache.Hits);
        }

        // One change committed elsewhere, then one read: its answer, the memory consulted on
        // PostgreSQL, and the trail holds that read's refusal and no success.
        async Task ChangedElsewhereAsync(Action<DmpDbContext> change, HttpStatusCode expected)
        {
            var (hits, before) = (cache.Hits, await OutcomesAsync(patient.Id, id));
            await Server.WriteAsync(change);
            Assert.Equal(expected, await ReadAsync());
            Assert.Equal(postgres ? hits + 1 : 0, cache.Hits);
            var after = await OutcomesAsync(patient.Id, id);
            Assert.Equal(before.GetValueOrDefault("success"), after.GetValueOrDefault("success"));
            Assert.Equal(before.Values.Sum() + 1, after.Values.Sum());
        }

        await ReadTwiceAsync();
        await ChangedElsewhereAsync(db => db.Grants.Single(g => g.RecordId == patient.Id && g.HolderId == reader.Id).RevokedAt = DateTimeOffset.UtcNow.AddMinutes(-1), HttpStatusCode.Forbidden);

        await Server.WriteAsync(db => db.Grants.Single(g => g.RecordId == patient.Id && g.HolderId == reader.Id).RevokedAt = null);
        await ReadTwiceAsync();
        await ChangedElsewhereAsync(db => db.Documents.Single(d => d.Id == id).Masked = true, HttpStatusCode.NotFound);

        await Server.WriteAsync(db => db.Documents.Single(d => d.Id == id).Masked = false);
        await ReadTwiceAsync();
        await ChangedElsewhereAsync(db => db.Documents.Single(d => d.Id == id).Erased = true, HttpStatusCode.Gone);

        await Server.WriteAsync(db => db.Documents.Single(d => d.Id == id).Erased = false);
        await ReadTwiceAsync();
        await ChangedElsewhereAsync(db => db.BlockedProfessionals.Add(new BlockedProfessional { RecordId = patient.Id, ProfessionalId = reader.Id, CreatedAt = DateTimeOffset.UtcNow }), HttpStatusCode.Forbidden);

        await Server.WriteAsync(db => db.BlockedProfessionals.Remove(db.BlockedProfessionals.Single(b => b.RecordId == patient.Id)));
        await ReadTwiceAsync();
        await ChangedElsewhereAsync(db => db.Records.Single(r => r.RecordId == patient.Id).Status = RecordStatus.Closed, HttpStatusCode.Forbidden);
    }

    private Task<Dictionary<string, int>> OutcomesAsync(string recordId, string documentId) => Server.WithScopeAsync(sp =>
        sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == recordId && e.ObjectType == "DocumentReference" && e.ObjectId == documentId)
            .GroupBy(e => e.Outcome).ToDictionaryAsync(g => g.Key, g => g.Count()));
}

public sealed class RememberedDocumentTests_Sqlite() : RememberedDocumentTests(new SqliteStorage(), postgres: false);

/// <summary>PostgreSQL only: the facts version kept by triggers, and the audit writer's check of it in a mixed group.</summary>
[Collection(PostgresCollection.Name)]
public sealed class RememberedDocumentTests_Postgres(PostgresCluster pg) : RememberedDocumentTests(new PostgresStorage(pg, "remembered"), postgres: true)
{
    [Fact]
    public async Task TheFactsVersion_IsDrawnAnewWithEveryFactOfTheRecord_NotWithANewDocument()
    {
        var recordId = "facts-version-" + Guid.NewGuid().ToString("N")[..10];
        var other = "facts-version-0" + Guid.NewGuid().ToString("N")[..10];
        var documentId = Guid.NewGuid().ToString();
        DocumentEntry Document(string record, string id) => new() { RecordId = record, Id = id, MasterIdentifier = record + id, Status = "current", TypeCode = "x", ContentType = "x", Sha1 = "x", ContentKey = "x", ResourceJson = "{}" };
        await Server.WriteAsync(db => db.Records.AddRange(new Record { RecordId = recordId }, new Record { RecordId = other }));
        var version = await VersionAsync(recordId);

        async Task ChangesAsync(Action<DmpDbContext> change, bool changes)
        {
            await Server.WriteAsync(change);
            var now = await VersionAsync(recordId);
            Assert.True(changes ? now != version : now == version, $"version {version} → {now}");
            version = now;
        }

        await ChangesAsync(db => db.Documents.Add(Document(recordId, documentId)), changes: false);
        await ChangesAsync(db => db.Documents.Add(Document(recordId, Guid.NewGuid().ToString())), changes: false);
        await ChangesAsync(db => db.Documents.Single(d => d.Id == documentId).Masked = true, changes: true);
        await ChangesAsync(db => db.Grants.Add(new Grant { RecordId = recordId, Id = "g1", Mode = "alleged", HolderId = "810000000001", DeclaredBy = "810000000001" }), changes: true);
        await ChangesAsync(db => db.Grants.Single(g => g.RecordId == recordId).RevokedAt = DateTimeOffset.UnixEpoch, changes: true);
        await ChangesAsync(db => db.Grants.Remove(db.Grants.Single(g => g.RecordId == recordId)), changes: true);
        await ChangesAsync(db => db.BlockedProfessionals.Add(new BlockedProfessional { RecordId = recordId, ProfessionalId = "810000000001" }), changes: true);
        await ChangesAsync(db => db.BlockedProfessionals.Remove(db.BlockedProfessionals.Single(b => b.RecordId == recordId)), changes: true);
        await ChangesAsync(db => db.Records.Single(r => r.RecordId == recordId).OpposeBreakGlass = true, changes: true);
        // The same id filed in a record of a lower id: a read by that id now answers that record's.
        await ChangesAsync(db => db.Documents.Add(Document(other, documentId)), changes: true);
        await ChangesAsync(db => db.Documents.Remove(db.Documents.Single(d => d.RecordId == recordId && d.Id == documentId)), changes: true);
    }

    [Fact]
    public async Task AStaleEntryInAGroup_IsRefusedAlone_TheOthersWrittenOnAnUnbrokenChain()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var version = await VersionAsync(patient.Id);
        AuditItem Item(string detail, long? factsVersion) => new(patient.Id, Actor.Operator, AuditAction.Read, "success", Channels.Admin, "Patient", patient.Id, Detail: detail) { FactsVersion = factsVersion };

        await Server.WithScopeAsync(async sp =>
        {
            var commit = sp.GetRequiredService<AuditGroupCommit>();
            // The current version passes (and the writer now knows the chain's head: the next group goes in one round trip).
            await commit.AppendAsync(Item("current version", version));
            for (var round = 0; round < 3; round++)
            {
                var fresh = commit.AppendAsync(Item($"round {round} unversioned", null));
                var stale = commit.AppendAsync(Item($"round {round} stale", version - 1));
                var current = commit.AppendAsync(Item($"round {round} current", version));
                await fresh;
                await current;
                await Assert.ThrowsAsync<StaleFactsException>(() => stale);
            }

            // A record that is gone is stale too.
            await Assert.ThrowsAsync<StaleFactsException>(() => commit.AppendAsync(Item("no such record", 0) with { RecordId = "no-such-record" }));
            return 0;
        });

        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id).OrderBy(e => e.Seq).ToListAsync());
        Assert.DoesNotContain(entries, e => e.Detail != null && e.Detail.Contains("stale", StringComparison.Ordinal));
        Assert.Equal(7, entries.Count(e => e.Detail != null && (e.Detail.Contains("current", StringComparison.Ordinal) || e.Detail.Contains("unversioned", StringComparison.Ordinal))));
        for (var i = 1; i < entries.Count; i++)
        {
            Assert.Equal(entries[i - 1].Seq + 1, entries[i].Seq);
            Assert.Equal(entries[i - 1].Hash, entries[i].PrevHash);
        }

        Assert.Empty(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(e => e.RecordId == "no-such-record").ToListAsync()));
    }

    private Task<long> VersionAsync(string recordId) => Server.WithScopeAsync(sp =>
        sp.GetRequiredService<DmpDbContext>().Database.SqlQueryRaw<long>("SELECT facts_version AS \"Value\" FROM records WHERE record_id = {0}", recordId).SingleAsync());
}
