using System.Xml.Linq;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Xds;

/// <summary>Section Xds: the identity of the platform's XDS.b repository.</summary>
public sealed class XdsOptions
{
    /// <summary>The repositoryUniqueId of the platform's repository (an OID), returned in every DocumentEntry and expected in ITI-43.</summary>
    public string RepositoryUniqueId { get; set; } = "1.2.250.1.999.1.1.1";

    /// <summary>The most entries a FindDocuments or FindSubmissionSets answers (they have no paging); beyond, XDSTooManyResults asks for a narrower query.</summary>
    public int MaxResults { get; set; } = 2000;
}

/// <summary>A document retrieved for ITI-43: its uniqueId, MIME type and bytes.</summary>
public sealed record RetrievedDocument(string UniqueId, string MimeType, byte[] Content);

/// <summary>
/// The XDS.b registry and repository read side over the same core as MHD: ITI-18 stored queries
/// (FindDocuments, GetDocuments) become the ITI-67 search and read, ITI-43 the ITI-68 retrieve — the
/// same policy decision, the same audit, the same stored metadata (<see cref="XdsMetadata"/>). A refusal
/// or an unknown document is a RegistryError in the response, as the IHE Technical Framework has it.
/// </summary>
public sealed class XdsRegistry(DocumentQueries documents, DmpDbContext db, XdsOptions options, DocumentOptions documentOptions, Access.RecordGuard guard)
{
    /// <summary>An XDS error: the code of the IHE Technical Framework and a clear text.</summary>
    public sealed record RegistryError(string Code, string Context);

