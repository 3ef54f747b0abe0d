using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Core.Documents;

/// <summary>
/// Reading documents: ITI-67 (find documents), ITI-66 (find submission sets), ITI-68 (retrieve),
/// and the lifecycle operations on one document (status patch, erase, delete). Every method asks
/// the access policy and appends to the record's audit chain, permit or deny.
/// </summary>
public sealed class DocumentQueries(DmpDbContext db, WriteGate gate, AuditTrail audit, IContentStore store, TimeProvider time, DocumentOptions options, RecordGuard guard)
{
    public static readonly IReadOnlySet<string> DocumentSearchParams = new HashSet<string>(StringComparer.Ordinal)
    {
        "patient", "subject", "patient.identifier", "status", "type", "category", "date", "period", "period-start", "period-end",
        "author", "author.identifier", "facility", "setting", "related", "relatesto", "security-label", "format", "identifier", "_id",
        "_count", "_offset", "_total", "_sort", "_content",
    };

    public static readonly IReadOnlySet<string> ListSearchParams = new HashSet<string>(StringComparer.Ordinal)
    {
        "patient", "subject", "patient.identifier", "code", "status", "date", "identifier", "sourceId", "source", "_id", "_count", "_offset", "_total",
    };

    /// <summary>A "_content" search reads at most this many documents (after the other filters).</summary>
    public const int MaxContentScan = 2_000;

