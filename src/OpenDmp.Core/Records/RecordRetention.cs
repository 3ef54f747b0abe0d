using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Records;

/// <summary>How long a closed record is kept before its data key is destroyed (configuration section <c>Records</c>).</summary>
public sealed class RetentionOptions
{
    /// <summary>Years a closed record is kept (the DMP keeps closed records ten years); 0 disables the job.</summary>
    public double RetentionYears { get; set; } = 10;
}

/// <summary>
/// The end of a closed record (ADR 0019): its data key is destroyed (crypto-shredding), so that its
/// content, sealed personal space and account secrets can no longer be read anywhere — backups
/// included, since the tombstone lives in the key store. The audit chain and the metadata listed
/// in the ADR stay. Only a closed record can be shredded; a shredded record cannot be reopened.
/// </summary>
public sealed class RecordRetention(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RecordGuard guard, KeyRing keys, RetentionOptions options)
{
    /// <summary>Destroys a closed record's data key now (operator command, with confirmation).</summary>
    public async Task ShredAsync(string recordId, Actor actor, string channel, string reason, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Delete, "RecordKey", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageRecord, facts), AuditAction.Delete, "RecordKey", recordId, channel, auditPermit: false, ct, "only the operator destroys a record's data");
        if (facts.Status != RecordStatus.Closed)
        {
            throw new DmpException(ErrorKind.Conflict, "the record is open: only a closed record's data is destroyed (close it first)");
        }

        if (keys.IsShredded(recordId))
        {
            throw new DmpException(ErrorKind.Conflict, "this record's data key was already destroyed");
        }

        await using var scope = await gate.EnterAsync(db, recordId, ct);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Delete, AuditOutcomes.Success, channel, "RecordKey", recordId, Detail: "crypto-shredding: " + reason), ct);
        await db.SaveChangesAsync(ct);
        await keys.DestroyAsync(db, recordId, ct);
        await PurgeClearDataAsync(recordId, ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>
    /// After a restore: the records the key store says were destroyed lose again what the database
    /// holds in clear (run before the server serves, and by the retention job). Idempotent.
    /// </summary>
    public async Task<int> ReapplyTombstonesAsync(CancellationToken ct)
    {
        // Four queries per thousand destroyed records, not per record: this runs at every start.
        var purged = 0;
        foreach (var batch in keys.ShreddedRecords().Chunk(1000))
        {
            var left = new HashSet<string>(StringComparer.Ordinal);
            left.UnionWith(await db.RecordKeys.Where(x => batch.Contains(x.RecordId)).Select(x => x.RecordId).ToListAsync(ct));
            left.UnionWith(await db.Observations.Where(x => batch.Contains(x.RecordId)).Select(x => x.RecordId).Distinct().ToListAsync(ct));
            left.UnionWith(await db.ClinicalEntries.Where(x => batch.Contains(x.RecordId)).Select(x => x.RecordId).Distinct().ToListAsync(ct));
            left.UnionWith(await db.Documents.Where(x => batch.Contains(x.RecordId) && x.Title != null).Select(x => x.RecordId).Distinct().ToListAsync(ct));
            foreach (var recordId in left)
            {
                await using var scope = await gate.EnterAsync(db, recordId, ct);
                await db.RecordKeys.Where(k => k.RecordId == recordId).ExecuteDeleteAsync(ct);
                await PurgeClearDataAsync(recordId, ct);
                await scope.CommitAsync(ct);
                purged++;
            }
        }

        return purged;
    }

    /// <summary>
    /// What the database holds in clear about a destroyed record goes too: structured results and
    /// entries (values, diagnoses, medications), document titles and descriptions, network documents,
    /// the resources kept to undo a merge (which then cannot be undone). Kept (ADR 0019):
    /// the document rows' codes and dates, which the audit trail's meaning rests on, and the trail.
    /// </summary>
    private async Task PurgeClearDataAsync(string recordId, CancellationToken ct)
    {
        await db.Observations.Where(x => x.RecordId == recordId).ExecuteDeleteAsync(ct);
        await db.ClinicalEntries.Where(x => x.RecordId == recordId).ExecuteDeleteAsync(ct);
        await db.SubscriptionEvents.Where(x => x.RecordId == recordId).ExecuteDeleteAsync(ct);
        // Network documents (sealed content, titles in clear) and the stored resources a merge kept to undo itself.
        await db.NetworkDocuments.Where(x => x.RecordId == recordId).ExecuteDeleteAsync(ct);
        await db.RecordMerges.Where(x => x.RecordId == recordId || x.SurvivorId == recordId).ExecuteUpdateAsync(u => u.SetProperty(x => x.Moved, "{}"), ct);
        foreach (var doc in await db.Documents.Where(x => x.RecordId == recordId).ToListAsync(ct))
        {
            var resource = OpenDmp.Core.Fhir.FhirJson.Parse<Hl7.Fhir.Model.DocumentReference>(doc.ResourceJson);
            resource.Description = null;
            foreach (var c in resource.Content)
            {
                c.Attachment.Title = null;
            }

            doc.Title = null;
            doc.ResourceJson = OpenDmp.Core.Fhir.FhirJson.Serialize(resource);
        }

        await db.SaveChangesAsync(ct);
    }

    /// <summary>Shreds every record closed for longer than the retention period; returns how many.</summary>
    public async Task<int> EnforceAsync(CancellationToken ct)
    {
        if (options.RetentionYears <= 0)
        {
            return 0;
        }

        await ReapplyTombstonesAsync(ct);
        var before = time.GetUtcNow().AddDays(-365.25 * options.RetentionYears);
        var due = await db.Records.AsNoTracking()
            .Where(r => r.Status == RecordStatus.Closed && r.ClosedAt != null && r.ClosedAt < before)
            .Select(r => r.RecordId)
            .ToListAsync(ct);
        var shredded = 0;
        foreach (var recordId in due.Where(id => !keys.IsShredded(id)))
        {
            await ShredAsync(recordId, Actor.Operator, Channels.Admin, $"end of retention ({options.RetentionYears:0.##} years after closing)", ct);
            db.ChangeTracker.Clear();
            shredded++;
        }

        return shredded;
    }
}