    /// <summary>ITI-18: the AdhocQueryResponse for an AdhocQueryRequest.</summary>
    public async Task<XElement> StoredQueryAsync(XElement request, Actor actor, string channel, CancellationToken ct)
    {
        var query = request.Element(XdsNames.Rim + "AdhocQuery") ?? throw new XdsFaultException("the AdhocQueryRequest has no rim:AdhocQuery");
        var returnType = request.Element(XdsNames.Query + "ResponseOption")?.Attribute("returnType")?.Value ?? "ObjectRef";

        // A query refused before touching any data is traced too (the platform's chain), then answered with its error.
        async Task<XElement> RefusedAsync(RegistryError error)
        {
            await guard.AuditAsync(new Audit.AuditItem(null, actor, Audit.AuditAction.Search, Audit.AuditOutcomes.Invalid, channel, "DocumentReference", null, Detail: "XDS " + error.Code), ct);
            return Response([], [error]);
        }

        if (returnType is not ("LeafClass" or "ObjectRef"))
        {
            return await RefusedAsync(new RegistryError("XDSRegistryError", $"returnType must be LeafClass or ObjectRef, got '{returnType}'"));
        }

        var slots = query.Elements(XdsNames.Rim + "Slot").ToDictionary(
            s => s.Attribute("name")?.Value ?? string.Empty,
            s => s.Descendants(XdsNames.Rim + "Value").SelectMany(v => Values(v.Value)).ToList(),
            StringComparer.Ordinal);
        var id = query.Attribute("id")?.Value;
        try
        {
            var result = id switch
            {
                XdsNames.FindDocuments => new Found(await FindDocumentsAsync(slots, actor, channel, ct), [], []),
                XdsNames.GetDocuments => new Found(await GetDocumentsAsync(slots, actor, channel, ct), [], []),
                XdsNames.FindSubmissionSets => new Found([], await FindSubmissionSetsAsync(slots, actor, channel, ct), []),
                XdsNames.GetSubmissionSetAndContents => await GetSubmissionSetAndContentsAsync(slots, actor, channel, ct),
                XdsNames.GetAssociations => await GetAssociationsAsync(slots, actor, channel, ct),
                XdsNames.GetRelatedDocuments => await GetRelatedDocumentsAsync(slots, actor, channel, ct),
                _ => null,
            };
            if (result is null)
            {
                return await RefusedAsync(new RegistryError("XDSUnknownStoredQuery", $"the stored query {id} is not offered; this registry answers FindDocuments ({XdsNames.FindDocuments}), GetDocuments ({XdsNames.GetDocuments}), FindSubmissionSets ({XdsNames.FindSubmissionSets}), GetSubmissionSetAndContents ({XdsNames.GetSubmissionSetAndContents}), GetAssociations ({XdsNames.GetAssociations}) and GetRelatedDocuments ({XdsNames.GetRelatedDocuments})"));
            }

            var sets = result.SubmissionSets.Select(x => (Id: "urn:uuid:" + x.List.Id, x.List, x.PatientId)).ToList();
            if (returnType == "ObjectRef")
            {
                return Response(
                    [.. sets.Select(x => new XElement(XdsNames.Rim + "ObjectRef", new XAttribute("id", x.Id))),
                     .. result.Documents.Select(e => new XElement(XdsNames.Rim + "ObjectRef", new XAttribute("id", "urn:uuid:" + e.Id))),
                     .. result.Associations.Select(a => new XElement(XdsNames.Rim + "ObjectRef", new XAttribute("id", a.Attribute("id")!.Value)))],
                    []);
            }

            var objects = new List<XElement>();
            foreach (var (setId, list, patientId) in sets)
            {
                var (package, node) = Messaging.Xdm.SubmissionSet(list, setId, patientId, result.Documents.FirstOrDefault()?.Document);
                objects.Add(package);
                objects.Add(node);
            }

            // Hash and size as stored with the content (the registry's own record of it).
            var entries = result.Documents;
            var ids = entries.Select(e => e.Id).ToList();
            var stored = await db.Documents.AsNoTracking().Where(d => ids.Contains(d.Id)).Select(d => new { d.Id, d.Sha1, d.Size }).ToDictionaryAsync(d => d.Id, StringComparer.Ordinal, ct);
            var errors = new List<RegistryError>();
            foreach (var e in entries)
            {
                try
                {
                    var row = stored[e.Id];
                    objects.Add(XdsMetadata.ExtrinsicObject(e.Document, e.PatientId, options.RepositoryUniqueId, row.Sha1, row.Size));
                }
                catch (Messaging.XdmException ex)
                {
                    errors.Add(new RegistryError("XDSRegistryMetadataError", $"DocumentEntry urn:uuid:{e.Id} cannot be expressed as XDS metadata: {ex.Message}"));
                }
            }

            objects.AddRange(result.Associations);
            return Response(objects, errors);
        }
        catch (RegistryException ex)
        {
            return await RefusedAsync(ex.Error);
        }
        catch (DmpException ex) when (ex.Kind is ErrorKind.Forbidden or ErrorKind.BadRequest or ErrorKind.Unprocessable or ErrorKind.NotFound)
        {
            return Response([], [new RegistryError("XDSRegistryError", ex.Message)]);
        }
    }

    /// <summary>ITI-43: the documents asked for, in order, and a RegistryError for each that cannot be given.</summary>
    public async Task<(IReadOnlyList<RetrievedDocument> Documents, IReadOnlyList<RegistryError> Errors)> RetrieveAsync(XElement request, Actor actor, string channel, CancellationToken ct)
    {
        var found = new List<RetrievedDocument>();
        var errors = new List<RegistryError>();
        var asked = request.Elements(XdsNames.XdsB + "DocumentRequest").ToList();
        if (asked.Count is 0 or > 100)
        {
            throw new XdsFaultException("a RetrieveDocumentSetRequest names 1 to 100 DocumentRequest elements");
        }

        foreach (var r in asked)
        {
            var repository = r.Element(XdsNames.XdsB + "RepositoryUniqueId")?.Value.Trim();
            var uniqueId = r.Element(XdsNames.XdsB + "DocumentUniqueId")?.Value.Trim() ?? string.Empty;
            if (repository != options.RepositoryUniqueId)
            {
                await guard.AuditNoRecordAsync(actor, Audit.AuditAction.Retrieve, "Binary", uniqueId, channel, ct);
                errors.Add(new RegistryError("XDSUnknownRepositoryId", $"the repository {repository} is not this one ({options.RepositoryUniqueId})"));
                continue;
            }

            var id = await IdOfUniqueIdAsync(uniqueId, ct);
            try
            {
                if (id is null)
                {
                    // Traced like any request about a document that does not exist.
                    await guard.AuditNoRecordAsync(actor, Audit.AuditAction.Retrieve, "Binary", uniqueId, channel, ct);
                    throw new DmpException(ErrorKind.NotFound, "no document");
                }

                var (doc, bytes) = await documents.RetrieveAsync(id, actor, channel, ct);
                found.Add(new RetrievedDocument(uniqueId, doc.ContentType, bytes));
            }
            catch (DmpException ex) when (ex.Kind is ErrorKind.NotFound or ErrorKind.Gone)
            {
                errors.Add(new RegistryError("XDSDocumentUniqueIdError", $"no document {uniqueId} that you may read"));
            }
            catch (DmpException ex) when (ex.Kind == ErrorKind.Forbidden)
            {
                errors.Add(new RegistryError("XDSRepositoryError", ex.Message));
            }
        }

        return (found, errors);
    }

