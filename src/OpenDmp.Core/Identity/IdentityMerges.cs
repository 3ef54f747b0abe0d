using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Identity;

/// <summary>
/// One merge of a duplicate identity into the surviving one (IHE PMIR: the merged Patient becomes
/// inactive, replaced-by the survivor). Kept on the merged record's row space with what moved, so
/// that an unmerge puts back exactly what the merge took.
/// </summary>
public sealed class RecordMerge
{
    /// <summary>The merged (absorbed) record.</summary>
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string SurvivorId { get; set; }
    /// <summary>The pair of the review queue the merge settles, if any.</summary>
    public string? PairId { get; set; }
    /// <summary>The merged record's status before the merge (restored by the unmerge); null when the identity had no record (a registration only).</summary>
    public RecordStatus? PreviousStatus { get; set; }
    public DateTimeOffset MergedAt { get; set; }
    public required string MergedBy { get; set; }
    public DateTimeOffset? UnmergedAt { get; set; }
    public string? UnmergedBy { get; set; }
    /// <summary>What moved, as JSON (<see cref="MergeManifest"/>): ids and the stored resources as they were.</summary>
    public required string Moved { get; set; }
}

/// <summary>A row that moved with its stored resource as it was before the merge.</summary>
public sealed record MovedResource(string Id, string Json, int Version = 0, DateTimeOffset? LastUpdated = null, int VersionAfter = 0);

/// <summary>Everything a merge moved or changed, to undo it exactly.</summary>
public sealed record MergeManifest
{
    public List<MovedResource> Documents { get; init; } = [];
    public List<MovedResource> SubmissionSets { get; init; } = [];
    public List<MovedResource> Observations { get; init; } = [];
    public List<MovedResource> Entries { get; init; } = [];
    public List<string> Grants { get; init; } = [];
    public List<string> Blocked { get; init; } = [];
    public List<string> Accessors { get; init; } = [];
    /// <summary>The treating physician the survivor took from the merged record (it had none).</summary>
    public string? TreatingPhysicianTaken { get; set; }
    /// <summary>The oppositions the survivor took from the merged record (the stricter choice holds).</summary>
    public List<string> OppositionsTaken { get; init; } = [];
    /// <summary>The grant given on the survivor to the merged identity's treating physician (the survivor has its own).</summary>
    public string? TreatingPhysicianGrant { get; set; }
    /// <summary>Documents left with the merged identity: the survivor already holds their unique id.</summary>
    public List<string> DocumentsKept { get; init; } = [];
}

/// <summary>What a merge did.</summary>
public sealed record MergeReport(string MergeId, string MergedId, string SurvivorId, int Documents, int SubmissionSets, int Results, int Entries, int Grants, int Blocked, IReadOnlyList<string> DocumentsKept)
{
    public override string ToString() =>
        $"Patient/{MergedId} merged into Patient/{SurvivorId} (merge {MergeId}): {Documents} documents, {SubmissionSets} submission sets, {Results} results, {Entries} structured entries, {Grants} authorisations, {Blocked} oppositions moved"
        + (DocumentsKept.Count > 0 ? $"; {DocumentsKept.Count} documents the survivor already holds left with the merged identity ({string.Join(", ", DocumentsKept)})" : string.Empty);
}

/// <summary>What an unmerge did.</summary>
public sealed record UnmergeReport(string MergeId, string MergedId, string SurvivorId, int Documents, int Grants, IReadOnlyList<string> ChangedSinceMerge, IReadOnlyList<string> GoneSinceMerge)
{
    public override string ToString() =>
        $"merge {MergeId} undone: Patient/{MergedId} has its {Documents} documents and {Grants} authorisations back from Patient/{SurvivorId}"
        + (ChangedSinceMerge.Count > 0 ? $"; changed since the merge (kept with their changes): {string.Join(", ", ChangedSinceMerge)}" : string.Empty)
        + (GoneSinceMerge.Count > 0 ? $"; deleted since the merge: {string.Join(", ", GoneSinceMerge)}" : string.Empty);
}

/// <summary>A merge as the reviewer lists it.</summary>
public sealed record MergeSummary(string Id, string MergedId, string SurvivorId, DateTimeOffset MergedAt, string MergedBy, DateTimeOffset? UnmergedAt, int Documents);

