using System.Security.Cryptography;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Core.Documents;

/// <summary>
/// IHE MHD ITI-65 Provide Document Bundle, as the French PDSm profile writes it: one SubmissionSet
/// List, DocumentReference(s), their Binary content, and optional FHIRPath Patch entries that mark
/// replaced documents superseded. All or nothing: the bundle is fully validated before anything is
/// written, and written in one transaction.
/// </summary>
public sealed class ProvideDocumentBundle(DmpDbContext db, WriteGate gate, AuditTrail audit, IContentStore store, TimeProvider time, DocumentOptions options, RecordGuard guard, ServerOptions server, TerminologyCatalog terminology, OpenDmp.Core.Clinical.ClinicalIntake intake, Alerts.AlertOptions alertOptions, Alerts.AlertSignal alertSignal, Subscriptions.SubscriptionRegistry subscriptions, Notifications.NotificationSignal notificationSignal)
{
    private const string SourceIdExtension = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId";

    /// <summary>The terminology in force for this submission (read once at its start).</summary>
    private TerminologySet _terms = TerminologySet.Shipped;

    private sealed class NewDocument
    {
        public required DocumentReference Resource { get; init; }
        public required string FullUrl { get; init; }
        public required DocumentEntry Entry { get; init; }
        public required byte[] Content { get; init; }
        public string? BinaryFullUrl { get; init; }
        public List<DocumentLink> Links { get; } = [];
        /// <summary>The coded results of a structured lab report, written with it (read before the record is locked).</summary>
        /// <summary>A structured lab report's results and prescriber (empty for other documents).</summary>
        public OpenDmp.Core.Clinical.LabReport Lab { get; init; } = OpenDmp.Core.Clinical.LabReport.Empty;
        public IReadOnlyList<OpenDmp.Core.Clinical.ObservationEntry> Results => Lab.Results;
        /// <summary>Results sent as Observations with the report in the transaction.</summary>
        public List<OpenDmp.Core.Clinical.ObservationEntry> SentResults { get; } = [];
        /// <summary>Structured entries filed with the document (prescription lines, dispensings).</summary>
        public List<OpenDmp.Core.Clinical.ClinicalEntry> Clinical { get; } = [];
    }

    /// <summary>The entries of the transaction, sorted by role.</summary>
    private sealed record Parsed(List SubmissionSet, int SubmissionIndex, List<(int Index, string FullUrl, DocumentReference Doc)> Documents, Dictionary<string, Binary> Binaries, List<(int Index, string TargetId, Parameters Patch)> Patches, List<OpenDmp.Core.Clinical.StructuredResource> Structured);

    /// <summary>
    /// Handles one submission: parse the entries, resolve the record and ask the policy, validate
    /// every document and the submission set, resolve what they replace, then write it all in one
    /// unit of work. <paramref name="alsoWrite"/> adds rows to the same transaction as the documents
    /// (given the record id and submission set id): the messaging deposit channel records the message
    /// there, so a message is filed exactly once.
    /// </summary>
    public async Task<Bundle> HandleAsync(Bundle bundle, Actor actor, string channel, CancellationToken ct, Action<DmpDbContext, string, string>? alsoWrite = null)
    {
        var parsed = Parse(bundle);
        _terms = await terminology.GetAsync(ct);
        var (recordId, patientIsTest, facts) = await ResolveRecordAsync(parsed, ct);
        var permit = await RequireAsync(new AccessRequest(actor, AccessAction.CreateDocument, facts), "DocumentReference", null, channel, ct);
        var now = time.GetUtcNow();
        var submissionSetId = Ids.New();
        var newDocs = await ValidateDocumentsAsync(parsed, recordId, actor, permit, channel, submissionSetId, patientIsTest, now, ct);
        await ValidateStructuredAsync(parsed, newDocs, recordId, actor, permit, now, ct);
        ValidateSubmissionSet(parsed, newDocs);
        var supersede = await ResolveReplacedAsync(parsed, newDocs, recordId, facts, actor, channel, ct);
        var ssEntry = BuildSubmissionSet(parsed.SubmissionSet, submissionSetId, recordId, newDocs, SubmitterOf(actor), patientIsTest, now);
        await WriteAsync(recordId, newDocs, supersede, ssEntry, actor, channel, now, alsoWrite, ct);
        if (newDocs.Count > 0 && parsed.Patches.Count == 0 && newDocs.All(d => d.Entry.HiddenFromPatient || d.Entry.Draft))
        {
            // Nothing about a hidden document may reach the patient before it is released.
            guard.WithholdFirstAccessNotice();
        }

        return BuildResponse(bundle, parsed.SubmissionIndex, ssEntry, newDocs, parsed.Patches, supersede);
    }

    /// <summary>
    /// Who submits, as the documents record it: the professional — also when their staff member files
    /// for them (the professional answers for it; the audit trail names both).
    /// </summary>
    private static string SubmitterOf(Actor actor) => actor.ResponsibleProfessional?.Id ?? actor.Id;

