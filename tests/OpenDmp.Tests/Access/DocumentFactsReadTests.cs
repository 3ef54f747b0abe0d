using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Documents;
using Record = OpenDmp.Core.Records.Record;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Storage;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Access;

/// <summary>
/// A document and its record's facts, read by id on every read of a document by a hand-written
/// statement: on SQLite outside a transaction through <see cref="SqliteStatements"/> (kept
/// connections, statement compiled once), on PostgreSQL on the context's connection; SQLite within
/// a transaction uses EF's compiled query. Each gives what EF's query gives, within a transaction
/// too, and nothing of it is cached: a change committed elsewhere applies to the very next read (what a
/// read by id keeps in memory on PostgreSQL is tested in <see cref="RememberedDocumentTests"/>).
/// </summary>
public abstract class DocumentFactsReadTests(IStorageUnderTest storage, bool sqlite) : ServerTestBase(storage)
{
    [Fact]
    public async Task OutsideATransaction_TheSameDocumentAndFactsAsEf_AndEveryCommitSeenAtOnce()
    {
        var recordId = "docfacts-" + Guid.NewGuid().ToString("N")[..12];
        var documentId = Guid.NewGuid().ToString();
        var record = EntityValues.Filled(new Record { RecordId = recordId }, 1);
        record.RecordId = recordId;
        record.MergedInto = null;
        var document = EntityValues.Filled(new DocumentEntry { RecordId = recordId, Id = documentId, MasterIdentifier = "x", Status = "current", TypeCode = "x", ContentType = "x", Sha1 = "x", ContentKey = "x", ResourceJson = "{}" }, 2);
        (document.RecordId, document.Id) = (recordId, documentId);
        var grants = Enumerable.Range(0, 3).Select(i =>
        {
            var g = EntityValues.Filled(new Grant { RecordId = recordId, Id = "x", Mode = "x", HolderId = "x", DeclaredBy = "x" }, 10 + i);
            (g.RecordId, g.Mode, g.Excluded, g.RestrictedTo) = (recordId, i == 0 ? "alleged" : "group", "a b", i == 2 ? null : "c d");
            g.RevokedAt = i == 1 ? null : g.RevokedAt;
            return g;
        }).ToList();

        await Server.WriteAsync(db =>
        {
            db.Records.Add(record);
            db.Documents.Add(document);
            db.Grants.AddRange(grants);
            db.BlockedProfessionals.AddRange(new BlockedProfessional { RecordId = recordId, ProfessionalId = "810000000001" }, new BlockedProfessional { RecordId = recordId, ProfessionalId = "810000000002" });
        });

        await Server.WithScopeAsync(async sp =>
        {
            Assert.Equal(sqlite, sp.GetRequiredService<SqliteStatements>().Enabled);
            var guard = sp.GetRequiredService<RecordGuard>();
            var db = sp.GetRequiredService<DmpDbContext>();

            var log = RequestAuditLog.Begin();
            var outside = await guard.DocumentWithFactsAsync(documentId, CancellationToken.None);
            RequestAuditLog.End();
            Assert.True(log.TouchedPatientData);

            (DocumentEntry Document, RecordFacts Facts)? within;
            await using (var transaction = await db.Database.BeginTransactionAsync())
            {
                within = await guard.DocumentWithFactsAsync(documentId, CancellationToken.None);
            }

            var ef = await guard.DocumentWithFactsThroughEfAsync(documentId, CancellationToken.None);
            Assert.NotNull(outside);
            Assert.NotNull(within);
            Assert.NotNull(ef);
            Assert.Equal(Json(document), Json(outside.Value.Document));
            Assert.Equal(Json(ef.Value.Document), Json(outside.Value.Document));
            Assert.Equal(Json(ef.Value.Facts), Json(outside.Value.Facts));
            Assert.Equal(Json(within.Value.Document), Json(outside.Value.Document));
            Assert.Equal(Json(within.Value.Facts), Json(outside.Value.Facts));
            Assert.Equal(3, outside.Value.Facts.Grants.Count);
            Assert.Equal(["810000000001", "810000000002"], outside.Value.Facts.Blocked.Order(StringComparer.Ordinal));
            Assert.Null(await guard.DocumentWithFactsAsync(Guid.NewGuid().ToString(), CancellationToken.None));
            return 0;
        });

        // Changes committed by another context: seen by the very next read.
        await Server.WriteAsync(db =>
        {
            db.Grants.Single(g => g.Id == grants[1].Id).RevokedAt = DateTimeOffset.UnixEpoch;
            db.BlockedProfessionals.Add(new BlockedProfessional { RecordId = recordId, ProfessionalId = "810000000003" });
            db.Documents.Single(d => d.Id == documentId).Masked = false;
        });
        await Server.WithScopeAsync(async sp =>
        {
            var again = await sp.GetRequiredService<RecordGuard>().DocumentWithFactsAsync(documentId, CancellationToken.None);
            Assert.NotNull(again);
            Assert.False(again.Value.Document.Masked);
            Assert.Equal(DateTimeOffset.UnixEpoch, again.Value.Facts.Grants.Single(g => g.Id == grants[1].Id).RevokedAt);
            Assert.Contains("810000000003", again.Value.Facts.Blocked);
            return 0;
        });
    }

