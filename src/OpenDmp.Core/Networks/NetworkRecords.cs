using System.Text;
using Bundle = Hl7.Fhir.Model.Bundle;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Networks;

/// <summary>A patient's enrolment in a health network (réseau de santé), with their consent; ended by a withdrawal.</summary>
public sealed class NetworkEnrolment
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    /// <summary>The network: a group of kind network in the directory.</summary>
    public required string NetworkId { get; set; }
    public DateTimeOffset EnrolledAt { get; set; }
    /// <summary>Who enrolled the patient: the member who collected the consent, or the patient.</summary>
    public required string EnrolledBy { get; set; }
    public DateTimeOffset? WithdrawnAt { get; set; }
    public string? WithdrawnBy { get; set; }
}

/// <summary>
/// A document of a network's record space for one patient (the network's patient file, a
/// coordination document, a message between members): content sealed under the record's key.
/// </summary>
public sealed class NetworkDocument
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string NetworkId { get; set; }
    /// <summary>patient-file, coordination or communication.</summary>
    public required string Kind { get; set; }
    public required string Title { get; set; }
    public required string ContentType { get; set; }
    public long Size { get; set; }
    public required string AuthorId { get; set; }
    public required string AuthorDisplay { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>AES-256-GCM under the record's data key, associated data "network/{record}/{id}".</summary>
    public required byte[] SealedContent { get; set; }
    /// <summary>Set when a member published it into the national record (the DocumentReference filed).</summary>
    public string? PublishedDocumentId { get; set; }
    public string? PublishedSubmissionSetId { get; set; }
}

/// <summary>A network document as its readers see it (no content).</summary>
public sealed record NetworkItem(string Id, string Kind, string Title, string ContentType, long Size, string AuthorDisplay, DateTimeOffset CreatedAt, string? PublishedDocumentId);

/// <summary>An enrolment as listed.</summary>
public sealed record EnrolmentItem(string Id, string NetworkId, string NetworkName, DateTimeOffset EnrolledAt, DateTimeOffset? WithdrawnAt);

/// <summary>
/// Network records (réseaux de santé): a network holds its own record space for the patients it
/// enrolled with their consent, where its members have rights through the network — not through the
/// national record, of which membership gives nothing. Every enrolment, withdrawal, listing, reading
/// and writing goes through the access policy (<see cref="AccessAction.ReadNetworkRecord"/> …) and
/// onto the patient's audit chain, which the patient reads. A member may publish a network document
/// into the national record: an ordinary ITI-65 filing, under the national record's rules.
/// </summary>
public sealed class NetworkRecords(DmpDbContext db, WriteGate gate, AuditTrail audit, RecordGuard guard, KeyRing keys, ProvideDocumentBundle provide, TimeProvider time)
{
    public const string Network = "network";
    public const int MaxContentBytes = 5 * 1024 * 1024;
    public const int MaxTitleLength = 200;
    public static readonly IReadOnlyList<string> Kinds = ["patient-file", "coordination", "communication"];