    /// <summary>Step 1: the shape of the transaction — bounded, one SubmissionSet, DocumentReferences, Binaries, status patches, unique fullUrls.</summary>
    private Parsed Parse(Bundle bundle)
    {
        if (bundle.Type != Bundle.BundleType.Transaction)
        {
            throw DmpException.Invalid("ITI-65 needs a Bundle of type 'transaction'", "Bundle.type");
        }

        if (bundle.Entry.Count == 0)
        {
            throw DmpException.Invalid("the Bundle has no entry", "Bundle.entry");
        }

        // Bounded before any work: one transaction holds its record's writers while it is written.
        if (bundle.Entry.Count > options.MaxEntriesPerTransaction)
        {
            throw DmpException.Invalid($"the Bundle has {bundle.Entry.Count} entries; a transaction holds at most {options.MaxEntriesPerTransaction} (Documents:MaxEntriesPerTransaction): split it", "Bundle.entry");
        }

        if (bundle.Entry.FindIndex(e => !string.IsNullOrEmpty(e.Request?.IfNoneExist)) is var conditional and >= 0)
        {
            // Declared in the CapabilityStatement (conditionalCreate false): a masterIdentifier already filed answers 409.
            throw DmpException.Invalid("conditional create (request.ifNoneExist) is not supported: submit without it; a document whose masterIdentifier is already filed for the patient answers 409", $"Bundle.entry[{conditional}].request.ifNoneExist");
        }

        var documentCount = bundle.Entry.Count(e => e.Resource is DocumentReference);
        if (documentCount > options.MaxDocumentsPerTransaction)
        {
            throw DmpException.Invalid($"the Bundle has {documentCount} DocumentReferences; a transaction holds at most {options.MaxDocumentsPerTransaction} (Documents:MaxDocumentsPerTransaction): split it", "Bundle.entry");
        }

        List? submissionSet = null;
        var submissionIndex = -1;
        var docRefs = new List<(int Index, string FullUrl, DocumentReference Doc)>();
        var binaries = new Dictionary<string, Binary>(StringComparer.Ordinal);
        var patches = new List<(int Index, string TargetId, Parameters Patch)>();
        var structured = new List<OpenDmp.Core.Clinical.StructuredResource>();
        var fullUrls = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < bundle.Entry.Count; i++)
        {
            var e = bundle.Entry[i];
            var where = $"Bundle.entry[{i}]";
            if (e.Request?.Method is not { } method)
            {
                throw DmpException.Invalid($"{where} has no request method", where + ".request");
            }

            if (e.FullUrl is { Length: > 0 } fullUrl && !fullUrls.Add(fullUrl))
            {
                throw DmpException.Invalid($"{where}: the fullUrl {fullUrl} is used by another entry; each entry needs its own", where + ".fullUrl");
            }

            if (e.Resource is DomainResource dr)
            {
                FhirNarrative.Check(dr, where + ".resource");
            }

            switch (e.Resource)
            {
                case List list when method == Bundle.HTTPVerb.POST:
                    if (!list.Code?.Coding.Any(c => c.Code == "submissionset") ?? true)
                    {
                        throw DmpException.Invalid($"{where}: only SubmissionSet lists (code 'submissionset') are accepted; folders are not supported", where + ".resource.code");
                    }

                    if (submissionSet is not null)
                    {
                        throw DmpException.Invalid("the Bundle holds more than one SubmissionSet", where);
                    }

                    submissionSet = list;
                    submissionIndex = i;
                    break;
                case DocumentReference d when method == Bundle.HTTPVerb.POST:
                    docRefs.Add((i, e.FullUrl ?? string.Empty, d));
                    break;
                case Binary b when method == Bundle.HTTPVerb.POST:
                    if (string.IsNullOrEmpty(e.FullUrl))
                    {
                        throw DmpException.Invalid($"{where}: a Binary needs a fullUrl so that a DocumentReference can point to it", where + ".fullUrl");
                    }

                    binaries[e.FullUrl] = b;
                    break;
                case Parameters p when method == Bundle.HTTPVerb.PATCH:
                    var target = (server.IsForeign(e.Request.Url) ? null : References.LogicalId(e.Request.Url, "DocumentReference"))
                        ?? throw DmpException.Invalid($"{where}: PATCH is accepted on DocumentReference/[id] of this platform only", where + ".request.url");
                    patches.Add((i, target, p));
                    break;
                case DomainResource r when method == Bundle.HTTPVerb.POST && OpenDmp.Core.Clinical.ClinicalIntake.Types.Contains(r.TypeName):
                    structured.Add(new OpenDmp.Core.Clinical.StructuredResource(i, e.FullUrl ?? string.Empty, r));
                    break;
                case null:
                    throw DmpException.Invalid($"{where} has no resource", where);
                default:
                    throw DmpException.Invalid($"{where}: {method} {e.Resource.TypeName} is not part of ITI-65 (SubmissionSet List, DocumentReference, Binary, PATCH DocumentReference; Observation, MedicationRequest and MedicationDispense filed with their document)", where);
            }
        }

        if (submissionSet is null)
        {
            throw DmpException.Invalid("ITI-65 needs a SubmissionSet (List with code 'submissionset')", "Bundle.entry");
        }

        if (docRefs.Count == 0)
        {
            throw DmpException.Invalid("the Bundle has no DocumentReference", "Bundle.entry");
        }

