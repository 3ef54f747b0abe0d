using System.Xml.Linq;
using Microsoft.EntityFrameworkCore;
using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Messaging;

namespace OpenDmp.Core.Xds;

/// <summary>
/// ITI-41 Provide and Register Document Set-b over the same core as ITI-65: the submission is mapped
/// to an ITI-65 transaction by the one XDS → FHIR mapping (<see cref="Xdm.SubmissionToBundle"/>) and
/// filed by <see cref="ProvideDocumentBundle"/> — the same validation, policy, audit and storage — so a
/// document filed through XDS is found by MHD byte-exact. A replacement, addendum, transformation or signature
/// (RPLC, APND, XFRM, signs) becomes the DocumentReference's relatesTo. Refusals are RegistryErrors with the Technical Framework's codes.
/// </summary>
public sealed class XdsProvide(ProvideDocumentBundle handler, Access.RecordGuard guard, Storage.DmpDbContext db)
{
    public const string Action = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b";
    private const string Replace = "urn:ihe:iti:2007:AssociationType:RPLC";
    private const string HasMember = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";

    /// <summary>The system of a submission set's uniqueId as a signature document's context.related names it.</summary>
    public const string SetIdentifierSystem = "urn:ietf:rfc:3986";

    /// <summary>Files the xdsb:ProvideAndRegisterDocumentSetRequest <paramref name="request"/>, its documents in <paramref name="parts"/> (MTOM parts by Content-ID) or inline; returns the RegistryResponse.</summary>
    public async Task<XElement> HandleAsync(XElement request, IReadOnlyDictionary<string, byte[]> parts, Actor actor, string channel, CancellationToken ct)
    {
        try
        {
            var list = request.Element(XdsNames.Lcm + "SubmitObjectsRequest")?.Element(XdsNames.Rim + "RegistryObjectList")
                ?? throw new XdmException("the request has no lcm:SubmitObjectsRequest/rim:RegistryObjectList");
            var patient = list.Elements(XdsNames.Rim + "RegistryPackage").Select(Xdm.SubmissionSetPatientId).FirstOrDefault();
            var ins = patient is null ? null : Identity.Ins.Normalize(patient.Split('^', 2)[0]);
            if (ins is not null && !await db.PatientIdentifiers.AsNoTracking().AnyAsync(x => x.Value == ins, ct))
            {
                return await FailedAsync("XDSUnknownPatientId", $"the SubmissionSet's patientId {patient} is not a patient of OpenDMP (a record is opened first)");
            }

            var documents = Documents(request, parts);
            Identify(list, documents);
            var bundle = Xdm.SubmissionToBundle(list, "the SubmitObjectsRequest", (eo, where) =>
                documents.TryGetValue(eo.Attribute("id")?.Value ?? string.Empty, out var bytes) ? bytes : throw new MissingDocumentException($"{where} ({eo.Attribute("id")?.Value}) has no xdsb:Document with its id"));
            ApplyAssociations(list, bundle);
            await handler.HandleAsync(bundle, actor, channel, ct);
            return XdsRegistry.RegistryResponse(1, []);
        }
        catch (XdmContentMismatchException ex)
        {
            return await FailedAsync("XDSRepositoryMetadataError", ex.Message);
        }
        catch (MissingDocumentException ex)
        {
            return await FailedAsync("XDSMissingDocument", ex.Message);
        }
        catch (XdmException ex)
        {
            return await FailedAsync("XDSRegistryMetadataError", ex.Message);
        }
        catch (DmpException ex) when (ex.Kind is not (ErrorKind.Unauthenticated or ErrorKind.Unavailable))
        {
            var code = ex.Kind switch
            {
                ErrorKind.Forbidden => "XDSRegistryError",
                ErrorKind.Conflict => "XDSDuplicateUniqueIdInRegistry",
                ErrorKind.TooLarge => "XDSRepositoryError",
                _ => "XDSRegistryMetadataError",
            };
            return await FailedAsync(code, ex.Message);
        }

        async Task<XElement> FailedAsync(string code, string message)
        {
            // Traced on the platform's chain (a policy refusal is also in the record's chain).
            await guard.AuditAsync(new Audit.AuditItem(null, actor, Audit.AuditAction.Create, Audit.AuditOutcomes.Invalid, channel, "DocumentReference", null, Detail: "XDS " + code), ct);
            return XdsRegistry.RegistryResponse(0, [new XdsRegistry.RegistryError(code, message)]);
        }
    }

