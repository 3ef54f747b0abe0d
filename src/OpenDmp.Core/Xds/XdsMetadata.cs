using System.Xml.Linq;
using Hl7.Fhir.Model;

namespace OpenDmp.Core.Xds;

/// <summary>Namespaces and identifiers of IHE XDS.b and ebXML RegRep 3.0 (IHE ITI TF-3 §4.2).</summary>
public static class XdsNames
{
    public static readonly XNamespace Soap = "http://www.w3.org/2003/05/soap-envelope";
    public static readonly XNamespace Wsa = "http://www.w3.org/2005/08/addressing";
    public static readonly XNamespace Wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    public static readonly XNamespace Query = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
    public static readonly XNamespace Lcm = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
    public static readonly XNamespace Rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
    public static readonly XNamespace Rs = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";
    public static readonly XNamespace XdsB = "urn:ihe:iti:xds-b:2007";
    public static readonly XNamespace Xop = "http://www.w3.org/2004/08/xop/include";

    public const string StoredQueryAction = "urn:ihe:iti:2007:RegistryStoredQuery";
    public const string RetrieveAction = "urn:ihe:iti:2007:RetrieveDocumentSet";

    public const string FindDocuments = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d";
    public const string GetDocuments = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4";
    public const string FindSubmissionSets = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9";
    public const string GetSubmissionSetAndContents = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83";
    public const string GetAssociations = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155";
    public const string GetRelatedDocuments = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6";

    public const string Success = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
    public const string PartialSuccess = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess";
    public const string Failure = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure";
    public const string SeverityError = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error";

    public const string Approved = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";
    public const string Deprecated = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated";

    public const string UniqueIdScheme = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
}

/// <summary>
/// A stored document as an XDS DocumentEntry for the registry's answers: the XDM mapping
/// (<see cref="Messaging.Xdm.DocumentEntry"/>, one code path for both), with what a registry adds —
/// the entry's status, its repository, the source patient id, the uniqueId as an XDS OID.
/// </summary>
public static class XdsMetadata
{
    /// <summary>The entry of a stored document; <paramref name="sha1Base64"/> is its SHA-1 as the documents table keeps it (base64), <paramref name="size"/> its length.</summary>
    public static XElement ExtrinsicObject(DocumentReference d, string patientId, string repositoryUniqueId, string sha1Base64, long size)
    {
        var entryUuid = "urn:uuid:" + d.Id;
        var eo = Messaging.Xdm.DocumentEntry(d, entryUuid, patientId, Convert.ToHexStringLower(Convert.FromBase64String(sha1Base64)), size, null, requireAuthor: false);
        eo.SetAttributeValue("lid", entryUuid);
        eo.SetAttributeValue("status", d.Status == DocumentReferenceStatus.Current ? XdsNames.Approved : XdsNames.Deprecated);

        // The entry's version, which an ITI-57 metadata update names as its PreviousVersion (ebRIM: after Name and Description).
        var version = new XElement(XdsNames.Rim + "VersionInfo", new XAttribute("versionName", d.Meta?.VersionId ?? "1"));
        if ((eo.Element(XdsNames.Rim + "Description") ?? eo.Element(XdsNames.Rim + "Name")) is { } before)
        {
            before.AddAfterSelf(version);
        }
        else
        {
            eo.Elements(XdsNames.Rim + "Slot").Last().AddAfterSelf(version);
        }

        eo.Elements(XdsNames.Rim + "Slot").Last().AddAfterSelf(Slot("repositoryUniqueId", repositoryUniqueId), Slot("sourcePatientId", patientId));
        var uniqueId = eo.Elements(XdsNames.Rim + "ExternalIdentifier").Single(x => x.Attribute("identificationScheme")?.Value == XdsNames.UniqueIdScheme);
        if (uniqueId.Attribute("value")?.Value is { } v && v.StartsWith("urn:oid:", StringComparison.Ordinal))
        {
            uniqueId.SetAttributeValue("value", v[8..]);
        }

        return eo;
    }

    private static XElement Slot(string name, string value) =>
        new(XdsNames.Rim + "Slot", new XAttribute("name", name), new XElement(XdsNames.Rim + "ValueList", new XElement(XdsNames.Rim + "Value", value)));
}