    /// <summary>What may be stored: what the platform can serve as inert content, and publish with an ANS format code.</summary>
    public static readonly IReadOnlyDictionary<string, string> FormatCodes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["text/plain"] = "urn:ihe:iti:xds-sd:text:2008",
        ["application/pdf"] = "urn:ihe:iti:xds-sd:pdf:2008",
    };

    /// <summary>Enrols the patient in the network: the patient's consent is required and stated.</summary>
    public async Task<NetworkEnrolment> EnrolAsync(string recordId, string networkId, bool consent, Actor actor, string channel, CancellationToken ct)
    {
        if (!consent)
        {
            throw DmpException.Invalid("enrolment in a network needs the patient's consent: state it (consent=true) once the patient agreed");
        }

        var (_, facts) = await RequireAsync(recordId, networkId, actor, AccessAction.EnrolNetwork, AuditAction.NetworkEnrol, null, channel, false, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (await db.NetworkEnrolments.AnyAsync(e => e.RecordId == recordId && e.NetworkId == networkId && e.WithdrawnAt == null, ct))
        {
            throw new DmpException(ErrorKind.Conflict, $"the patient is already enrolled in the network {facts.Name}");
        }

        var enrolment = new NetworkEnrolment { RecordId = recordId, Id = Ids.New(), NetworkId = networkId, EnrolledAt = time.GetUtcNow(), EnrolledBy = actor.Id };
        db.NetworkEnrolments.Add(enrolment);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.NetworkEnrol, AuditOutcomes.Success, channel, "Group", networkId, Network,
            $"enrolled in the network {facts.Name} with the patient's consent"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return enrolment;
    }

    /// <summary>Ends the enrolment (the patient, or a member for the patient): the members' rights end at once; the network's documents stay, unread.</summary>
    public async Task WithdrawAsync(string recordId, string networkId, Actor actor, string channel, CancellationToken ct)
    {
        var (_, facts) = await RequireAsync(recordId, networkId, actor, AccessAction.WithdrawNetwork, AuditAction.NetworkWithdraw, null, channel, false, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var now = time.GetUtcNow();
        var ended = await db.NetworkEnrolments.Where(e => e.RecordId == recordId && e.NetworkId == networkId && e.WithdrawnAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(e => e.WithdrawnAt, now).SetProperty(e => e.WithdrawnBy, actor.Id), ct);
        if (ended == 0)
        {
            throw new DmpException(ErrorKind.Conflict, $"the patient is not enrolled in the network {facts.Name}");
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.NetworkWithdraw, AuditOutcomes.Success, channel, "Group", networkId, Network,
            $"withdrawn from the network {facts.Name}"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The patient's enrolments (current and past): the patient's own view, audited.</summary>
    public async Task<IReadOnlyList<EnrolmentItem>> EnrolmentsAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Search, "Group", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), AuditAction.Search, "Group", null, channel, auditPermit: true, ct);
        var rows = await db.NetworkEnrolments.AsNoTracking().Where(e => e.RecordId == recordId).OrderByDescending(e => e.EnrolledAt).ToListAsync(ct);
        var ids = rows.Select(r => r.NetworkId).Distinct().ToList();
        var names = await db.CareGroups.AsNoTracking().Where(g => ids.Contains(g.Id)).ToDictionaryAsync(g => g.Id, g => g.Name, StringComparer.Ordinal, ct);
        return [.. rows.Select(r => new EnrolmentItem(r.Id, r.NetworkId, names.GetValueOrDefault(r.NetworkId) ?? r.NetworkId, r.EnrolledAt, r.WithdrawnAt))];
    }

    /// <summary>The network's documents for this patient, newest first.</summary>
    public async Task<IReadOnlyList<NetworkItem>> ListAsync(string recordId, string networkId, Actor actor, string channel, CancellationToken ct)
    {
        await RequireAsync(recordId, networkId, actor, AccessAction.ReadNetworkRecord, AuditAction.Search, null, channel, true, ct);
        return await db.NetworkDocuments.AsNoTracking().Where(d => d.RecordId == recordId && d.NetworkId == networkId).OrderByDescending(d => d.CreatedAt).ThenBy(d => d.Id)
            .Select(d => new NetworkItem(d.Id, d.Kind, d.Title, d.ContentType, d.Size, d.AuthorDisplay, d.CreatedAt, d.PublishedDocumentId)).ToListAsync(ct);
    }

    /// <summary>One document with its content.</summary>
    public async Task<(NetworkItem Item, byte[] Content)> ReadAsync(string recordId, string networkId, string documentId, Actor actor, string channel, CancellationToken ct)
    {
        await RequireAsync(recordId, networkId, actor, AccessAction.ReadNetworkRecord, AuditAction.Retrieve, documentId, channel, true, ct);
        var doc = await db.NetworkDocuments.AsNoTracking().FirstOrDefaultAsync(d => d.RecordId == recordId && d.NetworkId == networkId && d.Id == documentId, ct)
            ?? throw DmpException.NotFound($"no document {documentId} in this network record");
        var key = await keys.FindAsync(db, recordId, ct) ?? throw new DmpException(ErrorKind.Gone, "the record's content was destroyed");
        var content = KeyRing.Open(key, doc.SealedContent, Associated(recordId, doc.Id)) ?? throw new InvalidOperationException("a network document that does not open under its record's key");
        return (Item(doc), content);
    }

    /// <summary>A member adds a document to the network record of an enrolled patient.</summary>
    public async Task<NetworkItem> AddAsync(string recordId, string networkId, string kind, string title, string contentType, byte[] content, Actor actor, string channel, CancellationToken ct)
    {
        if (!Kinds.Contains(kind))
        {
            throw DmpException.Invalid($"the kind of a network document is {string.Join(", ", Kinds)}; got '{kind}'", "kind");
        }

        title = title.Trim();
        if (title.Length is 0 or > MaxTitleLength)
        {
            throw DmpException.Invalid($"a network document needs a title of 1 to {MaxTitleLength} characters", "title");
        }

        if (!FormatCodes.ContainsKey(contentType))
        {
            throw DmpException.Invalid($"a network document is {string.Join(" or ", FormatCodes.Keys)}; got '{contentType}'", "contentType");
        }

        if (content.Length is 0 or > MaxContentBytes)
        {
            throw new DmpException(content.Length == 0 ? ErrorKind.BadRequest : ErrorKind.TooLarge, $"a network document holds 1 byte to {MaxContentBytes / (1024 * 1024)} MiB; got {content.Length} bytes");
        }

        if (contentType == "text/plain" && !IsUtf8(content))
        {
            throw DmpException.Invalid("a text/plain network document is UTF-8 text", "content");
        }

        if (contentType == "application/pdf" && !content.AsSpan().StartsWith("%PDF-"u8))
        {
            throw DmpException.Invalid("the content is not a PDF document (no %PDF- header)", "content");
        }

        await RequireAsync(recordId, networkId, actor, AccessAction.WriteNetworkRecord, AuditAction.Create, null, channel, false, ct);
        var key = await keys.GetOrCreateAsync(db, recordId, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        // The patient may have withdrawn since the decision: checked again under the record's gate.
        if (!await db.NetworkEnrolments.AnyAsync(e => e.RecordId == recordId && e.NetworkId == networkId && e.WithdrawnAt == null, ct))
        {
            throw new DmpException(ErrorKind.Forbidden, "the patient withdrew from this network");
        }

        var id = Ids.New();
        var doc = new NetworkDocument
        {
            RecordId = recordId, Id = id, NetworkId = networkId, Kind = kind, Title = title, ContentType = contentType, Size = content.Length,
            AuthorId = actor.Id, AuthorDisplay = actor.Display, CreatedAt = time.GetUtcNow(), SealedContent = KeyRing.Seal(key, content, Associated(recordId, id)),
        };
        db.NetworkDocuments.Add(doc);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, AuditOutcomes.Success, channel, "NetworkDocument", id, Network, $"network {networkId}: {kind}"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return Item(doc);
    }

    /// <summary>
    /// Publishes a network document into the national record with the usual metadata (ITI-65, the
    /// national record's policy: the member needs an authorisation there). Returns the DocumentReference id.
    /// </summary>
    public async Task<string> PublishAsync(string recordId, string networkId, string documentId, string? typeCode, string? classCode, Actor actor, string channel, CancellationToken ct)
    {
        var (item, content) = await ReadAsync(recordId, networkId, documentId, actor, channel, ct);
        // The filing's transaction marks the submission set; the document's id follows it.
        if (await db.NetworkDocuments.AsNoTracking().AnyAsync(d => d.RecordId == recordId && d.Id == documentId && d.PublishedSubmissionSetId != null, ct))
        {
            throw new DmpException(ErrorKind.Conflict, item.PublishedDocumentId is { } published
                ? $"this network document was already published as DocumentReference/{published}"
                : "this network document was already published into the national record");
        }

        var rpps = await db.Professionals.AsNoTracking().Where(p => p.Id == actor.Id).Select(p => p.Rpps).FirstOrDefaultAsync(ct)
            ?? throw new DmpException(ErrorKind.Forbidden, "only a professional with an RPPS number publishes into the national record");
        var toSubmit = new DocumentToSubmit(content, item.ContentType, item.Title, TypeCode: typeCode ?? "11488-4", ClassCode: classCode ?? "10", FormatCode: FormatCodes[item.ContentType]);
        var bundle = SubmissionBuilder.Build($"Patient/{recordId}", rpps, actor.Display, [toSubmit]);
        var tracked = new NetworkDocument
        {
            RecordId = recordId, Id = documentId, NetworkId = networkId, Kind = item.Kind, Title = item.Title, ContentType = item.ContentType,
            AuthorId = string.Empty, AuthorDisplay = string.Empty, SealedContent = [],
        };
        // Marked in the filing's own transaction: a document is published once.
        Bundle response;
        try
        {
            response = await provide.HandleAsync(bundle, actor, channel, ct, (context, _, submissionSet) =>
            {
                context.NetworkDocuments.Attach(tracked);
                tracked.PublishedSubmissionSetId = submissionSet;
            });
        }
        finally
        {
            // The stand-in row must not reach a later unit of work of this scope (after a refusal above all).
            db.Entry(tracked).State = EntityState.Detached;
        }

        var filed = response.Entry.Select(e => e.Response?.Location).First(l => l is not null && l.StartsWith("DocumentReference/", StringComparison.Ordinal))!.Split('/')[1];
        await db.NetworkDocuments.Where(d => d.RecordId == recordId && d.Id == documentId).ExecuteUpdateAsync(u => u.SetProperty(d => d.PublishedDocumentId, filed), ct);
        return filed;
    }

    private static NetworkItem Item(NetworkDocument d) => new(d.Id, d.Kind, d.Title, d.ContentType, d.Size, d.AuthorDisplay, d.CreatedAt, d.PublishedDocumentId);

    private static byte[] Associated(string recordId, string id) => Encoding.UTF8.GetBytes($"network/{recordId}/{id}");

    private static bool IsUtf8(byte[] content)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetString(content);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>The record's facts, the network's facts for this actor, then the policy's decision (a refusal is audited on the patient's chain).</summary>
    private async Task<(GuardedAccess Access, NetworkFacts Facts)> RequireAsync(string recordId, string networkId, Actor actor, AccessAction action, AuditAction verb, string? documentId, string channel, bool auditPermit, CancellationToken ct)
    {
        var objectType = documentId is null ? "Group" : "NetworkDocument";
        var record = await guard.RequireFactsAsync(recordId, actor, verb, objectType, channel, ct);
        var network = await db.CareGroups.AsNoTracking().FirstOrDefaultAsync(g => g.Id == networkId && g.Kind == Network, ct);
        if (network is null)
        {
            await guard.AuditAsync(new AuditItem(recordId, actor, verb, AuditOutcomes.NotFound, channel, "Group", networkId.Length > 64 ? networkId[..64] : networkId, Detail: "no such network"), ct);
            throw DmpException.NotFound($"no network {networkId} in the directory");
        }

        var member = actor.Kind == ActorKind.Professional && await db.CareGroupMembers.AsNoTracking().AnyAsync(m => m.GroupId == networkId && m.ProfessionalId == actor.Id, ct);
        var enrolled = await db.NetworkEnrolments.AsNoTracking().AnyAsync(e => e.RecordId == recordId && e.NetworkId == networkId && e.WithdrawnAt == null, ct);
        var facts = new NetworkFacts(networkId, network.Name, member, enrolled);
        var access = await guard.RequireAsync(new AccessRequest(actor, action, record, Network: facts), verb, objectType, documentId ?? networkId, channel, auditPermit, ct,
            "you may not use this network's record for this patient");
        return (access, facts);
    }
}
