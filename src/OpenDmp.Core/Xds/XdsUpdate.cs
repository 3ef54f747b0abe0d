using System.Globalization;
using System.Xml.Linq;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Xds;

/// <summary>
/// ITI-57 Update Document Set for what the DMP uses it for, over the same services as MHD: a
/// DocumentEntry's visibility (MASQUE_PS on or off: <see cref="ConsentService.MaskAsync"/>;
/// INVISIBLE_PATIENT off: <see cref="ConsentService.ReleaseAsync"/>) through a metadata update whose
/// other metadata are unchanged, and its availability (Approved ↔ Deprecated:
/// <see cref="DocumentQueries.SetStatusAsync"/>) through an UpdateAvailabilityStatus association.
/// One change per request, so that a refusal never leaves half of a submission applied.
/// </summary>
public sealed class XdsUpdate(DocumentQueries documents, ConsentService consent, DmpDbContext db, RecordGuard guard)
{
    public const string Action = "urn:ihe:iti:2010:UpdateDocumentSet";
    private const string UpdateAvailabilityStatus = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus";
    private const string HasMember = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";
    private const string Masked = "MASQUE_PS";
    private const string InvisibleToPatient = "INVISIBLE_PATIENT";
    private static readonly string[] Confidentiality = ["N", "R", "V"];