    /// <summary>The documents of the request by id: an xop:Include of an MTOM part, or base64 inline.</summary>
    private static Dictionary<string, byte[]> Documents(XElement request, IReadOnlyDictionary<string, byte[]> parts)
    {
        var documents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var d in request.Elements(XdsNames.XdsB + "Document"))
        {
            var id = d.Attribute("id")?.Value ?? throw new XdmException("an xdsb:Document has no id");
            if (d.Element(XdsNames.Xop + "Include")?.Attribute("href")?.Value is { } href)
            {
                var cid = Uri.UnescapeDataString(href.StartsWith("cid:", StringComparison.Ordinal) ? href[4..] : href);
                documents[id] = parts.TryGetValue(cid, out var bytes) ? bytes : throw new MissingDocumentException($"xdsb:Document {id} includes cid:{cid}, absent from the message");
                continue;
            }

            try
            {
                documents[id] = Convert.FromBase64String(d.Value.Trim());
            }
            catch (FormatException)
            {
                throw new XdmException($"xdsb:Document {id} is neither an xop:Include nor base64");
            }
        }

        return documents;
    }

    /// <summary>
    /// Gives the submission's symbolic ids (e.g. "Document01") their entryUUIDs, everywhere they are
    /// referenced, so that the DocumentReferences keep them and associations find their source.
    /// </summary>
    private static void Identify(XElement list, Dictionary<string, byte[]> documents)
    {
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var o in list.Elements().Where(e => e.Name == XdsNames.Rim + "ExtrinsicObject" || e.Name == XdsNames.Rim + "RegistryPackage"))
        {
            if (o.Attribute("id")?.Value is { } id && !id.StartsWith("urn:uuid:", StringComparison.Ordinal))
            {
                renamed[id] = "urn:uuid:" + Guid.NewGuid();
            }
        }

        foreach (var a in list.Descendants().Attributes().Where(a => a.Name.LocalName is "id" or "sourceObject" or "targetObject" or "classifiedObject" or "registryObject"))
        {
            if (renamed.TryGetValue(a.Value, out var uuid))
            {
                a.Value = uuid;
            }
        }

        foreach (var (symbolic, uuid) in renamed)
        {
            if (documents.Remove(symbolic, out var bytes))
            {
                documents[uuid] = bytes;
            }
        }
    }

    /// <summary>The relations between documents ITI-41 carries, as the DocumentReference's relatesTo (ITI TF-3 §4.2.2).</summary>
    private static readonly Dictionary<string, DocumentRelationshipType> Relations = new(StringComparer.Ordinal)
    {
        [Replace] = DocumentRelationshipType.Replaces,
        ["urn:ihe:iti:2007:AssociationType:APND"] = DocumentRelationshipType.Appends,
        ["urn:ihe:iti:2007:AssociationType:XFRM"] = DocumentRelationshipType.Transforms,
        ["urn:ihe:iti:2007:AssociationType:signs"] = DocumentRelationshipType.Signs,
    };

    /// <summary>
    /// HasMember is implied; RPLC, APND, XFRM and signs from a new DocumentEntry to a document already
    /// filed become its relatesTo (RPLC supersedes the target, as in ITI-65); other kinds are refused.
    /// </summary>
    private static void ApplyAssociations(XElement list, Bundle bundle)
    {
        var submitted = bundle.Entry.Select(e => e.FullUrl).ToHashSet(StringComparer.Ordinal);
        foreach (var a in list.Elements(XdsNames.Rim + "Association"))
        {
            var type = a.Attribute("associationType")?.Value;
            if (type == HasMember)
            {
                continue;
            }

            if (type is null || !Relations.TryGetValue(type, out var code))
            {
                throw new XdmException($"the association type {type} is not offered (HasMember, RPLC, APND, XFRM and signs are)");
            }

            var source = a.Attribute("sourceObject")?.Value;
            var target = a.Attribute("targetObject")?.Value ?? string.Empty;
            var doc = bundle.Entry.FirstOrDefault(e => e.FullUrl == source)?.Resource as DocumentReference
                ?? throw new XdmException($"the {type} association's sourceObject {source} is not a DocumentEntry of the submission");
            if (code == DocumentRelationshipType.Signs && list.Elements(XdsNames.Rim + "RegistryPackage").Any(p => p.Attribute("id")?.Value == target))
            {
                // A signature of the submission set (IHE DSG): kept as its own document, related to the
                // set by the set's uniqueId (context.related), which the registry gives back as "signs".
                var set = bundle.Entry.Select(e => e.Resource).OfType<List>().First();
                doc.Context ??= new DocumentReference.ContextComponent();
                doc.Context.Related.Add(new ResourceReference { Identifier = new Identifier(SetIdentifierSystem, set.Identifier[0].Value), Display = "signs" });
                continue;
            }

            if (submitted.Contains(target) || list.Elements(XdsNames.Rim + "RegistryPackage").Any(p => p.Attribute("id")?.Value == target))
            {
                throw new XdmException($"the {type} association targets {target}, an object of this same submission: OpenDMP relates a new document to a document already filed (file the target first)");
            }

            doc.RelatesTo.Add(new DocumentReference.RelatesToComponent
            {
                Code = code,
                Target = new ResourceReference("DocumentReference/" + (target.StartsWith("urn:uuid:", StringComparison.Ordinal) ? target[9..] : target)),
            });
        }
    }
}

/// <summary>A DocumentEntry without its document in the message: XDSMissingDocument.</summary>
internal sealed class MissingDocumentException(string message) : XdmException(message);