    /// <summary>The RegistryResponse for ITI-43: Success, PartialSuccess or Failure with its errors.</summary>
    public static XElement RegistryResponse(int found, IReadOnlyList<RegistryError> errors) =>
        new(XdsNames.Rs + "RegistryResponse",
            new XAttribute("status", errors.Count == 0 ? XdsNames.Success : found > 0 ? XdsNames.PartialSuccess : XdsNames.Failure),
            ErrorList(errors));

    /// <summary>A document found: its id, its stored DocumentReference (parsed when first needed — an ObjectRef answer needs only the id) and its patient id.</summary>
    private sealed class Entry
    {
        private readonly string? _json;
        private DocumentReference? _document;

        public Entry(string id, string json, string patientId) => (Id, _json, PatientId) = (id, json, patientId);

        public Entry(DocumentReference document, string patientId) => (Id, _document, PatientId) = (document.Id!, document, patientId);

        public string Id { get; }

        public string PatientId { get; }

        public DocumentReference Document => _document ??= FhirJson.Parse<DocumentReference>(_json!);
    }

    /// <summary>What a stored query found: documents, submission sets (with their patient id) and associations.</summary>
    private sealed record Found(List<Entry> Documents, List<(List List, string PatientId)> SubmissionSets, List<XElement> Associations);

    private async Task<List<(List List, string PatientId)>> FindSubmissionSetsAsync(Dictionary<string, List<string>> slots, Actor actor, string channel, CancellationToken ct)
    {
        var patient = Single(slots, "$XDSSubmissionSetPatientId");
        var (value, system) = PatientId(patient, "$XDSSubmissionSetPatientId");
        // Submission sets are kept as submitted (Approved); a query for other statuses finds none.
        var approved = Required(slots, "$XDSSubmissionSetStatus").Contains(XdsNames.Approved);
        var hits = await AllAsync([new("patient.identifier", $"{system}|{value}")], sp => documents.SearchListsAsync(sp, actor, channel, ct));
        return approved ? hits.Select(h => (FhirJson.Parse<List>(h.Json), patient)).ToList() : [];
    }