    /// <summary>Applies the lcm:SubmitObjectsRequest <paramref name="request"/>; returns the RegistryResponse.</summary>
    public async Task<XElement> HandleAsync(XElement request, Actor actor, string channel, CancellationToken ct)
    {
        try
        {
            var list = request.Element(XdsNames.Rim + "RegistryObjectList") ?? throw Error("the request has no rim:RegistryObjectList");
            var packages = list.Elements(XdsNames.Rim + "RegistryPackage").ToList();
            if (packages.Count != 1)
            {
                throw Error("an ITI-57 request holds exactly one SubmissionSet (rim:RegistryPackage)");
            }

            var patient = Xdm.SubmissionSetPatientId(packages[0]) ?? throw Error("the SubmissionSet has no patientId");
            var associations = list.Elements(XdsNames.Rim + "Association").ToList();
            if (associations.FirstOrDefault(a => a.Attribute("associationType")?.Value is not (HasMember or UpdateAvailabilityStatus)) is { } other)
            {
                throw Error($"the association type {other.Attribute("associationType")?.Value} is not offered by ITI-57 here (HasMember for a metadata update, UpdateAvailabilityStatus for a status)");
            }

            var statuses = associations.Where(a => a.Attribute("associationType")?.Value == UpdateAvailabilityStatus).ToList();
            var entries = list.Elements(XdsNames.Rim + "ExtrinsicObject").ToList();
            if (statuses.Count + entries.Count != 1)
            {
                throw Error($"this registry applies one change per ITI-57 request: one DocumentEntry metadata update (its visibility) or one UpdateAvailabilityStatus association; got {entries.Count} and {statuses.Count} — nothing was changed");
            }

            if (statuses.Count == 1)
            {
                await StatusAsync(statuses[0], patient, actor, channel, ct);
            }
            else
            {
                await VisibilityAsync(entries[0], associations, patient, actor, channel, ct);
            }

            return XdsRegistry.RegistryResponse(1, []);
        }
        catch (UpdateException ex)
        {
            return await FailedAsync(ex.Code, ex.Message);
        }
        catch (XdmException ex)
        {
            return await FailedAsync("XDSMetadataUpdateError", ex.Message);
        }
        catch (DmpException ex) when (ex.Kind == ErrorKind.Conflict)
        {
            // A permitted change that cannot be made (e.g. restoring a replaced document): the service wrote nothing, so it is traced here.
            return await FailedAsync("XDSMetadataUpdateError", ex.Message);
        }
        catch (DmpException ex) when (ex.Kind is not (ErrorKind.Unauthenticated or ErrorKind.Unavailable))
        {
            // Policy refusals and unknown documents: already traced by the service that refused.
            return XdsRegistry.RegistryResponse(0, [new XdsRegistry.RegistryError(ex.Kind == ErrorKind.Forbidden ? "XDSRegistryError" : "XDSMetadataUpdateError", ex.Message)]);
        }

        async Task<XElement> FailedAsync(string code, string message)
        {
            await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Update, AuditOutcomes.Invalid, channel, "DocumentReference", null, Detail: "XDS " + code), ct);
            return XdsRegistry.RegistryResponse(0, [new XdsRegistry.RegistryError(code, message)]);
        }
    }

    /// <summary>UpdateAvailabilityStatus: Approved → Deprecated archives, Deprecated → Approved unarchives.</summary>
    private async Task StatusAsync(XElement association, string patient, Actor actor, string channel, CancellationToken ct)
    {
        string Slot(string name) => SlotValue(association, name) ?? throw Error($"the UpdateAvailabilityStatus association has no {name} slot");
        var (original, wanted) = (Slot("OriginalStatus"), Slot("NewStatus"));
        var id = DocumentId(association.Attribute("targetObject")?.Value, "targetObject");
        var target = wanted switch
        {
            XdsNames.Deprecated => "superseded",
            XdsNames.Approved => "current",
            _ => throw Error($"NewStatus must be {XdsNames.Approved} or {XdsNames.Deprecated}, got '{wanted}'"),
        };
        var current = await VisibleAsync(id, patient, actor, channel, ct);
        var now = current.Status == "current" ? XdsNames.Approved : XdsNames.Deprecated;
        if (original != now)
        {
            throw new UpdateException("XDSMetadataUpdateError", $"OriginalStatus {original} is not the entry's status ({now})");
        }

        await documents.SetStatusAsync(id, target, actor, channel, ct);
    }

    /// <summary>
    /// A new version of a DocumentEntry (lid = the entry, PreviousVersion = its version) that differs
    /// from the stored one only by MASQUE_PS, or by INVISIBLE_PATIENT removed.
    /// </summary>
    private async Task VisibilityAsync(XElement eo, List<XElement> associations, string patient, Actor actor, string channel, CancellationToken ct)
    {
        var id = DocumentId(eo.Attribute("lid")?.Value, "the ExtrinsicObject's lid (the entryUUID of the entry it updates)");
        var member = associations.FirstOrDefault(a => a.Attribute("associationType")?.Value == HasMember && a.Attribute("targetObject")?.Value == eo.Attribute("id")?.Value)
            ?? throw Error("the updated DocumentEntry is not a member of the SubmissionSet (HasMember association)");
        var previous = SlotValue(member, "PreviousVersion") ?? throw Error("the HasMember association of a metadata update needs the PreviousVersion slot");
        var stored = await VisibleAsync(id, patient, actor, channel, ct);
        if (previous != stored.VersionId.ToString(CultureInfo.InvariantCulture))
        {
            throw new UpdateException("XDSMetadataVersionError", $"PreviousVersion {previous} is not the entry's current version ({stored.VersionId}): read it again, then update");
        }

        var given = Xdm.Describe(eo);
        var have = Xdm.Describe(XdsMetadata.ExtrinsicObject(Fhir.FhirJson.Parse<Hl7.Fhir.Model.DocumentReference>(stored.ResourceJson), patient, "-", stored.Sha1, stored.Size));
        Same("uniqueId", Bare(given.UniqueId), Bare(have.UniqueId));
        Same("typeCode", given.TypeCode, have.TypeCode);
        Same("classCode", given.ClassCode, have.ClassCode);
        Same("formatCode", given.FormatCode, have.FormatCode);
        Same("title", given.Title, have.Title);
        Same("confidentialityCode (N, R, V)", string.Join(',', given.Confidentiality.Intersect(Confidentiality).Order(StringComparer.Ordinal)), string.Join(',', have.Confidentiality.Intersect(Confidentiality).Order(StringComparer.Ordinal)));
        var added = given.Confidentiality.Except(Confidentiality).Except(have.Confidentiality).ToList();
        var removed = have.Confidentiality.Except(Confidentiality).Except(given.Confidentiality).ToList();
        switch (added, removed)
        {
            case ([Masked], []):
                await consent.MaskAsync(id, true, actor, channel, ct);
                break;
            case ([], [Masked]):
                await consent.MaskAsync(id, false, actor, channel, ct);
                break;
            case ([], [InvisibleToPatient]):
                await consent.ReleaseAsync(id, actor, channel, ct);
                break;
            case ([], []):
                throw Error("the update changes nothing: it must add or remove MASQUE_PS, or remove INVISIBLE_PATIENT");
            default:
                throw Error($"ITI-57 changes one visibility at a time here: MASQUE_PS on or off, or INVISIBLE_PATIENT off (a document is not hidden from the patient after filing); got +[{string.Join(',', added)}] -[{string.Join(',', removed)}]");
        }
    }

    /// <summary>The stored entry, when the actor may see it and it is the submission's patient's; else the same answer as for an absent one.</summary>
    private async Task<DocumentEntry> VisibleAsync(string id, string patient, Actor actor, string channel, CancellationToken ct)
    {
        var ins = patient.Split('^')[0];
        var doc = await db.Documents.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id && !d.Erased, ct);
        var facts = doc is null ? null : await guard.FactsAsync(doc.RecordId, ct);
        if (doc is null || facts is null || !await db.PatientIdentifiers.AsNoTracking().AnyAsync(p => p.RecordId == doc.RecordId && p.Value == ins, ct))
        {
            await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Update, AuditOutcomes.NotFound, channel, "DocumentReference", id), ct);
            throw new UpdateException("XDSMetadataUpdateError", $"no DocumentEntry urn:uuid:{id} of patient {patient} that you may see");
        }

        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ReadDocument, facts, DocumentResources.Facts(doc)), AuditAction.Update, "DocumentReference", id, channel, auditPermit: false, ct);
        return doc;
    }

    private static void Same(string what, string? given, string? stored)
    {
        if (!string.Equals(given ?? string.Empty, stored ?? string.Empty, StringComparison.Ordinal))
        {
            throw Error($"only the visibility is updated here: {what} must stay '{stored}' (got '{given}')");
        }
    }

    private static string? Bare(string? uniqueId) => uniqueId is not null && uniqueId.StartsWith("urn:oid:", StringComparison.Ordinal) ? uniqueId[8..] : uniqueId;

    private static string DocumentId(string? uuid, string what) =>
        uuid is not null && uuid.StartsWith("urn:uuid:", StringComparison.Ordinal) && uuid.Length > 9 ? uuid[9..] : throw Error($"{what} must be an entryUUID (urn:uuid:…), got '{uuid}'");

    private static string? SlotValue(XElement o, string name) =>
        o.Elements(XdsNames.Rim + "Slot").FirstOrDefault(s => s.Attribute("name")?.Value == name)?.Element(XdsNames.Rim + "ValueList")?.Element(XdsNames.Rim + "Value")?.Value.Trim();

    private static UpdateException Error(string message) => new("XDSMetadataUpdateError", message);

    private sealed class UpdateException(string code, string message) : Exception(message)
    {
        public string Code { get; } = code;
    }
}