        return new Parsed(submissionSet, submissionIndex, docRefs, binaries, patches, structured);
    }

    /// <summary>Step 2: one patient of this platform, with an open record, the same for every document.</summary>
    private async Task<(string RecordId, bool PatientIsTest, RecordFacts Facts)> ResolveRecordAsync(Parsed parsed, CancellationToken ct)
    {
        var ssAt = $"Bundle.entry[{parsed.SubmissionIndex}].resource.subject";
        RejectForeign(parsed.SubmissionSet.Subject?.Reference, ssAt);

        // A literal Patient/[id] names the record itself (patient id = record id): its facts are read
        // at once, in one round trip; an identifier is resolved first.
        var literal = parsed.SubmissionSet.Subject is { Identifier: null } s ? References.LogicalId(s.Reference, "Patient") : null;
        var recordId = literal ?? await References.ResolvePatientAsync(db, parsed.SubmissionSet.Subject, ct)
            ?? throw DmpException.Invalid("unknown patient: the SubmissionSet subject designates no patient of OpenDMP", ssAt);
        var found = await guard.FactsWithPatientAsync(recordId, ct);
        if (found is not { PatientIsTest: not null })
        {
            // Which of the two: only on this error path.
            if (await References.ResolvePatientAsync(db, new ResourceReference("Patient/" + recordId), ct) is null)
            {
                throw DmpException.Invalid("unknown patient: the SubmissionSet subject designates no patient of OpenDMP", ssAt);
            }

            throw DmpException.Invalid("the patient has no record: it must be opened with the patient's consent first");
        }

        var (facts, isTest, identity) = found.Value;
        foreach (var (index, _, doc) in parsed.Documents)
        {
            var at = $"Bundle.entry[{index}].resource.subject";
            RejectForeign(doc.Subject?.Reference, at);

            // Usually the same reference as the SubmissionSet's: resolved once.
            var rid = doc.Subject?.Reference is { } same && same == parsed.SubmissionSet.Subject?.Reference && doc.Subject.Identifier is null
                ? recordId
                : await References.ResolvePatientAsync(db, doc.Subject, ct);
            if (rid is null)
            {
                throw DmpException.Invalid("unknown patient: DocumentReference.subject designates no patient of OpenDMP", at);
            }

            if (rid != recordId)
            {
                throw DmpException.Invalid("all documents of a submission must concern the SubmissionSet's patient", at);
            }
        }

        if (facts.Status == RecordStatus.Merged)
        {
            throw new DmpException(ErrorKind.Conflict, $"this identity was merged into Patient/{facts.MergedInto} (identity vigilance): file the documents under that patient");
        }

        if (facts.Status != RecordStatus.Open)
        {
            throw DmpException.Invalid("the patient's record is closed: it accepts no documents");
        }

        // RNIV: a record is filed under the INS, which only a qualified identity may carry (a doubt raised since the opening stops filing).
        Identity.IdentityVigilance.RequireQualified(identity ?? Identity.IdentityStatus.Qualified, "file documents");
        return (recordId, isTest.Value, facts);
    }

    /// <summary>Step 3: every document valid, each admitted by the profession × document-type matrix.</summary>
    private async Task<List<NewDocument>> ValidateDocumentsAsync(Parsed parsed, string recordId, Actor actor, GuardedAccess permit, string channel, string submissionSetId, bool patientIsTest, DateTimeOffset now, CancellationToken ct)
    {
        var newDocs = new List<NewDocument>();
        var masterIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (index, fullUrl, doc) in parsed.Documents)
        {
            var nd = await ValidateDocumentAsync(index, fullUrl, doc, parsed.Binaries, recordId, SubmitterOf(actor), submissionSetId, patientIsTest, now, ct);
            if (!masterIds.Add(nd.Entry.MasterIdentifier))
            {
                throw DmpException.Invalid("two documents of the Bundle have the same masterIdentifier", $"Bundle.entry[{index}].resource.masterIdentifier");
            }

            // A patient deposits under their own name only (contained Patient author, class 90).
            if (actor.Kind == ActorKind.Patient && (nd.Entry.AuthorProfessionalId is not null || nd.Entry.AuthorIdentifier is not null))
            {
                throw DmpException.Invalid("a document deposited by the patient is authored by the patient (a contained Patient), not by a professional", $"Bundle.entry[{index}].resource.author");
            }

            // The profession × document-type matrix applies to each document deposited.
            if (!permit.Admits(DocumentResources.Facts(nd.Entry), AccessAction.CreateDocument))
            {
                await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Create, "denied", channel, "DocumentReference", null, Detail: "profession may not deposit type " + nd.Entry.TypeCode), ct);
                throw new DmpException(ErrorKind.Forbidden, actor.Kind is ActorKind.Professional or ActorKind.Staff
                    ? $"your profession may not deposit documents of type {nd.Entry.TypeCode} ({nd.Entry.TypeDisplay}) or class {nd.Entry.ClassCode}"
                    : $"you may not deposit this document (class {nd.Entry.ClassCode}): a patient deposits documents of class 90 in their own open record", $"Bundle.entry[{index}].resource.type");
            }

            newDocs.Add(nd);
        }

        return newDocs;
    }

    /// <summary>Step 3b: structured entries (prescription lines, dispensings) are filed with exactly one document, which they are linked to.</summary>
    private async System.Threading.Tasks.Task ValidateStructuredAsync(Parsed parsed, List<NewDocument> newDocs, string recordId, Actor actor, GuardedAccess permit, DateTimeOffset now, CancellationToken ct)
    {
        if (parsed.Structured.Count == 0)
        {
            return;
        }

        if (newDocs.Count != 1)
        {
            throw DmpException.Invalid($"structured entries (Observation, MedicationRequest, MedicationDispense) are filed with exactly one document; this transaction has {newDocs.Count}: split it", "Bundle.entry");
        }

        var doc = newDocs[0];
        var (entries, results) = await intake.BuildAsync(parsed.Structured, doc.Entry, doc.Links, recordId, actor, permit.Scope, now, ct);
        doc.Clinical.AddRange(entries);
        doc.SentResults.AddRange(results);
    }

    /// <summary>Step 4: the SubmissionSet lists exactly the documents of the Bundle.</summary>
    private static void ValidateSubmissionSet(Parsed parsed, List<NewDocument> newDocs)
    {
        var at = $"Bundle.entry[{parsed.SubmissionIndex}].resource.entry";
        var documents = newDocs.Select(d => d.FullUrl).ToHashSet(StringComparer.Ordinal);
        foreach (var item in parsed.SubmissionSet.Entry)
        {
            // Only the documents of this submission: never another record's or another server's.
            if (item.Item?.Reference is not { } r || !documents.Contains(r))
            {
                throw DmpException.Invalid($"the SubmissionSet lists {item.Item?.Reference ?? "an entry without reference"}, which is not a DocumentReference of this Bundle", at);
            }
        }

        var listed = parsed.SubmissionSet.Entry.Select(x => x.Item!.Reference).ToHashSet(StringComparer.Ordinal);
        foreach (var nd in newDocs)
        {
            if (!listed.Contains(nd.FullUrl))
            {
                throw DmpException.Invalid($"the SubmissionSet does not list the DocumentReference {nd.FullUrl}", at);
            }
        }
    }

    /// <summary>
    /// Step 5: what the documents point to (relatesTo) and what the patches supersede: documents of
    /// the same record that the actor may read (a document they may not see answers exactly like an
    /// absent one), current, and that the actor may replace.
    /// </summary>
    private async Task<Dictionary<string, DocumentEntry>> ResolveReplacedAsync(Parsed parsed, List<NewDocument> newDocs, string recordId, RecordFacts facts, Actor actor, string channel, CancellationToken ct)
    {
        var supersede = new Dictionary<string, DocumentEntry>(StringComparer.Ordinal);
        foreach (var nd in newDocs)
        {
            foreach (var link in nd.Links.Where(l => l.Kind is "replaces" or "transforms" or "appends" or "signs"))
            {
                var target = await VisibleTargetAsync(link.Target, recordId, facts, actor, channel, "relatesTo target", "DocumentReference.relatesTo.target", ct);
                if (link.Kind != "replaces")
                {
                    continue;
                }

                if (target.Status != "current")
                {
                    throw new DmpException(ErrorKind.Conflict, $"DocumentReference/{target.Id} is already {target.Status}: only a current document can be replaced");
                }

                await RequireAsync(new AccessRequest(actor, AccessAction.ReplaceDocument, facts, DocumentResources.Facts(target)), "DocumentReference", target.Id, channel, ct);
                if (((nd.Entry.HiddenFromPatient || nd.Entry.Draft) && !(target.HiddenFromPatient || target.Draft))
                    || (nd.Entry.HiddenFromRepresentatives && !target.HiddenFromRepresentatives))
                {
                    // The patient would see the old version superseded by something they cannot see.
                    throw DmpException.Invalid("a document kept from the patient (or their representatives) cannot replace a document they see: release it first, or submit it without relatesTo", "DocumentReference.relatesTo");
                }

                supersede[target.Id] = target;
            }
        }

        foreach (var (index, targetId, patch) in parsed.Patches)
        {
            ValidatePatch(index, patch);
            if (!supersede.ContainsKey(targetId))
            {
                var target = await VisibleTargetAsync(targetId, recordId, facts, actor, channel, "PATCH target", $"Bundle.entry[{index}].request.url", ct);
                await RequireAsync(new AccessRequest(actor, AccessAction.ReplaceDocument, facts, DocumentResources.Facts(target)), "DocumentReference", target.Id, channel, ct);
                supersede[targetId] = target;
            }
        }

        return supersede;
    }

    /// <summary>A target document the actor may read; absent, erased, of another record or hidden from the actor: one and the same answer.</summary>
    private async Task<DocumentEntry> VisibleTargetAsync(string targetId, string recordId, RecordFacts facts, Actor actor, string channel, string what, string where, CancellationToken ct)
    {
        var target = await db.Documents.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == recordId && x.Id == targetId && !x.Erased, ct);
        if (target is not null)
        {
            var request = await guard.CompleteAsync(new AccessRequest(actor, AccessAction.ReadDocument, facts, DocumentResources.Facts(target)), ct);
            if (AccessPolicy.Decide(request).Permitted)
            {
                return target;
            }

            await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Read, AuditOutcomes.Denied, channel, "DocumentReference", targetId, Detail: "hidden " + what), ct);
        }

        // The message does not repeat the target (it may have been named by its unique id): the client knows what it sent.
        throw DmpException.Invalid($"the {what} is not a document of this patient's record", where);
    }

    /// <summary>The patient's notification of a new document: that one arrived, nothing of what it holds.</summary>
    private static Notifications.PatientNotification NewDocumentNotification(string recordId, string documentId, DateTimeOffset now) => new()
    {
        RecordId = recordId,
        Id = Ids.New(),
        Kind = Notifications.NotificationEvents.NewDocument,
        DedupKey = "document:" + documentId,
        Text = "Un nouveau document a été ajouté à votre dossier médical partagé.",
        CreatedAt = now,
        Status = Notifications.NotificationStatus.Pending,
    };

    /// <summary>The outbox events subscriptions may want: the new document, and each dispensing it carries.</summary>
    private int AddSubscriptionEvents(string recordId, NewDocument nd, bool documents, bool dispensings, DateTimeOffset now)
    {
        var added = 0;
        if (documents)
        {
            db.RecordEvents.Add(new Alerts.RecordEvent { RecordId = recordId, Id = Ids.New(), Kind = Subscriptions.SubscriptionFanOut.DocumentEvent, SubjectId = nd.Entry.Id, DocumentId = nd.Entry.Id, CreatedAt = now });
            added++;
        }

        if (dispensings)
        {
            foreach (var c in nd.Clinical.Where(c => c.ResourceType == "MedicationDispense" && c.RequestId is not null))
            {
                db.RecordEvents.Add(new Alerts.RecordEvent { RecordId = recordId, Id = Ids.New(), Kind = Subscriptions.SubscriptionFanOut.DispenseEvent, SubjectId = c.Id, DocumentId = nd.Entry.Id, CreatedAt = now });
                added++;
            }
        }

        return added;
    }

    /// <summary>Step 6: content first (outside the record's gate: new keys, no contention), then the metadata in one transaction under the gate.</summary>
    private async System.Threading.Tasks.Task WriteAsync(string recordId, List<NewDocument> newDocs, Dictionary<string, DocumentEntry> supersede, SubmissionSet ssEntry, Actor actor, string channel, DateTimeOffset now, Action<DmpDbContext, string, string>? alsoWrite, CancellationToken ct)
    {
        var written = new List<string>();
        var alertEvents = 0;
        // Subscriptions are told of new documents and dispensings through the same outbox, only when
        // some subscription wants them (no event row otherwise).
        var wanted = await subscriptions.WantedAsync(db, ct);
        var notifyDocuments = wanted.Contains(Subscriptions.SubscriptionTopics.NewDocument);
        var notifyDispensings = wanted.Contains(Subscriptions.SubscriptionTopics.PrescriptionExecuted);
        // The patient is told of documents a professional files where the patient can see them, when
        // the patient asked for it (one indexed lookup; nothing is written otherwise).
        var forPatient = actor.Kind is ActorKind.Professional or ActorKind.Staff or ActorKind.System
            ? newDocs.Where(d => !d.Entry.HiddenFromPatient && !d.Entry.Draft).ToList() : [];
        if (forPatient.Count > 0 && !await db.NotificationChoices.AnyAsync(c => c.RecordId == recordId && c.Event == Notifications.NotificationEvents.NewDocument, ct))
        {
            forPatient.Clear();
        }

        try
        {
            foreach (var nd in newDocs)
            {
                await store.PutAsync(db, recordId, nd.Entry.ContentKey, nd.Content, ct);
                written.Add(nd.Entry.ContentKey);
            }

            // New content rows (database content store) go in the same batch as the documents: one
            // round trip less than writing them before the lock, for a few more kilobytes under it.
            await using var scope = await gate.EnterAsync(db, recordId, ct);
            var status = scope.LockedRecordStatus ?? await db.Records.AsNoTracking().Where(x => x.RecordId == recordId).Select(x => x.Status).FirstAsync(ct);
            if (status != RecordStatus.Open)
            {
                throw status == RecordStatus.Merged ? new DmpException(ErrorKind.Conflict, "this identity was just merged into another (identity vigilance): file the documents under the surviving patient")
                    : DmpException.Invalid("the patient's record is closed: it accepts no documents");
            }

            foreach (var nd in newDocs)
            {
                db.Documents.Add(nd.Entry);
                db.DocumentLinks.AddRange(nd.Links);
                db.Observations.AddRange(nd.Results);
                db.Observations.AddRange(nd.SentResults);
                alertEvents += Alerts.AlertService.AddResultEvents(db, alertOptions, recordId, nd.Entry.Id, nd.Results.Concat(nd.SentResults), nd.Lab.PrescriberRpps, now);
                alertEvents += AddSubscriptionEvents(recordId, nd, notifyDocuments, notifyDispensings, now);
                foreach (var r in nd.SentResults)
                {
                    await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "Observation", r.Id, Mode: "provide"), ct);
                }

                await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "DocumentReference", nd.Entry.Id, Mode: "provide"), ct);
                if (nd.Clinical.Count > 0)
                {
                    // Quantities and renewals are checked here, where concurrent dispensings of the record are serialised.
                    await intake.CheckDispensingAsync(recordId, nd.Clinical, now, ct);
                    db.ClinicalEntries.AddRange(nd.Clinical);
                    foreach (var c in nd.Clinical)
                    {
                        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, c.ResourceType, c.Id, Mode: "provide"), ct);
                    }
                }
            }

            foreach (var target in supersede.Values)
            {
                var tracked = await db.Documents.FirstAsync(x => x.RecordId == recordId && x.Id == target.Id, ct);
                if (tracked.Status != "current")
                {
                    throw new DmpException(ErrorKind.Conflict, $"DocumentReference/{tracked.Id} was superseded meanwhile");
                }

                DocumentResources.SetStatus(tracked, "superseded", now);
                await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Replace, "success", channel, "DocumentReference", tracked.Id), ct);
            }

            foreach (var nd in forPatient)
            {
                db.Notifications.Add(NewDocumentNotification(recordId, nd.Entry.Id, now));
            }

            db.SubmissionSets.Add(ssEntry);
            await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "List", ssEntry.Id, Mode: "provide"), ct);
            alsoWrite?.Invoke(db, recordId, ssEntry.Id);
            await db.SaveChangesAsync(ct);
            await CommitOrCheckAsync(scope, recordId, ssEntry.Id, ct);
            OpenDmp.Core.Common.DmpTelemetry.DocumentsFiled.Add(newDocs.Count);
            if (alertEvents > 0)
            {
                alertSignal.Wake();
            }

            if (forPatient.Count > 0)
            {
                notificationSignal.Wake();
            }
        }
        catch (Exception ex)
        {
            db.ChangeTracker.Clear();
            foreach (var key in written)
            {
                await store.DiscardAsync(recordId, key);
            }

            // The unique index (record_id, master_identifier) is the duplicate check.
            if (ex is DbUpdateException && UniqueViolation.Is(ex))
            {
                throw new DmpException(ErrorKind.Conflict, "a document with the same masterIdentifier already exists in this record");
            }

            throw;
        }
    }

    /// <summary>
    /// Commits. When the connection is lost during the commit (the primary died), the outcome is
    /// unknown: it is never guessed nor retried blindly — the submission set's row is looked up on the
    /// database once a primary answers. Committed: the submission succeeded. Not committed: 503, and
    /// sending the same transaction again is safe. No answer: 503 telling to search by
    /// masterIdentifier before sending again.
    /// </summary>
    private async System.Threading.Tasks.Task CommitOrCheckAsync(WriteScope scope, string recordId, string submissionSetId, CancellationToken ct)
    {
        try
        {
            await scope.CommitAsync(ct);
            return;
        }
        catch (Exception ex) when (DatabaseFailures.IsUnavailable(ex) && db.Database.IsNpgsql())
        {
        }

        var committed = await DatabaseFailures.RowExistsAsync(db.Database.GetConnectionString()!, "SELECT 1 FROM submission_sets WHERE record_id = @r AND id = @id",
            new Dictionary<string, object> { ["r"] = recordId, ["id"] = submissionSetId }, TimeSpan.FromSeconds(45), ct);
        OpenDmp.Core.Common.DmpTelemetry.CommitChecks.Add(1, new KeyValuePair<string, object?>("outcome", committed switch { true => "committed", false => "not-committed", null => "unknown" }));
        if (committed == true)
        {
            return;
        }

        throw committed is false
            ? new DmpException(ErrorKind.Unavailable, "the database switched over while the documents were being filed: nothing was filed; send the same transaction again") { RetryAfter = TimeSpan.FromSeconds(2) }
            : new DmpException(ErrorKind.Unavailable, "the database switched over while the documents were being filed and has not answered since: search by masterIdentifier before sending the transaction again") { RetryAfter = TimeSpan.FromSeconds(5) };
    }

    /// <summary>An absolute reference to another server is refused: OpenDMP resolves its own resources only.</summary>
    private void RejectForeign(string? reference, string where)
    {
        if (server.IsForeign(reference))
        {
            throw DmpException.Invalid($"the reference {reference} designates another server: reference a resource of this platform (Type/[id] or Type?identifier=...)", where);
        }
    }

    private Task<GuardedAccess> RequireAsync(AccessRequest request, string objectType, string? objectId, string channel, CancellationToken ct) =>
        guard.RequireAsync(request, request.Action == AccessAction.ReplaceDocument ? AuditAction.Replace : AuditAction.Create, objectType, objectId, channel, auditPermit: false, ct, "you are not authorised to write to this patient's record");

    private async Task<NewDocument> ValidateDocumentAsync(int index, string fullUrl, DocumentReference doc, Dictionary<string, Binary> binaries, string recordId, string submitterId, string submissionSetId, bool patientIsTest, DateTimeOffset now, CancellationToken ct)
    {
        var at = $"Bundle.entry[{index}].resource";
        if (string.IsNullOrEmpty(fullUrl))
        {
            throw DmpException.Invalid("a DocumentReference needs a fullUrl so that the SubmissionSet can list it", $"Bundle.entry[{index}].fullUrl");
        }

        if (doc.MasterIdentifier?.Value is not { Length: > 0 } master)
        {
            throw DmpException.Invalid("DocumentReference.masterIdentifier (the document's unique id) is required", at + ".masterIdentifier");
        }

        if (doc.Status != DocumentReferenceStatus.Current)
        {
            throw DmpException.Invalid("a new DocumentReference must have status 'current'", at + ".status");
        }

        var type = Require(Terminology.TypeCodesUrl, doc.Type, at + ".type", "type", now);
        var cls = doc.Category.Count == 0
            ? throw DmpException.Invalid("DocumentReference.category (class code, JDV_J06) is required", at + ".category")
            : Require(Terminology.ClassCodesUrl, doc.Category.FirstOrDefault(c => c.Coding.Any(x => _terms.Find(Terminology.ClassCodesUrl, x.System, x.Code) is not null)) ?? doc.Category[0], at + ".category", "category", now);
        if (doc.Date is null)
        {
            throw DmpException.Invalid("DocumentReference.date is required", at + ".date");
        }

        if (doc.Author.Count == 0)
        {
            throw DmpException.Invalid("DocumentReference.author is required", at + ".author");
        }

        RejectForeign(doc.Author[0].Reference, at + ".author[0]");
        var author = await References.ResolveAuthorAsync(db, doc.Author[0], doc.Contained, ct)
            ?? throw DmpException.Invalid("DocumentReference.author must identify the author (identifier or name)", at + ".author[0]");
        var confidentiality = Confidentiality(doc, at, now);
        if (doc.Content.Count != 1)
        {
            throw DmpException.Invalid("exactly one DocumentReference.content is expected", at + ".content");
        }

        var content = doc.Content[0];
        var att = content.Attachment ?? throw DmpException.Invalid("DocumentReference.content.attachment is required", at + ".content[0].attachment");
        if (string.IsNullOrEmpty(att.ContentType))
        {
            throw DmpException.Invalid("attachment.contentType is required", at + ".content[0].attachment.contentType");
        }

        var format = content.Format is null
            ? throw DmpException.Invalid($"content.format: a code of {_terms.ValueSet(Terminology.FormatCodesUrl)?.Name} is required", at + ".content[0].format")
            : Checked(Terminology.FormatCodesUrl, content.Format.System, content.Format.Code, at + ".content[0].format", "content.format", now);
        var facility = Require(Terminology.FacilityTypesUrl, doc.Context?.FacilityType, at + ".context.facilityType", "facilityType", now);
        var setting = Require(Terminology.PracticeSettingsUrl, doc.Context?.PracticeSetting, at + ".context.practiceSetting", "practiceSetting", now);

        byte[] bytes;
        if (att.Data is { } inline)
        {
            bytes = inline;
        }
        else if (att.Url is { } url)
        {
            bytes = binaries.TryGetValue(url, out var bin)
                ? bin.Data ?? throw DmpException.Invalid($"the Binary {url} has no data", at + ".content[0].attachment.url")
                : throw DmpException.Invalid($"attachment.url {url} designates no Binary of the Bundle", at + ".content[0].attachment.url");
        }
        else
        {
            throw DmpException.Invalid("attachment.url (pointing to a Binary of the Bundle) is required", at + ".content[0].attachment.url");
        }

        if (bytes.LongLength > options.MaxContentBytes)
        {
            throw new DmpException(ErrorKind.TooLarge, $"the document is {bytes.LongLength} bytes; the limit is {options.MaxContentBytes} bytes", at + ".content[0].attachment");
        }

        DocumentMapping.CheckContent(att.ContentType, bytes, at + ".content[0].attachment");
        var size = FhirJson.SizeOf(att) ?? throw DmpException.Invalid("attachment.size is required", at + ".content[0].attachment.size");
        if (size != bytes.LongLength)
        {
            throw DmpException.Invalid($"attachment.size says {size} bytes but the content has {bytes.LongLength}", at + ".content[0].attachment.size");
        }

#pragma warning disable CA5350 // FHIR R4 Attachment.hash is defined as SHA-1; it is an integrity check here, not a security one.
        var sha1 = Convert.ToBase64String(SHA1.HashData(bytes));
#pragma warning restore CA5350
        if (att.Hash is null)
        {
            throw DmpException.Invalid("attachment.hash (SHA-1 of the content, base64) is required", at + ".content[0].attachment.hash");
        }

        if (Convert.ToBase64String(att.Hash) != sha1)
        {
            throw DmpException.Invalid("attachment.hash does not match the content (SHA-1, base64)", at + ".content[0].attachment.hash");
        }

        var id = Ids.New();
        var nd = new NewDocument
        {
            Resource = doc,
            FullUrl = fullUrl,
            Content = bytes,
            BinaryFullUrl = att.Data is null ? att.Url : null,
            Lab = format.Code == OpenDmp.Core.Clinical.CdaResults.LabFormat && SimplifiedPublish.CdaMediaTypes.Contains(att.ContentType)
                ? OpenDmp.Core.Clinical.CdaResults.Extract(bytes, recordId, id, patientIsTest, doc.Date)
                : OpenDmp.Core.Clinical.LabReport.Empty,
            Entry = DocumentMapping.ToEntry(doc, new DocumentCodes(type.System, type.Code, type.Display, cls.System, cls.Code, cls.Display, format.Code, facility.Code, setting.Code, confidentiality.Code),
                author, att.ContentType, bytes, sha1, recordId, id, master, "current", submitterId, submissionSetId, patientIsTest, now),
        };

        foreach (var rel in doc.RelatesTo)
        {
            if (rel.Code is null || (rel.Target?.Reference is null && rel.Target?.Identifier?.Value is null))
            {
                throw DmpException.Invalid("relatesTo needs a code and a target (reference DocumentReference/[id], or identifier = the target's masterIdentifier)", at + ".relatesTo");
            }

            string targetId;
            if (rel.Target.Reference is null)
            {
                // A logical reference by the target's unique id (what a CDA's relatedDocument names); an
                // id this record does not hold answers like a document the actor may not see.
                var unique = rel.Target!.Identifier!.Value;
                targetId = await db.Documents.AsNoTracking().Where(x => x.RecordId == recordId && x.MasterIdentifier == unique && !x.Erased).Select(x => x.Id).FirstOrDefaultAsync(ct)
                    ?? throw DmpException.Invalid("the relatesTo target is not a document of this patient's record", "DocumentReference.relatesTo.target");
            }
            else
            {
                RejectForeign(rel.Target.Reference, at + ".relatesTo.target");
                targetId = References.LogicalId(rel.Target.Reference, "DocumentReference")
                    ?? throw DmpException.Invalid($"relatesTo.target must be DocumentReference/[id], got {rel.Target.Reference}", at + ".relatesTo.target");
            }

            var code = Hl7.Fhir.Utility.EnumUtility.GetLiteral(rel.Code)!;
            nd.Links.Add(new DocumentLink { RecordId = recordId, DocumentId = id, Kind = code, Target = targetId });
            rel.Target = new ResourceReference("DocumentReference/" + targetId);
        }

        foreach (var related in doc.Context?.Related ?? [])
        {
            var target = related.Reference ?? (related.Identifier is { } ri ? $"{ri.System}|{ri.Value}" : null);
            if (target is not null && nd.Links.All(l => !(l.Kind == "related" && l.Target == target)))
            {
                nd.Links.Add(new DocumentLink { RecordId = recordId, DocumentId = id, Kind = "related", Target = target });
            }
        }

        // The stored resource: server ids, content by reference, the patient as a local reference.
        doc.Id = id;
        doc.Meta = DocumentResources.NewMeta(doc.Meta, now);
        doc.Subject = new ResourceReference("Patient/" + recordId);
        att.Data = null;
        att.Url = "Binary/" + id;
        DocumentResources.MarkTest(doc.Meta, patientIsTest);
        nd.Entry.ResourceJson = FhirJson.Serialize(doc);
        return nd;
    }

    private static void ValidatePatch(int index, Parameters patch)
    {
        var ops = patch.Parameter.Where(p => p.Name == "operation").ToList();
        if (ops.Count == 0)
        {
            throw DmpException.Invalid("the PATCH Parameters hold no operation", $"Bundle.entry[{index}].resource");
        }

        foreach (var op in ops)
        {
            var type = (op.Part.FirstOrDefault(p => p.Name == "type")?.Value as Code)?.Value;
            var path = (op.Part.FirstOrDefault(p => p.Name == "path")?.Value as FhirString)?.Value;
            var value = op.Part.FirstOrDefault(p => p.Name == "value")?.Value?.ToString();
            if (type != "replace" || path != "DocumentReference.status" || value != "superseded")
            {
                throw DmpException.Invalid("only the FHIRPath Patch 'replace DocumentReference.status with superseded' is accepted (use relatesTo to replace a document)", $"Bundle.entry[{index}].resource");
            }
        }
    }

    private static SubmissionSet BuildSubmissionSet(List list, string id, string recordId, List<NewDocument> docs, string submitterId, bool isTest, DateTimeOffset now)
    {
        var master = list.Identifier.FirstOrDefault(x => x.Use == Identifier.IdentifierUse.Usual)?.Value
            ?? list.Identifier.FirstOrDefault()?.Value
            ?? "urn:uuid:" + Guid.NewGuid();
        var sourceId = (list.GetExtension(SourceIdExtension)?.Value as Identifier)?.Value;
        var byUrl = docs.ToDictionary(d => d.FullUrl, d => d.Entry.Id, StringComparer.Ordinal);
        foreach (var e in list.Entry)
        {
            if (e.Item?.Reference is { } r && byUrl.TryGetValue(r, out var docId))
            {
                e.Item = new ResourceReference("DocumentReference/" + docId);
            }
        }

        list.Id = id;
        list.Meta = DocumentResources.NewMeta(list.Meta, now);
        list.Subject = new ResourceReference("Patient/" + recordId);
        DocumentResources.MarkTest(list.Meta, isTest);
        return new SubmissionSet
        {
            RecordId = recordId,
            Id = id,
            MasterIdentifier = master,
            SourceId = sourceId,
            Date = DocumentResources.ParseInstant(list.Date) ?? now,
            AuthorIdentifier = docs[0].Entry.AuthorIdentifier,
            SubmitterId = submitterId,
            IsTestIdentity = isTest,
            ResourceJson = FhirJson.Serialize(list),
        };
    }

    private static Bundle BuildResponse(Bundle request, int submissionIndex, SubmissionSet ss, List<NewDocument> docs, List<(int Index, string TargetId, Parameters Patch)> patches, Dictionary<string, DocumentEntry> superseded)
    {
        var response = new Bundle { Type = Bundle.BundleType.TransactionResponse, Id = Ids.New() };
        for (var i = 0; i < request.Entry.Count; i++)
        {
            var e = request.Entry[i];
            string status;
            string location;
            if (i == submissionIndex)
            {
                (status, location) = ("201 Created", $"List/{ss.Id}/_history/1");
            }
            else if (docs.FirstOrDefault(d => d.FullUrl == e.FullUrl && e.Resource is DocumentReference) is { } nd)
            {
                (status, location) = ("201 Created", $"DocumentReference/{nd.Entry.Id}/_history/1");
            }
            else if (e.Resource is { Id: { } rid } && docs.SelectMany(d => d.Clinical).FirstOrDefault(c => c.Id == rid && c.ResourceType == e.Resource.TypeName) is { } entry)
            {
                (status, location) = ("201 Created", $"{entry.ResourceType}/{entry.Id}/_history/1");
            }
            else if (e.Resource is Observation { Id: { } oid } && docs.SelectMany(d => d.SentResults).Any(r => r.Id == oid))
            {
                (status, location) = ("201 Created", $"Observation/{oid}/_history/1");
            }
            else if (patches.FirstOrDefault(p => p.Index == i) is { Patch: not null } patch)
            {
                (status, location) = ("200 OK", $"DocumentReference/{patch.TargetId}/_history/{superseded[patch.TargetId].VersionId + 1}");
            }
            else
            {
                var owner = docs.FirstOrDefault(d => d.BinaryFullUrl is not null && d.BinaryFullUrl == e.FullUrl);
                (status, location) = ("201 Created", owner is null ? "Binary" : $"Binary/{owner.Entry.Id}");
            }

            response.Entry.Add(new Bundle.EntryComponent { Response = new Bundle.ResponseComponent { Status = status, Location = location } });
        }

        return response;
    }

    /// <summary>The coding of a CodeableConcept that is in the value set in force and usable for a new document; 422 naming the field otherwise.</summary>
    private Concept Require(string valueSetUrl, CodeableConcept? cc, string where, string name, DateTimeOffset now)
    {
        var vsName = _terms.ValueSet(valueSetUrl)?.Name ?? valueSetUrl;
        if (cc is null || cc.Coding.Count == 0)
        {
            throw DmpException.Invalid($"DocumentReference.{name} ({vsName}) is required", where);
        }

        var checks = cc.Coding.Select(c => _terms.Check(valueSetUrl, c.System, c.Code, now)).ToList();
        return checks.FirstOrDefault(c => c.Ok)?.Concept
            ?? throw DmpException.Invalid($"DocumentReference.{name}: {checks.FirstOrDefault(c => c.Concept is not null)?.Problem ?? $"{Describe(cc)} is not in {vsName}"}", where);
    }

    private Concept Checked(string valueSetUrl, string? system, string? code, string where, string name, DateTimeOffset now)
    {
        var check = _terms.Check(valueSetUrl, system, code, now);
        return check.Ok ? check.Concept! : throw DmpException.Invalid($"{name}: {check.Problem}", where);
    }

    /// <summary>
    /// The confidentiality code (JDV_J08, TRE_A08 N/R/V) among the security labels; the visibility
    /// statuses of TRE_A07 travel beside it and must be codes of JDV_J08 too.
    /// </summary>
    private Concept Confidentiality(DocumentReference doc, string at, DateTimeOffset now)
    {
        Concept? confidentiality = null;
        foreach (var coding in doc.SecurityLabel.SelectMany(l => l.Coding).Where(c => _terms.Canonical(c.System) is Terminology.ConfidentialityAnsSystem or Terminology.VisibilityCanonicalSystem))
        {
            // The PDSm examples write the normal confidentiality as code N of TRE_A07 (which has no N):
            // read as TRE_A08 N, the only meaning it can have (ADR 0016).
            var system = _terms.Canonical(coding.System) == Terminology.VisibilityCanonicalSystem && coding.Code == "N" ? Terminology.ConfidentialityAnsSystem : coding.System;
            var check = Checked(Terminology.ConfidentialityCodesUrl, system, coding.Code, at + ".securityLabel", "DocumentReference.securityLabel", now);
            if (check.System != Terminology.VisibilityCanonicalSystem)
            {
                confidentiality ??= check;
            }
        }

        return confidentiality ?? throw DmpException.Invalid($"DocumentReference.securityLabel: a confidentiality code (N, R or V of TRE_A08, {_terms.ValueSet(Terminology.ConfidentialityCodesUrl)?.Name}) is required", at + ".securityLabel");
    }

    private static string Describe(CodeableConcept cc) => string.Join(", ", cc.Coding.Select(c => $"{c.System}|{c.Code}"));
}