    /// <summary>
    /// Every match of a search, page after page (each page is an audited search, as in MHD): stored
    /// queries have no paging. More than <see cref="XdsOptions.MaxResults"/> is XDSTooManyResults.
    /// </summary>
    private async Task<List<SearchHit>> AllAsync(List<KeyValuePair<string, string>> criteria, Func<SearchParams, Task<SearchPage>> search)
    {
        var pageSize = documentOptions.MaxPageSize;
        var hits = new List<SearchHit>();
        for (var offset = 0; ; offset += pageSize)
        {
            var page = await search(new SearchParams([.. criteria, new("_count", pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture)), new("_offset", offset.ToString(System.Globalization.CultureInfo.InvariantCulture))]));
            hits.AddRange(page.Hits);
            if (hits.Count > options.MaxResults)
            {
                throw new RegistryException(new RegistryError("XDSTooManyResults", $"the query matches more than {options.MaxResults} entries: narrow it (class, type, practice setting, dates)"));
            }

            if (!page.HasMore || page.Hits.Count == 0)
            {
                return hits;
            }
        }
    }

    /// <summary>The XDS association types of the relatesTo codes OpenDMP keeps (document_links.kind).</summary>
    private static readonly Dictionary<string, string> RelationTypes = new(StringComparer.Ordinal)
    {
        ["replaces"] = "urn:ihe:iti:2007:AssociationType:RPLC",
        ["appends"] = "urn:ihe:iti:2007:AssociationType:APND",
        ["transforms"] = "urn:ihe:iti:2007:AssociationType:XFRM",
        ["signs"] = "urn:ihe:iti:2007:AssociationType:signs",
    };

    /// <summary>
    /// GetAssociations: the associations of the given DocumentEntries and SubmissionSets — HasMember
    /// and the relations between documents — among the objects the caller may see (both ends).
    /// </summary>
    private async Task<Found> GetAssociationsAsync(Dictionary<string, List<string>> slots, Actor actor, string channel, CancellationToken ct)
    {
        var ids = Required(slots, "$uuid").Select(u => u.StartsWith("urn:uuid:", StringComparison.Ordinal) ? u[9..] : u).Distinct(StringComparer.Ordinal).Take(100).ToList();
        var setIds = await db.SubmissionSets.AsNoTracking().Where(x => ids.Contains(x.Id)).Select(x => x.Id).ToListAsync(ct);
        var visible = await VisibleAsync(ids.Except(setIds).ToList(), actor, channel, ct);
        var associations = new List<XElement>();
        var readable = new List<string>();
        foreach (var setId in setIds)
        {
            try
            {
                var list = FhirJson.Parse<List>(await documents.ReadListAsync(setId, actor, channel, ct));
                readable.Add(setId);
                var members = await VisibleAsync(list.Entry.Select(e => e.Item?.Reference?.Split('/').LastOrDefault()).OfType<string>().ToList(), actor, channel, ct);
                associations.AddRange(members.Keys.Select(m => Messaging.Xdm.HasMemberAssociation("urn:uuid:" + setId, "urn:uuid:" + m)));
            }
            catch (DmpException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                // Not there, or not for this caller.
            }
        }

        foreach (var (docId, set) in visible)
        {
            if (set is not null)
            {
                associations.Add(Messaging.Xdm.HasMemberAssociation("urn:uuid:" + set, "urn:uuid:" + docId));
            }
        }

        associations.AddRange(await RelationsAsync(visible.Keys.ToList(), null, actor, channel, ct));
        associations.AddRange(await SetSignaturesAsync(readable, visible.Keys.ToList(), actor, channel, ct));
        return new Found([], [], associations);
    }

    /// <summary>
    /// The "signs" associations between signature documents and the submission sets they sign (kept as
    /// the document's context.related naming the set's uniqueId): of the sets asked for, and of the
    /// documents asked for — both ends visible to the caller.
    /// </summary>
    private async Task<List<XElement>> SetSignaturesAsync(List<string> setIds, List<string> docIds, Actor actor, string channel, CancellationToken ct)
    {
        const string Prefix = XdsProvide.SetIdentifierSystem + "|";
        var sets = await db.SubmissionSets.AsNoTracking().Where(x => setIds.Contains(x.Id)).Select(x => new { x.Id, x.RecordId, x.MasterIdentifier }).ToListAsync(ct);
        var targets = sets.Select(x => Prefix + x.MasterIdentifier).ToList();
        var links = await db.DocumentLinks.AsNoTracking()
            .Where(l => l.Kind == "related" && l.Target.StartsWith(Prefix) && (targets.Contains(l.Target) || docIds.Contains(l.DocumentId)))
            .Select(l => new { l.RecordId, l.DocumentId, l.Target }).ToListAsync(ct);
        if (links.Count == 0)
        {
            return [];
        }

        var masters = links.Select(l => l.Target[Prefix.Length..]).Distinct(StringComparer.Ordinal).ToList();
        var signed = await db.SubmissionSets.AsNoTracking().Where(x => masters.Contains(x.MasterIdentifier)).Select(x => new { x.Id, x.RecordId, x.MasterIdentifier }).ToListAsync(ct);
        var visible = await VisibleAsync(links.Select(l => l.DocumentId).Distinct(StringComparer.Ordinal).ToList(), actor, channel, ct);
        var readableSets = new HashSet<string>(setIds, StringComparer.Ordinal);
        foreach (var set in signed.Where(x => !readableSets.Contains(x.Id)))
        {
            try
            {
                await documents.ReadListAsync(set.Id, actor, channel, ct);
                readableSets.Add(set.Id);
            }
            catch (DmpException ex) when (ex.Kind == ErrorKind.NotFound)
            {
                // Not for this caller.
            }
        }

        return [.. from l in links
                   join set in signed on new { l.RecordId, Master = l.Target[Prefix.Length..] } equals new { set.RecordId, Master = set.MasterIdentifier }
                   where visible.ContainsKey(l.DocumentId) && readableSets.Contains(set.Id)
                   select new XElement(XdsNames.Rim + "Association",
                       new XAttribute("id", "urn:uuid:" + Guid.NewGuid()),
                       new XAttribute("associationType", RelationTypes["signs"]),
                       new XAttribute("sourceObject", "urn:uuid:" + l.DocumentId),
                       new XAttribute("targetObject", "urn:uuid:" + set.Id))];
    }

    /// <summary>GetRelatedDocuments: a document, the documents related to it that the caller may see, and those associations (of the types asked for).</summary>
    private async Task<Found> GetRelatedDocumentsAsync(Dictionary<string, List<string>> slots, Actor actor, string channel, CancellationToken ct)
    {
        var types = Required(slots, "$AssociationTypes").ToHashSet(StringComparer.Ordinal);
        string docId;
        if (slots.TryGetValue("$XDSDocumentEntryEntryUUID", out var uuids) && uuids.Count == 1)
        {
            docId = uuids[0].StartsWith("urn:uuid:", StringComparison.Ordinal) ? uuids[0][9..] : uuids[0];
        }
        else if (slots.TryGetValue("$XDSDocumentEntryUniqueId", out var uniqueIds) && uniqueIds.Count == 1)
        {
            docId = await IdOfUniqueIdAsync(uniqueIds[0], ct) ?? uniqueIds[0];
        }
        else
        {
            throw new RegistryException(new RegistryError("XDSStoredQueryParamNumber", "GetRelatedDocuments needs one $XDSDocumentEntryEntryUUID or one $XDSDocumentEntryUniqueId"));
        }

        var associations = await RelationsAsync([docId], types, actor, channel, ct);
        var related = associations.SelectMany(a => new[] { a.Attribute("sourceObject")!.Value, a.Attribute("targetObject")!.Value })
            .Append("urn:uuid:" + docId).Select(u => u[9..]).Distinct(StringComparer.Ordinal).ToList();
        var entries = await GetDocumentsAsync(new Dictionary<string, List<string>>(StringComparer.Ordinal) { ["$XDSDocumentEntryEntryUUID"] = related }, actor, channel, ct);
        return entries.Any(e => e.Id == docId) ? new Found(entries, [], associations) : new Found([], [], []);
    }

    /// <summary>The relations (replaces, appends, …) touching these documents whose both ends the caller may see, of the given types (all when null).</summary>
    private async Task<List<XElement>> RelationsAsync(List<string> docIds, HashSet<string>? types, Actor actor, string channel, CancellationToken ct)
    {
        var kinds = RelationTypes.Where(k => types is null || types.Contains(k.Value)).Select(k => k.Key).ToList();
        var links = await db.DocumentLinks.AsNoTracking()
            .Where(l => kinds.Contains(l.Kind) && (docIds.Contains(l.DocumentId) || docIds.Contains(l.Target)))
            .Select(l => new { l.DocumentId, l.Target, l.Kind }).ToListAsync(ct);
        if (links.Count == 0)
        {
            return [];
        }

        var visible = await VisibleAsync(links.SelectMany(l => new[] { l.DocumentId, l.Target }).Distinct(StringComparer.Ordinal).ToList(), actor, channel, ct);
        return links.Where(l => visible.ContainsKey(l.DocumentId) && visible.ContainsKey(l.Target))
            .Select(l => new XElement(XdsNames.Rim + "Association",
                new XAttribute("id", "urn:uuid:" + Guid.NewGuid()),
                new XAttribute("associationType", RelationTypes[l.Kind]),
                new XAttribute("sourceObject", "urn:uuid:" + l.DocumentId),
                new XAttribute("targetObject", "urn:uuid:" + l.Target)))
            .ToList();
    }

    /// <summary>The documents among these ids the caller may see (the ITI-67 search, per record, audited), with their submission set.</summary>
    private async Task<Dictionary<string, string?>> VisibleAsync(List<string> ids, Actor actor, string channel, CancellationToken ct)
    {
        var visibleIds = new List<string>();
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(100))
        {
            var found = await GetDocumentsAsync(new Dictionary<string, List<string>>(StringComparer.Ordinal) { ["$XDSDocumentEntryEntryUUID"] = [.. chunk] }, actor, channel, ct);
            visibleIds.AddRange(found.Select(e => e.Id));
        }

        return await db.Documents.AsNoTracking().Where(d => visibleIds.Contains(d.Id)).Select(d => new { d.Id, d.SubmissionSetId })
            .ToDictionaryAsync(d => d.Id, d => d.SubmissionSetId, StringComparer.Ordinal, ct);
    }

    private async Task<Found> GetSubmissionSetAndContentsAsync(Dictionary<string, List<string>> slots, Actor actor, string channel, CancellationToken ct)
    {
        string setId;
        if (slots.TryGetValue("$XDSSubmissionSetEntryUUID", out var uuids) && uuids.Count == 1)
        {
            setId = uuids[0].StartsWith("urn:uuid:", StringComparison.Ordinal) ? uuids[0][9..] : uuids[0];
        }
        else if (slots.TryGetValue("$XDSSubmissionSetUniqueId", out var uniqueIds) && uniqueIds.Count == 1)
        {
            var forms = new[] { uniqueIds[0], "urn:oid:" + uniqueIds[0] };
            setId = await db.SubmissionSets.AsNoTracking().Where(x => forms.Contains(x.MasterIdentifier)).Select(x => x.Id).FirstOrDefaultAsync(ct) ?? uniqueIds[0];
        }
        else
        {
            throw new RegistryException(new RegistryError("XDSStoredQueryParamNumber", "GetSubmissionSetAndContents needs one $XDSSubmissionSetEntryUUID or one $XDSSubmissionSetUniqueId"));
        }

        List list;
        try
        {
            list = FhirJson.Parse<List>(await documents.ReadListAsync(setId, actor, channel, ct));
        }
        catch (DmpException ex) when (ex.Kind == ErrorKind.NotFound)
        {
            return new Found([], [], []);
        }

        // Its documents the caller may see, by the same search as GetDocuments, and their HasMember associations.
        var members = list.Entry.Select(e => e.Item?.Reference?.Split('/').LastOrDefault()).OfType<string>().ToList();
        var found = members.Count == 0 ? [] : await GetDocumentsAsync(new Dictionary<string, List<string>>(StringComparer.Ordinal) { ["$XDSDocumentEntryEntryUUID"] = members }, actor, channel, ct);
        var patientId = found.FirstOrDefault()?.PatientId ?? await PatientIdOfAsync(list.Subject, ct);
        var associations = found.Select(e => Messaging.Xdm.HasMemberAssociation("urn:uuid:" + list.Id, "urn:uuid:" + e.Id)).ToList();
        return new Found(found, [(list, patientId)], associations);
    }

    private async Task<List<Entry>> FindDocumentsAsync(Dictionary<string, List<string>> slots, Actor actor, string channel, CancellationToken ct)
    {
        var patient = Single(slots, "$XDSDocumentEntryPatientId");
        var (value, system) = PatientId(patient, "$XDSDocumentEntryPatientId");
        var statuses = Required(slots, "$XDSDocumentEntryStatus").Select(s => s switch
        {
            XdsNames.Approved => "current",
            XdsNames.Deprecated => "superseded",
            _ => throw new RegistryException(new RegistryError("XDSRegistryError", $"$XDSDocumentEntryStatus: {s} is neither {XdsNames.Approved} nor {XdsNames.Deprecated}")),
        }).ToList();
        var sp = new List<KeyValuePair<string, string>>
        {
            new("patient.identifier", $"{system}|{value}"),
            new("status", string.Join(',', statuses)),
        };
        void Codes(string slot, string param)
        {
            if (slots.TryGetValue(slot, out var codes) && codes.Count > 0)
            {
                sp.Add(new(param, string.Join(',', codes.Select(c => c.Split('^')[0]))));
            }
        }

        Codes("$XDSDocumentEntryClassCode", "category");
        Codes("$XDSDocumentEntryTypeCode", "type");
        Codes("$XDSDocumentEntryFormatCode", "format");
        Codes("$XDSDocumentEntryPracticeSettingCode", "setting");
        Codes("$XDSDocumentEntryHealthcareFacilityTypeCode", "facility");
        var hits = await AllAsync(sp, p => documents.SearchDocumentsAsync(p, actor, channel, ct));
        return hits.Select(h => new Entry(h.Id, h.Json, patient)).ToList();
    }

    private async Task<List<Entry>> GetDocumentsAsync(Dictionary<string, List<string>> slots, Actor actor, string channel, CancellationToken ct)
    {
        var ids = new List<string>();
        if (slots.TryGetValue("$XDSDocumentEntryEntryUUID", out var uuids) && uuids.Count > 0)
        {
            ids.AddRange(uuids.Select(u => u.StartsWith("urn:uuid:", StringComparison.Ordinal) ? u[9..] : u));
        }
        else if (slots.TryGetValue("$XDSDocumentEntryUniqueId", out var uniqueIds) && uniqueIds.Count > 0)
        {
            foreach (var u in uniqueIds)
            {
                if (await IdOfUniqueIdAsync(u, ct) is { } id)
                {
                    ids.Add(id);
                }
            }
        }
        else
        {
            throw new RegistryException(new RegistryError("XDSStoredQueryParamNumber", "GetDocuments needs $XDSDocumentEntryEntryUUID or $XDSDocumentEntryUniqueId"));
        }

        // A query like FindDocuments, record by record: the same search, policy and audit (documents one may not see are absent).
        var wanted = ids.Distinct(StringComparer.Ordinal).ToList();
        if (wanted.Count > 100)
        {
            throw new RegistryException(new RegistryError("XDSTooManyResults", $"GetDocuments asks for at most 100 entries at a time, got {wanted.Count}"));
        }

        var records = await db.Documents.AsNoTracking().Where(d => wanted.Contains(d.Id)).Select(d => new { d.Id, d.RecordId }).ToListAsync(ct);
        var entries = new List<Entry>();
        if (records.Count == 0)
        {
            await guard.AuditNoRecordAsync(actor, Audit.AuditAction.Search, "DocumentReference", string.Join(',', wanted), channel, ct);
            return entries;
        }

        foreach (var record in records.GroupBy(r => r.RecordId, StringComparer.Ordinal))
        {
            var sp = new SearchParams([new("patient", record.Key), new("_id", string.Join(',', record.Select(r => r.Id))), new("_count", "100")]);
            var page = await documents.SearchDocumentsAsync(sp, actor, channel, ct);
            foreach (var hit in page.Hits)
            {
                var doc = FhirJson.Parse<DocumentReference>(hit.Json);
                entries.Add(new Entry(doc, await PatientIdOfAsync(doc, ct)));
            }
        }

        return entries;
    }

    /// <summary>The patient's INS in XDS form (CX: value^^^&amp;OID&amp;ISO) for a document read by id.</summary>
    private Task<string> PatientIdOfAsync(DocumentReference doc, CancellationToken ct) => PatientIdOfAsync(doc.Subject, ct);

    private async Task<string> PatientIdOfAsync(ResourceReference? subject, CancellationToken ct)
    {
        var recordId = subject?.Reference?.Split('/').LastOrDefault() ?? string.Empty;
        var ins = await db.PatientIdentifiers.AsNoTracking().Where(p => p.RecordId == recordId).OrderBy(p => p.System).FirstOrDefaultAsync(ct);
        return ins is null ? recordId : $"{ins.Value}^^^&{(ins.System.StartsWith("urn:oid:", StringComparison.Ordinal) ? ins.System[8..] : ins.System)}&ISO";
    }

    private async Task<string?> IdOfUniqueIdAsync(string uniqueId, CancellationToken ct)
    {
        var forms = new[] { uniqueId, "urn:oid:" + uniqueId };
        return await db.Documents.AsNoTracking().Where(d => forms.Contains(d.MasterIdentifier)).Select(d => d.Id).FirstOrDefaultAsync(ct);
    }

    /// <summary>An XDS patient id (CX): value^^^&amp;OID&amp;ISO.</summary>
    private static (string Value, string System) PatientId(string cx, string parameter)
    {
        var parts = cx.Split('^');
        var authority = parts.Length >= 4 ? parts[3].Split('&') : [];
        if (parts[0].Length == 0 || authority.Length < 2 || authority[1].Length == 0)
        {
            throw new RegistryException(new RegistryError("XDSRegistryError", $"{parameter} must be a CX value^^^&OID&ISO (e.g. the INS with 1.2.250.1.213.1.4.8), got '{cx}'"));
        }

        return (parts[0], "urn:oid:" + authority[1]);
    }

    private static List<string> Required(Dictionary<string, List<string>> slots, string name) =>
        slots.TryGetValue(name, out var v) && v.Count > 0 ? v : throw new RegistryException(new RegistryError("XDSStoredQueryParamNumber", $"the parameter {name} is required"));

    private static string Single(Dictionary<string, List<string>> slots, string name)
    {
        var values = Required(slots, name);
        return values.Count == 1 ? values[0] : throw new RegistryException(new RegistryError("XDSStoredQueryParamNumber", $"the parameter {name} takes one value"));
    }

    /// <summary>A slot value: 'a' or ('a','b').</summary>
    private static IEnumerable<string> Values(string raw)
    {
        var s = raw.Trim();
        if (s.StartsWith('(') && s.EndsWith(')'))
        {
            s = s[1..^1];
        }

        foreach (var part in s.Split(','))
        {
            var v = part.Trim();
            if (v.Length >= 2 && v[0] == '\'' && v[^1] == '\'')
            {
                v = v[1..^1];
            }

            if (v.Length > 0)
            {
                yield return v;
            }
        }
    }

    private static XElement Response(List<XElement> objects, List<RegistryError> errors) =>
        new(XdsNames.Query + "AdhocQueryResponse",
            new XAttribute("status", errors.Count == 0 ? XdsNames.Success : objects.Count > 0 ? XdsNames.PartialSuccess : XdsNames.Failure),
            new XElement(XdsNames.Rim + "RegistryObjectList", objects),
            ErrorList(errors));

    private static XElement? ErrorList(IReadOnlyList<RegistryError> errors) => errors.Count == 0 ? null :
        new XElement(XdsNames.Rs + "RegistryErrorList", errors.Select(e => new XElement(XdsNames.Rs + "RegistryError",
            new XAttribute("errorCode", e.Code),
            new XAttribute("codeContext", e.Context),
            new XAttribute("severity", XdsNames.SeverityError),
            new XAttribute("location", "OpenDMP"))));

    private sealed class RegistryException(RegistryError error) : Exception(error.Context)
    {
        public RegistryError Error { get; } = error;
    }
}

/// <summary>A request that is not a valid XDS.b message: answered with a SOAP fault saying why.</summary>
public sealed class XdsFaultException(string reason, bool sender = true) : Exception(reason)
{
    /// <summary>True: the client's fault (soap:Sender); false: the server's (soap:Receiver).</summary>
    public bool Sender { get; } = sender;
}