    /// <summary>ITI-67: documents of one patient's record matching the parameters, filtered by the access policy.</summary>
    public async Task<SearchPage> SearchDocumentsAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(DocumentSearchParams);
        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        var facts = await RecordOfPatientParamAsync(sp, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Search, "DocumentReference", PatientParam(sp), channel, ct);
            return new SearchPage([], offset, count, false, sp.First("_total") is "accurate" or "estimate" ? 0 : null);
        }

        var recordId = facts.RecordId;

        var decision = await DecideAndAuditDenialAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Search, "DocumentReference", null, channel, ct);
        var visible = db.Documents.AsNoTracking().Where(x => x.RecordId == recordId && !x.Erased);
        var q = visible.Where(decision.Scope.ToExpression());
        q = ApplyDocumentFilters(q, sp, recordId);
        if (sp.First("_content") is { } text)
        {
            q = await ContentFilterAsync(q, recordId, text, ct);
        }

        q = sp.First("_sort") switch
        {
            null or "-date" => q.OrderByDescending(x => x.Date).ThenByDescending(x => x.Id),
            "date" => q.OrderBy(x => x.Date).ThenBy(x => x.Id),
            var s => throw new DmpException(ErrorKind.BadRequest, $"_sort '{s}' is not supported (date, -date)"),
        };

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.Skip(offset).Take(count + 1)
            .Select(x => new { x.Id, x.ResourceJson, x.AuthorProfessionalId, x.SubmitterId, x.ClassCode, x.TypeCode, x.Masked, x.HiddenFromPatient, x.Draft, x.HiddenFromRepresentatives, x.PrescriberId })
            .ToListAsync(ct);
        var hits = new List<SearchHit>(Math.Min(rows.Count, count));
        foreach (var r in rows.Take(count))
        {
            // Defence in depth: each hit is checked again, one by one, by the policy itself.
            if (decision.Admits(new DocumentFacts(r.Id, r.AuthorProfessionalId, r.SubmitterId, r.ClassCode, r.TypeCode, r.Masked, r.HiddenFromPatient, r.Draft, r.HiddenFromRepresentatives, r.PrescriberId)))
            {
                hits.Add(new SearchHit("DocumentReference", r.Id, r.ResourceJson));
            }
        }

        hits = await WithoutHiddenLinksAsync(hits, recordId, decision, ct);
        string? notice = null;
        if (actor.Kind == ActorKind.Professional && guard.Settings.ProfessionalsSeeMaskedExistence && decision.Scope.Masked != MaskedRule.Include
            && await visible.Where(x => x.Masked).Where(DocumentScope.Negate(decision.Scope.ToExpression())).AnyAsync(ct))
        {
            notice = "Le patient a masqué certains documents de son dossier. / The patient has masked some documents of this record.";
        }

        // No hit count in the record's trail: a professional's count would tell the patient about documents kept from them.
        await AuditAsync(new AuditItem(recordId, actor, AuditAction.Search, "success", channel, "DocumentReference", null, decision.Mode), ct);
        return new SearchPage(hits, offset, count, rows.Count > count, total) { Notice = notice };
    }

    /// <summary>
    /// "_content": the documents (already within the actor's scope and the other filters) whose text
    /// holds every word, read from the decrypted content at search time (no plaintext index exists).
    /// </summary>
    private async Task<IQueryable<DocumentEntry>> ContentFilterAsync(IQueryable<DocumentEntry> q, string recordId, string text, CancellationToken ct)
    {
        var words = DocumentText.Words(text);
        if (words.Count == 0 || text.Length > 200)
        {
            throw DmpException.Invalid("_content needs one or more words (200 characters at most)", "_content");
        }

        var candidates = await q.Select(x => new { x.Id, x.ContentKey, x.ContentType }).Take(MaxContentScan + 1).ToListAsync(ct);
        if (candidates.Count > MaxContentScan)
        {
            throw DmpException.Invalid($"_content would read more than {MaxContentScan} documents: narrow the search with other filters (type, date, category)", "_content");
        }

        // One budget for the whole request (bytes read and decompressed, time): a record full of
        // decompression bombs costs at most that, then the search is refused with a clear message.
        var budget = new TextBudget(options.TextSearchBudgetBytes, TimeSpan.FromSeconds(options.TextSearchBudgetSeconds));
        var matching = new List<string>();
        try
        {
            foreach (var c in candidates)
            {
                if (await store.GetAsync(db, recordId, c.ContentKey, ct) is { } bytes && DocumentText.Matches(DocumentText.Extract(c.ContentType, bytes, budget), words))
                {
                    matching.Add(c.Id);
                }
            }
        }
        catch (InputLimitException ex)
        {
            throw DmpException.Invalid($"_content: {ex.Message}; narrow the search with other filters (type, date, category)", "_content");
        }

        return q.Where(x => matching.Contains(x.Id));
    }

    private IQueryable<DocumentEntry> ApplyDocumentFilters(IQueryable<DocumentEntry> q, SearchParams sp, string recordId)
    {
        if (sp.First("_id") is { } id)
        {
            // One id, or several separated by commas (any of them).
            var idList = id.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            q = idList.Length == 1 ? q.Where(x => x.Id == idList[0]) : q.Where(x => idList.Contains(x.Id));
        }

        var statuses = sp.All("status").SelectMany(s => s.Split(',')).ToList();
        if (statuses.Count > 0)
        {
            q = q.Where(x => statuses.Contains(x.Status));
        }

        foreach (var v in sp.All("type"))
        {
            var codes = v.Split(',').Select(SearchParams.Token).ToList();
            var plain = codes.Select(c => c.Code).ToList();
            q = q.Where(x => plain.Contains(x.TypeCode));
        }

        foreach (var v in sp.All("category"))
        {
            var plain = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.ClassCode != null && plain.Contains(x.ClassCode));
        }

        foreach (var v in sp.All("format"))
        {
            var plain = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.FormatCode != null && plain.Contains(x.FormatCode));
        }

        foreach (var v in sp.All("facility"))
        {
            var plain = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.FacilityTypeCode != null && plain.Contains(x.FacilityTypeCode));
        }

        foreach (var v in sp.All("setting"))
        {
            var plain = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.PracticeSettingCode != null && plain.Contains(x.PracticeSettingCode));
        }

        foreach (var v in sp.All("security-label"))
        {
            var plain = v.Split(',').Select(t => SearchParams.Token(t).Code).ToList();
            q = q.Where(x => x.ConfidentialityCode != null && plain.Contains(x.ConfidentialityCode));
        }

        foreach (var v in sp.All("identifier"))
        {
            var value = SearchParams.Token(v).Code;
            q = q.Where(x => x.MasterIdentifier == value);
        }

        foreach (var v in sp.All("date"))
        {
            q = SearchFilters.Date(q, "date", v, x => x.Date);
        }

        foreach (var v in sp.All("period-start").Concat(sp.All("period")))
        {
            q = SearchFilters.Date(q, "period", v, x => x.PeriodStart);
        }

        foreach (var v in sp.All("period-end"))
        {
            q = SearchFilters.Date(q, "period-end", v, x => x.PeriodEnd);
        }

        foreach (var v in sp.All("author"))
        {
            var pid = References.LogicalId(v, "Practitioner") ?? v;
            q = q.Where(x => x.AuthorProfessionalId == pid);
        }

        foreach (var v in sp.All("author.identifier"))
        {
            var (system, value) = SearchParams.Token(v);
            var rpps = Rpps.FromIdentifier(system ?? Rpps.IdNatPsSystem, value);
            var candidates = rpps is null ? new List<string> { value } : [value, rpps, Rpps.ToIdNatPs(rpps)];
            q = q.Where(x => x.AuthorIdentifier != null && candidates.Contains(x.AuthorIdentifier));
        }

        foreach (var v in sp.All("related").Concat(sp.All("relatesto")))
        {
            var target = References.LogicalId(v, "DocumentReference") ?? v;
            var linked = db.DocumentLinks.Where(l => l.RecordId == recordId && l.Target == target).Select(l => l.DocumentId);
            q = q.Where(x => linked.Contains(x.Id));
        }

        return q;
    }

    /// <summary>Read one DocumentReference (404 if unknown, 410 if erased).</summary>
    public Task<string> ReadDocumentAsync(string id, Actor actor, string channel, CancellationToken ct) => FromMemoryOrDatabaseAsync(async fromMemory =>
    {
        var (doc, access, version) = await RequireReadableAsync(id, actor, AuditAction.Read, channel, fromMemory, ct);
        var hits = await WithoutHiddenLinksAsync([new SearchHit("DocumentReference", doc.Id, doc.ResourceJson)], doc.RecordId, access, ct);
        await AuditPermitAsync(new AuditItem(doc.RecordId, actor, AuditAction.Read, "success", channel, "DocumentReference", id, access.Mode) { FactsVersion = version }, id, access, ct);
        return hits[0].Json;
    });

    /// <summary>
    /// A read by id decided first on the document and facts kept in memory (ADR 0036); when the
    /// audit writer finds that the record's facts changed since they were read, nothing was written
    /// nor answered, and the read is decided again from the database.
    /// </summary>
    private static async Task<T> FromMemoryOrDatabaseAsync<T>(Func<bool, Task<T>> read)
    {
        try
        {
            return await read(true);
        }
        catch (StaleFactsException)
        {
            return await read(false);
        }
    }

    /// <summary>
    /// A document to read (ITI-67 read, ITI-68): from memory when kept there and the policy permits
    /// on those facts (the permit's audit entry then carries their version); otherwise — every
    /// refusal, every unknown id — from the database, exactly as any other action.
    /// </summary>
    private async Task<(DocumentEntry Doc, GuardedAccess Access, long? FactsVersion)> RequireReadableAsync(string id, Actor actor, AuditAction verb, string channel, bool fromMemory, CancellationToken ct)
    {
        if (fromMemory && guard.RememberedDocument(id) is { Document.Erased: false } kept
            && await guard.PermitOrNullAsync(new AccessRequest(actor, AccessAction.ReadDocument, kept.Facts, DocumentResources.Facts(kept.Document)), ct) is { } permit)
        {
            return (kept.Document, permit, kept.Version);
        }

        var (doc, access) = await RequireDocumentAsync(id, actor, AccessAction.ReadDocument, verb, channel, ct);
        return (doc, access, null);
    }

    /// <summary>Audits a read's outcome; when its permit was decided on stale facts, withdraws it (and its obligation) before the read is decided again.</summary>
    private async Task AuditPermitAsync(AuditItem item, string documentId, GuardedAccess access, CancellationToken ct)
    {
        try
        {
            await AuditAsync(item, ct);
        }
        catch (StaleFactsException)
        {
            guard.Withdraw(documentId, access);
            throw;
        }
    }

    /// <summary>
    /// A document's relatesTo may name a document the reader may not see (an addendum to a masked
    /// report, a new version kept from the patient): such references are removed from what this
    /// reader gets, so that no answer reveals the hidden document's id.
    /// </summary>
    private async Task<List<SearchHit>> WithoutHiddenLinksAsync(List<SearchHit> hits, string recordId, GuardedAccess access, CancellationToken ct)
    {
        if (hits.Count == 0)
        {
            return hits;
        }

        // The links that may name a hidden document are those of relatesTo (context.related is not
        // checked here): a document whose stored resource has none needs no query — most reads.
        var ids = hits.Where(h => h.Json.Contains("\"relatesTo\"", StringComparison.Ordinal)).Select(h => h.Id).ToList();
        if (ids.Count == 0)
        {
            return hits;
        }

        var links = await LinksOf.For(db)(db, recordId, ids).ToListAsync(ct);
        if (links.Count == 0)
        {
            return hits;
        }

        var targetIds = links.Select(l => l.Target).Distinct(StringComparer.Ordinal).ToList();
        var targets = await db.Documents.AsNoTracking().Where(d => d.RecordId == recordId && targetIds.Contains(d.Id)).ToListAsync(ct);
        var hidden = targets.Where(t => !access.Admits(DocumentResources.Facts(t))).Select(t => t.Id).ToHashSet(StringComparer.Ordinal);
        if (hidden.Count == 0)
        {
            return hits;
        }

        return hits.Select(h => links.Any(l => l.DocumentId == h.Id && hidden.Contains(l.Target)) ? h with { Json = DocumentResources.WithoutRelatesTo(h.Json, hidden) } : h).ToList();
    }

    /// <summary>ITI-68: the exact bytes of a document, with its content type.</summary>
    public Task<(DocumentEntry Document, byte[] Content)> RetrieveAsync(string id, Actor actor, string channel, CancellationToken ct) => FromMemoryOrDatabaseAsync(async fromMemory =>
    {
        var (doc, access, version) = await RequireReadableAsync(id, actor, AuditAction.Retrieve, channel, fromMemory, ct);
        var bytes = await store.GetAsync(db, doc.RecordId, doc.ContentKey, ct);
        if (bytes is null)
        {
            await AuditPermitAsync(new AuditItem(doc.RecordId, actor, AuditAction.Retrieve, AuditOutcomes.Gone, channel, "Binary", id, access.Mode, Detail: "content destroyed") { FactsVersion = version }, id, access, ct);
            throw new DmpException(ErrorKind.Gone, $"the content of DocumentReference/{id} is no longer available (its record's key was destroyed)");
        }

        await AuditPermitAsync(new AuditItem(doc.RecordId, actor, AuditAction.Retrieve, "success", channel, "Binary", id, access.Mode) { FactsVersion = version }, id, access, ct);
        return (doc, bytes);
    });

    /// <summary>FHIRPath Patch on a DocumentReference: only "replace DocumentReference.status" with superseded (archive) or current (unarchive).</summary>
    public async Task<string> PatchStatusAsync(string id, Parameters patch, Actor actor, string channel, CancellationToken ct)
    {
        var ops = patch.Parameter.Where(p => p.Name == "operation").ToList();
        var value = ops.Count == 1 ? ops[0].Part.FirstOrDefault(p => p.Name == "value")?.Value?.ToString() : null;
        if (ops.Count != 1
            || (ops[0].Part.FirstOrDefault(p => p.Name == "type")?.Value as Code)?.Value != "replace"
            || (ops[0].Part.FirstOrDefault(p => p.Name == "path")?.Value as FhirString)?.Value != "DocumentReference.status"
            || value is not ("superseded" or "current"))
        {
            throw DmpException.Invalid("only the FHIRPath Patch 'replace DocumentReference.status' with superseded (archive) or current (unarchive) is accepted");
        }

        return (await SetStatusAsync(id, value, actor, channel, ct)).ResourceJson;
    }

    /// <summary>
    /// Archives (current → superseded; XDS Approved → Deprecated) or unarchives (superseded → current)
    /// a document: its author or the treating physician, under the policy. A document superseded by a
    /// replacement stays superseded. Shared by MHD (PATCH) and XDS (ITI-57 UpdateAvailabilityStatus).
    /// </summary>
    public async Task<DocumentEntry> SetStatusAsync(string id, string status, Actor actor, string channel, CancellationToken ct)
    {
        var (doc, access) = await RequireDocumentAsync(id, actor, AccessAction.ReplaceDocument, AuditAction.Replace, channel, ct);
        await using var scope = await gate.EnterAsync(db, doc.RecordId, ct);
        var tracked = await db.Documents.FirstAsync(x => x.RecordId == doc.RecordId && x.Id == id, ct);
        if (tracked.Status == status)
        {
            throw new DmpException(ErrorKind.Conflict, $"the document is already {tracked.Status}");
        }

        if (status == "current" && await db.DocumentLinks.AsNoTracking().Where(x => x.RecordId == doc.RecordId && x.Target == id && x.Kind == "replaces").Select(x => x.DocumentId).FirstOrDefaultAsync(ct) is { } by)
        {
            throw new DmpException(ErrorKind.Conflict, $"the document was replaced by DocumentReference/{by}: a replaced document stays superseded");
        }

        DocumentResources.SetStatus(tracked, status, time.GetUtcNow());
        await audit.AppendAsync(db, new AuditItem(doc.RecordId, actor, AuditAction.Replace, "success", channel, "DocumentReference", id, access.Mode, Detail: "status " + status), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return tracked;
    }

    /// <summary>
    /// Erase (effacement): the document disappears from every search and read (410 Gone) but is kept,
    /// content included, for medico-legal purposes.
    /// </summary>
    public async Task EraseAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var (doc, access) = await RequireDocumentAsync(id, actor, AccessAction.EraseDocument, AuditAction.Erase, channel, ct);
        await using var scope = await gate.EnterAsync(db, doc.RecordId, ct);
        var tracked = await db.Documents.FirstAsync(x => x.RecordId == doc.RecordId && x.Id == id, ct);
        tracked.Erased = true;
        tracked.ErasedAt = time.GetUtcNow();
        tracked.LastUpdated = tracked.ErasedAt.Value;
        await audit.AppendAsync(db, new AuditItem(doc.RecordId, actor, AuditAction.Erase, "success", channel, "DocumentReference", id, access.Mode), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>
    /// Delete (suppression, the patient's right of rectification): metadata, links and content are
    /// removed as if the document had never existed. Only the audit trail keeps the fact of the deletion.
    /// </summary>
    public async Task DeleteAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var (doc, access) = await RequireDocumentAsync(id, actor, AccessAction.DeleteDocument, AuditAction.Delete, channel, ct, allowErased: true);
        await using (var scope = await gate.EnterAsync(db, doc.RecordId, ct))
        {
            // Documents that point to it (a replacement, an addendum) lose that reference: nothing
            // may reveal that the deleted document existed.
            var pointing = await db.DocumentLinks.AsNoTracking().Where(x => x.RecordId == doc.RecordId && x.Target == id).Select(x => x.DocumentId).Distinct().ToListAsync(ct);
            foreach (var other in await db.Documents.Where(x => x.RecordId == doc.RecordId && pointing.Contains(x.Id)).ToListAsync(ct))
            {
                DocumentResources.RemoveReferencesTo(other, id, time.GetUtcNow());
            }

            await db.DocumentLinks.Where(x => x.RecordId == doc.RecordId && (x.DocumentId == id || x.Target == id)).ExecuteDeleteAsync(ct);
            await RemoveFromSubmissionSetAsync(doc, ct);
            await db.Documents.Where(x => x.RecordId == doc.RecordId && x.Id == id).ExecuteDeleteAsync(ct);
            await db.Observations.Where(x => x.RecordId == doc.RecordId && x.DocumentId == id).ExecuteDeleteAsync(ct);
            await db.ClinicalEntries.Where(x => x.RecordId == doc.RecordId && x.DocumentId == id).ExecuteDeleteAsync(ct);
            await store.RemoveAsync(db, doc.RecordId, doc.ContentKey, ct);
            await audit.AppendAsync(db, new AuditItem(doc.RecordId, actor, AuditAction.Delete, "success", channel, "DocumentReference", id, access.Mode), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        await store.DiscardAsync(doc.RecordId, doc.ContentKey);
    }

    /// <summary>A deleted document leaves its submission set too; a set left empty goes with it.</summary>
    private async Task RemoveFromSubmissionSetAsync(DocumentEntry doc, CancellationToken ct)
    {
        if (doc.SubmissionSetId is null || await db.SubmissionSets.FirstOrDefaultAsync(x => x.RecordId == doc.RecordId && x.Id == doc.SubmissionSetId, ct) is not { } ss)
        {
            return;
        }

        var list = FhirJson.Parse<List>(ss.ResourceJson);
        list.Entry.RemoveAll(e => References.LogicalId(e.Item?.Reference, "DocumentReference") == doc.Id);
        if (list.Entry.Count == 0)
        {
            db.SubmissionSets.Remove(ss);
            return;
        }

        list.Meta ??= new Meta();
        list.Meta.VersionId = ((int.TryParse(list.Meta.VersionId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 1) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        list.Meta.LastUpdated = time.GetUtcNow();
        ss.ResourceJson = FhirJson.Serialize(list);
    }

    /// <summary>ITI-66: submission sets of one patient.</summary>
    public async Task<SearchPage> SearchListsAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(ListSearchParams);
        var (count, offset) = sp.Paging(options.DefaultPageSize, options.MaxPageSize);
        var facts = await RecordOfPatientParamAsync(sp, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Search, "List", PatientParam(sp), channel, ct);
            return new SearchPage([], offset, count, false, sp.Has("_total") ? 0 : null);
        }

        var decision = await DecideAndAuditDenialAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Search, "List", null, channel, ct);
        var q = db.SubmissionSets.AsNoTracking().Where(x => x.RecordId == facts.RecordId);
        if (!SeesAllSubmissionSets(decision.Scope))
        {
            // A submission set lists its documents: only the submitter's own are shown to whoever may not see every document.
            q = q.Where(x => x.SubmitterId == actor.Id);
        }

        if (sp.First("_id") is { } id)
        {
            q = q.Where(x => x.Id == id);
        }

        foreach (var v in sp.All("identifier"))
        {
            var value = SearchParams.Token(v).Code;
            q = q.Where(x => x.MasterIdentifier == value);
        }

        foreach (var v in sp.All("sourceId"))
        {
            var value = SearchParams.Token(v).Code;
            q = q.Where(x => x.SourceId == value);
        }

        // Only submission sets are kept (no folders): another code, or another status, finds nothing.
        if (sp.All("status").Any(s => s != "current") || sp.All("code").Any(c => SearchParams.Token(c).Code != "submissionset"))
        {
            q = q.Where(x => false);
        }

        foreach (var v in sp.All("date"))
        {
            q = SearchFilters.Date(q, "date", v, x => x.Date);
        }

        int? total = sp.Has("_total") && sp.First("_total") != "none" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderByDescending(x => x.Date).ThenByDescending(x => x.Id).Skip(offset).Take(count + 1).Select(x => new { x.Id, x.ResourceJson }).ToListAsync(ct);
        await AuditAsync(new AuditItem(facts.RecordId, actor, AuditAction.Search, "success", channel, "List", null, decision.Mode), ct);
        return new SearchPage(rows.Take(count).Select(r => new SearchHit("List", r.Id, r.ResourceJson)).ToList(), offset, count, rows.Count > count, total);
    }

    public async Task<string> ReadListAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var ss = await db.SubmissionSets.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct);
        var facts = ss is null ? null : await FactsAsync(ss.RecordId, ct);
        if (ss is null || facts is null)
        {
            await AuditAsync(new AuditItem(null, actor, AuditAction.Read, AuditOutcomes.NotFound, channel, "List", id), ct);
            throw DmpException.NotFound($"List/{id} does not exist");
        }

        var decision = await DecideAndAuditDenialAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Read, "List", id, channel, ct);
        if (!SeesAllSubmissionSets(decision.Scope) && ss.SubmitterId != actor.Id)
        {
            await AuditAsync(new AuditItem(ss.RecordId, actor, AuditAction.Read, "denied", channel, "List", id, Detail: "not the submitter"), ct);
            throw DmpException.NotFound($"List/{id} does not exist");
        }

        await AuditAsync(new AuditItem(ss.RecordId, actor, AuditAction.Read, "success", channel, "List", id, decision.Mode), ct);
        return ss.ResourceJson;
    }

    private static bool SeesAllSubmissionSets(DocumentScope scope) =>
        scope.Any && scope.Classes is null && scope.Types is null && scope.Masked == MaskedRule.Include && !scope.PatientView;

    private async Task<(DocumentEntry Doc, GuardedAccess Access)> RequireDocumentAsync(string id, Actor actor, AccessAction action, AuditAction verb, string channel, CancellationToken ct, bool allowErased = false)
    {
        // One query whether the document exists or not: an absent document costs what a hidden one costs.
        if (await guard.DocumentWithFactsAsync(id, ct) is not { } found)
        {
            // Audited like a refusal, so that an absent document and a hidden one cost the same.
            await AuditAsync(new AuditItem(null, actor, verb, "not-found", channel, "DocumentReference", id), ct);
            throw DmpException.NotFound($"DocumentReference/{id} does not exist");
        }

        var (doc, facts) = found;
        var access = await DecideAndAuditDenialAsync(new AccessRequest(actor, action, facts, DocumentResources.Facts(doc)), verb, "DocumentReference", id, channel, ct);
        if (doc.Erased && !allowErased)
        {
            await AuditAsync(new AuditItem(doc.RecordId, actor, verb, AuditOutcomes.Gone, channel, "DocumentReference", id, Detail: "erased"), ct);
            throw new DmpException(ErrorKind.Gone, $"DocumentReference/{id} was erased");
        }

        return (doc, access);
    }

    /// <summary>Compiled: the links of the documents answered that may name a document hidden from the reader.</summary>
    private static readonly PerModel<Func<DmpDbContext, string, List<string>, IAsyncEnumerable<DocumentLinkRef>>> LinksOf = new(() => EF.CompileAsyncQuery(
        (DmpDbContext db, string recordId, List<string> ids) => db.DocumentLinks.AsNoTracking()
            .Where(l => l.RecordId == recordId && ids.Contains(l.DocumentId) && l.Kind != "related")
            .Select(l => new DocumentLinkRef(l.DocumentId, l.Target))));

    private sealed record DocumentLinkRef(string DocumentId, string Target);

    private Task<GuardedAccess> DecideAndAuditDenialAsync(AccessRequest request, AuditAction verb, string objectType, string? objectId, string channel, CancellationToken ct) =>
        guard.RequireAsync(request, verb, objectType, objectId, channel, auditPermit: false, ct);

    private Task AuditAsync(AuditItem item, CancellationToken ct) => guard.AuditAsync(item, ct);

    private Task<RecordFacts?> FactsAsync(string recordId, CancellationToken ct) => guard.FactsAsync(recordId, ct);

    private static string PatientParam(SearchParams sp) => sp.First("patient") ?? sp.First("subject") ?? sp.First("patient.identifier") ?? string.Empty;

    /// <summary>The record designated by patient / subject / patient.identifier (null when there is none).</summary>
    private async Task<RecordFacts?> RecordOfPatientParamAsync(SearchParams sp, CancellationToken ct)
    {
        var recordId = await References.RecordOfPatientParamAsync(db, sp, ct);
        return recordId is null ? null : await FactsAsync(recordId, ct);
    }
}