/// <summary>
/// Merge and unmerge of identities (identity vigilance, IHE PMIR semantics). A merge moves into the
/// surviving record the merged one's documents (content re-sealed under the survivor's key, masks
/// and visibility flags with them), submission sets, results, structured entries, authorisations,
/// oppositions and first-access marks; the merged record becomes <see cref="RecordStatus.Merged"/>,
/// its Patient inactive with a replaced-by link. Audit chains are never rewritten: each keeps its
/// entries, the survivor's history shows both chains, and the merge is on both. Both patients are
/// notified. The unmerge puts back what moved, byte for byte for what did not change since.
/// </summary>
public sealed class IdentityMerges(DmpDbContext db, WriteGate gate, AuditTrail audit, Access.RecordGuard guard, IContentStore store, TimeProvider time)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Points every reference to Patient/{from} in a stored resource at Patient/{to} (relative or absolute; ids are UUIDs, no other text matches).</summary>
    public static string Repoint(string json, string from, string to) => json.Replace($"Patient/{from}\"", $"Patient/{to}\"", StringComparison.Ordinal);

    /// <summary>The survivor a pair suggests: an open record, then the better identity status, then the record holding more documents, then the older record.</summary>
    private async Task<(string Survivor, string Merged)> SuggestAsync(IdentityDuplicate pair, CancellationToken ct)
    {
        var ids = new[] { pair.RecordIdA, pair.RecordIdB };
        var people = await db.Patients.AsNoTracking().Where(p => ids.Contains(p.RecordId)).ToDictionaryAsync(p => p.RecordId, StringComparer.Ordinal, ct);
        var records = await db.Records.AsNoTracking().Where(r => ids.Contains(r.RecordId)).ToDictionaryAsync(r => r.RecordId, StringComparer.Ordinal, ct);
        var documents = await db.Documents.AsNoTracking().Where(d => ids.Contains(d.RecordId)).GroupBy(d => d.RecordId).Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => x.Count, StringComparer.Ordinal, ct);
        var ranked = ids.OrderByDescending(id => records.GetValueOrDefault(id)?.Status == RecordStatus.Open)
            .ThenByDescending(id => people.TryGetValue(id, out var p) ? (int)p.IdentityStatus : 0)
            .ThenByDescending(id => documents.GetValueOrDefault(id))
            .ThenBy(id => records.GetValueOrDefault(id)?.OpenedAt ?? DateTimeOffset.MaxValue)
            .ThenBy(id => id, StringComparer.Ordinal).ToList();
        return (ranked[0], ranked[1]);
    }

    /// <summary>Merges the pair's two identities (the decision "same person" with it), into the suggested survivor unless one is named.</summary>
    public async Task<MergeReport> MergePairAsync(string pairId, string? survivor, Actor actor, string channel, CancellationToken ct)
    {
        await IdentityOfficer.RequireAsync(db, guard, actor, AuditAction.Merge, "IdentityDuplicate", pairId, channel, ct);
        var pair = await db.IdentityDuplicates.AsNoTracking().FirstOrDefaultAsync(d => d.Id == pairId, ct) ?? throw DmpException.NotFound($"no pair {pairId} in the identity-vigilance queue");
        if (pair.Status == DuplicateQueue.DifferentPersons)
        {
            throw new DmpException(ErrorKind.Conflict, $"the pair {pairId} was decided to be two persons: it is not merged");
        }

        if (survivor is not null && survivor != pair.RecordIdA && survivor != pair.RecordIdB)
        {
            throw DmpException.Invalid($"the survivor must be one of the pair's identities (Patient/{pair.RecordIdA} or Patient/{pair.RecordIdB})");
        }

        var (suggested, other) = await SuggestAsync(pair, ct);
        var s = survivor ?? suggested;
        return await MergeCheckedAsync(s == suggested ? other : suggested, s, pair.Id, actor, channel, ct);
    }

    /// <summary>Merges Patient/{mergedId} into Patient/{survivorId}: one unit of work holding both records' gates.</summary>
    public async Task<MergeReport> MergeAsync(string mergedId, string survivorId, Actor actor, string channel, CancellationToken ct)
    {
        await IdentityOfficer.RequireAsync(db, guard, actor, AuditAction.Merge, "Patient", mergedId, channel, ct);
        return await MergeCheckedAsync(mergedId, survivorId, null, actor, channel, ct);
    }

    /// <summary>The merge itself, once the policy permitted it.</summary>
    private async Task<MergeReport> MergeCheckedAsync(string mergedId, string survivorId, string? pairId, Actor actor, string channel, CancellationToken ct)
    {
        if (mergedId == survivorId)
        {
            throw DmpException.Invalid("an identity cannot be merged into itself");
        }

        var now = time.GetUtcNow();
        var written = new List<string>();
        MergeReport report;
        var manifest = new MergeManifest();
        try
        {
            await using var unit = await gate.EnterManyAsync(db, [mergedId, survivorId], ct);
            var (merged, survivor) = await RecordsAsync(mergedId, survivorId, ct);
            if (merged?.Status == RecordStatus.Merged)
            {
                throw new DmpException(ErrorKind.Conflict, $"Patient/{mergedId} was already merged into Patient/{merged.MergedInto}");
            }

            if (survivor?.Status == RecordStatus.Merged)
            {
                throw new DmpException(ErrorKind.Conflict, $"Patient/{survivorId} was itself merged into Patient/{survivor.MergedInto}: merge into that patient");
            }

            RecordStatus? previous = merged?.Status;
            if (merged is not null)
            {
                // The merged identity has a record: its content needs an open record to go to.
                if (survivor is null)
                {
                    throw new DmpException(ErrorKind.Conflict, $"Patient/{survivorId} has no record to receive the content of Patient/{mergedId}'s: keep Patient/{mergedId} as the survivor, or open a record for Patient/{survivorId} first");
                }

                if (survivor.Status != RecordStatus.Open)
                {
                    throw new DmpException(ErrorKind.Conflict, $"the surviving record Patient/{survivorId} is closed: the survivor must be an open record");
                }

                await MoveAsync(merged, survivor, manifest, written, actor, now, ct);
            }
            else
            {
                // A registration without a record (a facility's identity): only the identity is merged.
                merged = new Record { RecordId = mergedId, OpeningChannel = OpeningChannel.Import, OpenedAt = now };
                db.Records.Add(merged);
            }

            merged.Status = RecordStatus.Merged;
            merged.MergedInto = survivorId;
            merged.UpdatedAt = now;
            var merge = new RecordMerge
            {
                RecordId = mergedId, Id = Ids.New(), SurvivorId = survivorId, PairId = pairId, PreviousStatus = previous,
                MergedAt = now, MergedBy = actor.Id, Moved = JsonSerializer.Serialize(manifest, Json),
            };
            db.RecordMerges.Add(merge);
            if (pairId is not null)
            {
                await db.IdentityDuplicates.Where(d => d.Id == pairId && d.Status == DuplicateQueue.Open)
                    .ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, DuplicateQueue.SamePerson).SetProperty(d => d.ReviewedAt, now).SetProperty(d => d.ReviewedBy, actor.Id), ct);
            }

            report = new MergeReport(merge.Id, mergedId, survivorId, manifest.Documents.Count, manifest.SubmissionSets.Count, manifest.Observations.Count, manifest.Entries.Count,
                manifest.Grants.Count, manifest.Blocked.Count, manifest.DocumentsKept);
            var counts = $"{report.Documents} documents, {report.Grants} authorisations, {report.Blocked} oppositions";
            await audit.AppendAsync(db, new AuditItem(mergedId, actor, AuditAction.Merge, AuditOutcomes.Success, channel, "Patient", mergedId, "identity-vigilance",
                $"identity vigilance: merged into Patient/{survivorId} (merge {merge.Id}; {counts} moved there)"), ct);
            await audit.AppendAsync(db, new AuditItem(survivorId, actor, AuditAction.Merge, AuditOutcomes.Success, channel, "Patient", survivorId, "identity-vigilance",
                $"identity vigilance: Patient/{mergedId} merged into this identity (merge {merge.Id}; {counts} moved here)"), ct);
            await NotifyAsync(NotificationEvents.IdentityMerge, merge.Id, now, ct, mergedId, survivorId);
            await db.SaveChangesAsync(ct);
            await unit.Scope.CommitAsync(ct);
        }
        catch
        {
            db.ChangeTracker.Clear();
            foreach (var key in written)
            {
                await store.DiscardAsync(survivorId, key);
            }

            throw;
        }

        foreach (var d in manifest.Documents)
        {
            await store.DiscardAsync(mergedId, d.Id);
        }

        return report;
    }

    /// <summary>Undoes a merge: what moved goes back, the merged identity is active again.</summary>
    public async Task<UnmergeReport> UnmergeAsync(string mergeId, Actor actor, string channel, CancellationToken ct)
    {
        await IdentityOfficer.RequireAsync(db, guard, actor, AuditAction.Unmerge, "RecordMerge", mergeId, channel, ct);
        var found = await db.RecordMerges.AsNoTracking().FirstOrDefaultAsync(m => m.Id == mergeId, ct) ?? throw DmpException.NotFound($"no merge {mergeId}");
        var (mergedId, survivorId) = (found.RecordId, found.SurvivorId);
        var now = time.GetUtcNow();
        var written = new List<string>();
        var moved = new List<string>();
        UnmergeReport report;
        try
        {
            await using var unit = await gate.EnterManyAsync(db, [mergedId, survivorId], ct);
            var merge = await db.RecordMerges.FirstAsync(m => m.RecordId == mergedId && m.Id == mergeId, ct);
            if (merge.UnmergedAt is not null)
            {
                throw new DmpException(ErrorKind.Conflict, $"the merge {mergeId} was already undone on {merge.UnmergedAt:yyyy-MM-dd HH:mm} UTC");
            }

            if (merge.Moved == "{}")
            {
                throw new DmpException(ErrorKind.Conflict, $"the merge {mergeId} concerns a record destroyed since (retention): it cannot be undone");
            }

            var (merged, survivor) = await RecordsAsync(mergedId, survivorId, ct);
            if (merged is not { Status: RecordStatus.Merged })
            {
                throw new InvalidOperationException($"the merge {mergeId} is not undone but Patient/{mergedId} is not merged");
            }

            if (survivor?.Status == RecordStatus.Merged)
            {
                throw new DmpException(ErrorKind.Conflict, $"Patient/{survivorId} was merged into Patient/{survivor.MergedInto} since: undo that merge first");
            }

            var manifest = JsonSerializer.Deserialize<MergeManifest>(merge.Moved, Json) ?? throw new InvalidOperationException("a merge without its manifest");
            List<string> changed = [], gone = [];
            if (merge.PreviousStatus is { } previous)
            {
                if (survivor is null)
                {
                    throw new InvalidOperationException($"the survivor of merge {mergeId} has no record");
                }

                (changed, gone) = await ReturnDocumentsAsync(mergedId, survivorId, manifest, written, moved, now, ct);
                await ReturnRowsAsync(mergedId, survivorId, manifest, ct);
                GiveBackSettings(survivor, manifest, now);
                if (manifest.TreatingPhysicianGrant is { } given)
                {
                    await db.Grants.Where(g => g.RecordId == survivorId && g.Id == given).ExecuteDeleteAsync(ct);
                }

                merged.Status = previous;
                merged.MergedInto = null;
                merged.UpdatedAt = now;
            }
            else
            {
                // The identity had no record: it has none again.
                db.Records.Remove(merged);
            }

            merge.UnmergedAt = now;
            merge.UnmergedBy = actor.Id;
            report = new UnmergeReport(mergeId, mergedId, survivorId, moved.Count, manifest.Grants.Count, changed, gone);
            await audit.AppendAsync(db, new AuditItem(mergedId, actor, AuditAction.Unmerge, AuditOutcomes.Success, channel, "Patient", mergedId, "identity-vigilance",
                $"identity vigilance: merge {mergeId} into Patient/{survivorId} undone ({moved.Count} documents back)"), ct);
            await audit.AppendAsync(db, new AuditItem(survivorId, actor, AuditAction.Unmerge, AuditOutcomes.Success, channel, "Patient", survivorId, "identity-vigilance",
                $"identity vigilance: merge {mergeId} of Patient/{mergedId} undone ({moved.Count} documents back there)"), ct);
            await NotifyAsync(NotificationEvents.IdentityUnmerge, mergeId, now, ct, mergedId, survivorId);
            await db.SaveChangesAsync(ct);
            await unit.Scope.CommitAsync(ct);
        }
        catch
        {
            db.ChangeTracker.Clear();
            foreach (var key in written)
            {
                await store.DiscardAsync(mergedId, key);
            }

            throw;
        }

        foreach (var key in moved)
        {
            await store.DiscardAsync(survivorId, key);
        }

        return report;
    }

    /// <summary>The latest merges (undone ones included), for the reviewer; the listing is audited on the platform's chain.</summary>
    public async Task<IReadOnlyList<MergeSummary>> ListAsync(Actor actor, string channel, int max, CancellationToken ct)
    {
        await IdentityOfficer.RequireAsync(db, guard, actor, AuditAction.Search, "RecordMerge", null, channel, ct);
        var rows = await db.RecordMerges.AsNoTracking().OrderByDescending(m => m.MergedAt).ThenBy(m => m.Id).Take(max).ToListAsync(ct);
        await using (var scope = await gate.EnterAsync(db, null, ct))
        {
            await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Search, AuditOutcomes.Success, channel, "RecordMerge", null, "identity-vigilance", $"identity vigilance: {rows.Count} merges listed"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        return [.. rows.Select(m => new MergeSummary(m.Id, m.RecordId, m.SurvivorId, m.MergedAt, m.MergedBy, m.UnmergedAt,
            JsonSerializer.Deserialize<MergeManifest>(m.Moved, Json)?.Documents.Count ?? 0))];
    }

    /// <summary>Everything the merged record holds moves to the survivor; its choices join the survivor's.</summary>
    private async Task MoveAsync(Record merged, Record survivor, MergeManifest manifest, List<string> written, Actor actor, DateTimeOffset now, CancellationToken ct)
    {
        var (mergedId, survivorId) = (merged.RecordId, survivor.RecordId);
        await MoveDocumentsAsync(mergedId, survivorId, manifest, written, now, ct);
        await MoveRowsAsync(mergedId, survivorId, manifest, ct);
        TakeSettings(merged, survivor, manifest, now);
        if (merged.TreatingPhysicianId is { } doctor && survivor.TreatingPhysicianId != doctor)
        {
            // The doctor the patient chose under the other identity keeps caring for them: a lasting
            // authorisation on the survivor (the patient sees it and may revoke it), removed by an unmerge.
            var grant = new Access.Grant
            {
                RecordId = survivorId, Id = Ids.New(), Mode = Access.GrantModes.Code(Access.GrantMode.Alleged), HolderId = doctor, Start = now, End = null,
                DeclaredBy = actor.Id, CreatedAt = now, Reason = $"treating physician of the identity Patient/{mergedId} merged into this one",
            };
            db.Grants.Add(grant);
            manifest.TreatingPhysicianGrant = grant.Id;
        }
    }

    /// <summary>The records whose audit chains a record's history shows: its own and those of the identities merged into it (transitively).</summary>
    public static async Task<List<string>> ChainsAsync(DmpDbContext db, string recordId, CancellationToken ct)
    {
        var chains = new List<string> { recordId };
        var frontier = new List<string> { recordId };
        while (frontier.Count > 0 && chains.Count < 1000)
        {
            var next = await db.Records.AsNoTracking().Where(r => r.Status == RecordStatus.Merged && r.MergedInto != null && frontier.Contains(r.MergedInto)).Select(r => r.RecordId).ToListAsync(ct);
            next.RemoveAll(chains.Contains);
            chains.AddRange(next);
            frontier = next;
        }

        return chains;
    }

    /// <summary>Both identities must be registered; either may have no record (a facility's registration).</summary>
    private async Task<(Record? Merged, Record? Survivor)> RecordsAsync(string mergedId, string survivorId, CancellationToken ct)
    {
        var ids = new[] { mergedId, survivorId };
        var registered = await db.Patients.AsNoTracking().Where(p => ids.Contains(p.RecordId)).Select(p => p.RecordId).ToListAsync(ct);
        foreach (var id in ids.Where(id => !registered.Contains(id)))
        {
            throw DmpException.NotFound($"Patient/{id} does not exist");
        }

        var records = await db.Records.Where(r => ids.Contains(r.RecordId)).ToDictionaryAsync(r => r.RecordId, StringComparer.Ordinal, ct);
        return (records.GetValueOrDefault(mergedId), records.GetValueOrDefault(survivorId));
    }

    /// <summary>Documents, their links and content, and the submission sets whose unique id the survivor does not hold.</summary>
    private async Task MoveDocumentsAsync(string from, string to, MergeManifest manifest, List<string> written, DateTimeOffset now, CancellationToken ct)
    {
        var taken = (await db.Documents.AsNoTracking().Where(d => d.RecordId == to).Select(d => d.MasterIdentifier).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        var documents = await db.Documents.AsNoTracking().Where(d => d.RecordId == from).OrderBy(d => d.Id).ToListAsync(ct);
        foreach (var doc in documents)
        {
            if (taken.Contains(doc.MasterIdentifier))
            {
                manifest.DocumentsKept.Add(doc.Id);
                continue;
            }

            var before = new MovedResource(doc.Id, doc.ResourceJson, doc.VersionId, doc.LastUpdated);
            if (await store.GetAsync(db, from, doc.ContentKey, ct) is { } bytes)
            {
                await store.PutAsync(db, to, doc.ContentKey, bytes, ct);
                written.Add(doc.ContentKey);
                await store.RemoveAsync(db, from, doc.ContentKey, ct);
            }

            DocumentResources.Repoint(doc, from, to, now);
            manifest.Documents.Add(before with { VersionAfter = doc.VersionId });
            await db.Documents.Where(d => d.RecordId == from && d.Id == doc.Id).ExecuteUpdateAsync(u => u
                .SetProperty(d => d.RecordId, to).SetProperty(d => d.ResourceJson, doc.ResourceJson)
                .SetProperty(d => d.VersionId, doc.VersionId).SetProperty(d => d.LastUpdated, doc.LastUpdated), ct);
        }

        var ids = manifest.Documents.Select(d => d.Id).ToList();
        await db.DocumentLinks.Where(l => l.RecordId == from && ids.Contains(l.DocumentId)).ExecuteUpdateAsync(u => u.SetProperty(l => l.RecordId, to), ct);
        var sets = (await db.SubmissionSets.AsNoTracking().Where(s => s.RecordId == to).Select(s => s.MasterIdentifier).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        foreach (var set in await db.SubmissionSets.AsNoTracking().Where(s => s.RecordId == from).OrderBy(s => s.Id).ToListAsync(ct))
        {
            if (!sets.Contains(set.MasterIdentifier))
            {
                manifest.SubmissionSets.Add(new MovedResource(set.Id, set.ResourceJson));
                var json = Repoint(set.ResourceJson, from, to);
                await db.SubmissionSets.Where(s => s.RecordId == from && s.Id == set.Id).ExecuteUpdateAsync(u => u.SetProperty(s => s.RecordId, to).SetProperty(s => s.ResourceJson, json), ct);
            }
        }
    }

    /// <summary>Results and entries of the moved documents (or of none), authorisations, oppositions, first-access marks.</summary>
    private async Task MoveRowsAsync(string from, string to, MergeManifest manifest, CancellationToken ct)
    {
        var kept = manifest.DocumentsKept;
        foreach (var o in await db.Observations.AsNoTracking().Where(o => o.RecordId == from && (o.DocumentId == null || !kept.Contains(o.DocumentId))).Select(o => new { o.Id, o.ResourceJson }).ToListAsync(ct))
        {
            manifest.Observations.Add(new MovedResource(o.Id, o.ResourceJson));
            var json = Repoint(o.ResourceJson, from, to);
            await db.Observations.Where(x => x.RecordId == from && x.Id == o.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.RecordId, to).SetProperty(x => x.ResourceJson, json), ct);
        }

        foreach (var e in await db.ClinicalEntries.AsNoTracking().Where(e => e.RecordId == from && (e.DocumentId == null || !kept.Contains(e.DocumentId))).Select(e => new { e.Id, e.ResourceJson }).ToListAsync(ct))
        {
            manifest.Entries.Add(new MovedResource(e.Id, e.ResourceJson));
            var json = Repoint(e.ResourceJson, from, to);
            await db.ClinicalEntries.Where(x => x.RecordId == from && x.Id == e.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.RecordId, to).SetProperty(x => x.ResourceJson, json), ct);
        }

        manifest.Grants.AddRange(await db.Grants.AsNoTracking().Where(g => g.RecordId == from).OrderBy(g => g.Id).Select(g => g.Id).ToListAsync(ct));
        await db.Grants.Where(g => g.RecordId == from).ExecuteUpdateAsync(u => u.SetProperty(g => g.RecordId, to), ct);

        var blockedThere = db.BlockedProfessionals.Where(b => b.RecordId == to).Select(b => b.ProfessionalId);
        manifest.Blocked.AddRange(await db.BlockedProfessionals.AsNoTracking().Where(b => b.RecordId == from && !blockedThere.Contains(b.ProfessionalId)).Select(b => b.ProfessionalId).ToListAsync(ct));
        var blocked = manifest.Blocked;
        await db.BlockedProfessionals.Where(b => b.RecordId == from && blocked.Contains(b.ProfessionalId)).ExecuteUpdateAsync(u => u.SetProperty(b => b.RecordId, to), ct);

        var knownThere = db.RecordAccessors.Where(a => a.RecordId == to).Select(a => a.ProfessionalId);
        manifest.Accessors.AddRange(await db.RecordAccessors.AsNoTracking().Where(a => a.RecordId == from && !knownThere.Contains(a.ProfessionalId)).Select(a => a.ProfessionalId).ToListAsync(ct));
        var accessors = manifest.Accessors;
        await db.RecordAccessors.Where(a => a.RecordId == from && accessors.Contains(a.ProfessionalId)).ExecuteUpdateAsync(u => u.SetProperty(a => a.RecordId, to), ct);
    }

    /// <summary>The survivor keeps its choices, takes the merged record's treating physician if it has none and every opposition the merged record holds (the stricter choice).</summary>
    private static void TakeSettings(Record merged, Record survivor, MergeManifest manifest, DateTimeOffset now)
    {
        if (survivor.TreatingPhysicianId is null && merged.TreatingPhysicianId is not null)
        {
            survivor.TreatingPhysicianId = merged.TreatingPhysicianId;
            manifest.TreatingPhysicianTaken = merged.TreatingPhysicianId;
        }

        foreach (var (name, get, set) in Oppositions)
        {
            if (get(merged) && !get(survivor))
            {
                set(survivor, true);
                manifest.OppositionsTaken.Add(name);
            }
        }

        survivor.UpdatedAt = now;
    }

    private static void GiveBackSettings(Record survivor, MergeManifest manifest, DateTimeOffset now)
    {
        if (manifest.TreatingPhysicianTaken is { } taken && survivor.TreatingPhysicianId == taken)
        {
            survivor.TreatingPhysicianId = null;
        }

        foreach (var (name, _, set) in Oppositions.Where(o => manifest.OppositionsTaken.Contains(o.Name)))
        {
            set(survivor, false);
        }

        survivor.UpdatedAt = now;
    }

    private static readonly (string Name, Func<Record, bool> Get, Action<Record, bool> Set)[] Oppositions =
    [
        ("break-glass", r => r.OpposeBreakGlass, (r, v) => r.OpposeBreakGlass = v),
        ("centre-15", r => r.OpposeCentre15, (r, v) => r.OpposeCentre15 = v),
        ("emergency-unmasking", r => r.OpposeEmergencyUnmasking, (r, v) => r.OpposeEmergencyUnmasking = v),
        ("dispensing-to-prescriber", r => r.OpposeDispensingToPrescriber, (r, v) => r.OpposeDispensingToPrescriber = v),
        ("research", r => r.OpposeResearch, (r, v) => r.OpposeResearch = v),
    ];

    private async Task<(List<string> Changed, List<string> Gone)> ReturnDocumentsAsync(string to, string from, MergeManifest manifest, List<string> written, List<string> moved, DateTimeOffset now, CancellationToken ct)
    {
        List<string> changed = [], gone = [];
        var ids = manifest.Documents.Select(d => d.Id).ToList();
        var current = await db.Documents.AsNoTracking().Where(d => d.RecordId == from && ids.Contains(d.Id)).ToDictionaryAsync(d => d.Id, StringComparer.Ordinal, ct);
        foreach (var before in manifest.Documents)
        {
            if (!current.TryGetValue(before.Id, out var doc))
            {
                gone.Add(before.Id);
                continue;
            }

            if (await store.GetAsync(db, from, doc.ContentKey, ct) is { } bytes)
            {
                await store.PutAsync(db, to, doc.ContentKey, bytes, ct);
                written.Add(doc.ContentKey);
                await store.RemoveAsync(db, from, doc.ContentKey, ct);
            }

            if (doc.VersionId == before.VersionAfter)
            {
                (doc.ResourceJson, doc.VersionId, doc.LastUpdated) = (before.Json, before.Version, before.LastUpdated ?? doc.LastUpdated);
            }
            else
            {
                DocumentResources.Repoint(doc, from, to, now);
                changed.Add(doc.Id);
            }

            moved.Add(doc.ContentKey);
            await db.Documents.Where(d => d.RecordId == from && d.Id == doc.Id).ExecuteUpdateAsync(u => u
                .SetProperty(d => d.RecordId, to).SetProperty(d => d.ResourceJson, doc.ResourceJson)
                .SetProperty(d => d.VersionId, doc.VersionId).SetProperty(d => d.LastUpdated, doc.LastUpdated), ct);
        }

        var back = current.Keys.ToList();
        await db.DocumentLinks.Where(l => l.RecordId == from && back.Contains(l.DocumentId)).ExecuteUpdateAsync(u => u.SetProperty(l => l.RecordId, to), ct);
        foreach (var set in manifest.SubmissionSets)
        {
            await db.SubmissionSets.Where(s => s.RecordId == from && s.Id == set.Id).ExecuteUpdateAsync(u => u.SetProperty(s => s.RecordId, to).SetProperty(s => s.ResourceJson, set.Json), ct);
        }

        return (changed, gone);
    }

    private async Task ReturnRowsAsync(string to, string from, MergeManifest manifest, CancellationToken ct)
    {
        foreach (var o in manifest.Observations)
        {
            await db.Observations.Where(x => x.RecordId == from && x.Id == o.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.RecordId, to).SetProperty(x => x.ResourceJson, o.Json), ct);
        }

        foreach (var e in manifest.Entries)
        {
            await db.ClinicalEntries.Where(x => x.RecordId == from && x.Id == e.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.RecordId, to).SetProperty(x => x.ResourceJson, e.Json), ct);
        }

        var grants = manifest.Grants;
        await db.Grants.Where(g => g.RecordId == from && grants.Contains(g.Id)).ExecuteUpdateAsync(u => u.SetProperty(g => g.RecordId, to), ct);
        var blocked = manifest.Blocked;
        var blockedThere = db.BlockedProfessionals.Where(b => b.RecordId == to).Select(b => b.ProfessionalId);
        await db.BlockedProfessionals.Where(b => b.RecordId == from && blocked.Contains(b.ProfessionalId) && !blockedThere.Contains(b.ProfessionalId)).ExecuteUpdateAsync(u => u.SetProperty(b => b.RecordId, to), ct);
        var accessors = manifest.Accessors;
        var knownThere = db.RecordAccessors.Where(a => a.RecordId == to).Select(a => a.ProfessionalId);
        await db.RecordAccessors.Where(a => a.RecordId == from && accessors.Contains(a.ProfessionalId) && !knownThere.Contains(a.ProfessionalId)).ExecuteUpdateAsync(u => u.SetProperty(a => a.RecordId, to), ct);
    }

    /// <summary>Tells both patients (no health data: the text says a merge happened, the history says what).</summary>
    private async Task NotifyAsync(string kind, string mergeId, DateTimeOffset now, CancellationToken ct, params string[] records)
    {
        foreach (var record in records)
        {
            await NotificationOutbox.AddOnceAsync(db, new PatientNotification
            {
                RecordId = record, Id = Ids.New(), Kind = kind, DedupKey = $"{kind}:{mergeId}", CreatedAt = now, Status = NotificationStatus.Pending,
                Text = kind == NotificationEvents.IdentityMerge
                    ? "Une identité en double a été rapprochée de la vôtre : les documents et autorisations enregistrés sous cette identité sont désormais dans votre dossier."
                    : "Une fusion d'identités concernant votre dossier a été annulée : chaque identité retrouve ses documents et autorisations.",
            }, ct);
        }
    }
}