    [Fact]
    public async Task TheSameIdInTwoRecords_TheDocumentOfTheFirstRecord_WithItsOwnGrantsOnly()
    {
        var documentId = Guid.NewGuid().ToString();
        var first = "docfacts-a" + Guid.NewGuid().ToString("N")[..10];
        var second = "docfacts-b" + Guid.NewGuid().ToString("N")[..10];
        // The second record written first (its own commit: EF orders one save's inserts by key), so
        // that neither insertion order nor physical order gives the answer.
        foreach (var (recordId, grants) in new[] { (second, 2), (first, 1) })
        {
            await Server.WriteAsync(db =>
            {
                db.Records.Add(new Record { RecordId = recordId });
                db.Documents.Add(new DocumentEntry { RecordId = recordId, Id = documentId, MasterIdentifier = recordId, Status = "current", TypeCode = "x", ContentType = "x", Sha1 = "x", ContentKey = "x", ResourceJson = "{}" });
                db.Grants.AddRange(Enumerable.Range(0, grants).Select(i => new Grant { RecordId = recordId, Id = $"{recordId}-{i}", Mode = "alleged", HolderId = "810000000001", DeclaredBy = "810000000001" }));
                db.BlockedProfessionals.Add(new BlockedProfessional { RecordId = recordId, ProfessionalId = recordId });
            });
        }

        await Server.WithScopeAsync(async sp =>
        {
            var read = await sp.GetRequiredService<RecordGuard>().DocumentWithFactsAsync(documentId, CancellationToken.None);
            Assert.NotNull(read);
            Assert.Equal(first, read.Value.Document.RecordId);
            Assert.Equal(first, read.Value.Document.MasterIdentifier);
            Assert.Equal(first, read.Value.Facts.RecordId);
            Assert.Equal([$"{first}-0"], read.Value.Facts.Grants.Select(g => g.Id));
            Assert.Equal([first], read.Value.Facts.Blocked);
            return 0;
        });
    }

    /// <summary>The facts with their sets in a stable order.</summary>
    private static string Json(RecordFacts facts) => JsonSerializer.Serialize(facts with
    {
        Grants = facts.Grants.OrderBy(g => g.Id, StringComparer.Ordinal).Select(g => g with
        {
            Excluded = g.Excluded is null ? null : new SortedSet<string>(g.Excluded, StringComparer.Ordinal),
            RestrictedTo = g.RestrictedTo is null ? null : new SortedSet<string>(g.RestrictedTo, StringComparer.Ordinal),
        }).ToList(),
        Blocked = new SortedSet<string>(facts.Blocked, StringComparer.Ordinal),
    });

    private static string Json(DocumentEntry document) => JsonSerializer.Serialize(document);
}

public sealed class DocumentFactsReadTests_Sqlite() : DocumentFactsReadTests(new SqliteStorage(), sqlite: true);

[Collection(PostgresCollection.Name)]
public sealed class DocumentFactsReadTests_Postgres(PostgresCluster pg) : DocumentFactsReadTests(new PostgresStorage(pg, "docfacts"), sqlite: false);
