using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;

namespace OpenDmp.Core.Messaging;

/// <summary>
/// IHE XDM (ITI TF-3 §4.2.3.2 / XDM media, zipped for e-mail): a ZIP holding INDEX.HTM, README.TXT
/// and IHE_XDM/SUBSET01/ with METADATA.XML (an ebRIM 3.0 SubmitObjectsRequest) and the documents.
/// The metadata maps one to one onto an ITI-65 bundle, so a receiver files it exactly as an MHD
/// submission: <see cref="ToBundle"/> rebuilds the transaction Bundle that <see cref="FromBundle"/>
/// was given (same codes, same identifiers, same content).
/// </summary>
public static class Xdm
{
    public const string SubsetFolder = "IHE_XDM/SUBSET01/";
    public const string MetadataPath = SubsetFolder + "METADATA.XML";

    public static readonly XNamespace Rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
    public static readonly XNamespace Lcm = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
    private const string Approved = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";
    private const string ClassificationNode = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ClassificationNode";

    // XDS classification schemes and identification schemes (ITI TF-3 Table 4.2.5-1).
    private const string DocumentEntryType = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1";
    private const string DeAuthor = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d";
    private const string DeClassCode = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a";
    private const string DeConfidentiality = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f";
    private const string DeFormatCode = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d";
    private const string DeFacilityType = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1";
    private const string DePracticeSetting = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead";
    private const string DeTypeCode = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983";
    private const string DePatientId = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427";
    private const string DeUniqueId = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";
    private const string SubmissionSetNode = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd";
    private const string SsAuthor = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d";
    private const string SsPatientId = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446";
    private const string SsSourceId = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832";
    private const string SsUniqueId = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8";
    private const string HasMember = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember";

    /// <summary>The OID XDS metadata names a code system by (codingScheme), from the loaded ANS code systems.</summary>
    public static string OidOf(string? system)
    {
        if (system is null)
        {
            throw new XdmException("a code has no system");
        }

        return OpenDmp.Core.Terminologies.TerminologySet.Shipped.OidOf(system)
            ?? (system.StartsWith("urn:oid:", StringComparison.Ordinal) ? system[8..]
            : throw new XdmException($"code system {system} has no OID known to OpenDMP, so it cannot be written as XDS metadata"));
    }

    /// <summary>The canonical URL of the code system an XDS codingScheme OID names (urn:oid:… when unknown).</summary>
    public static string SystemOf(string oid) => OpenDmp.Core.Terminologies.TerminologySet.Shipped.SystemOfOid(oid);

    /// <summary>Writes an ITI-65 transaction bundle as an XDM ZIP. The patient is named by INS (value, OID).</summary>
    public static byte[] FromBundle(Bundle bundle, string ins, string insOid)
    {
        var list = bundle.Entry.Select(e => e.Resource).OfType<List>().FirstOrDefault()
            ?? throw new XdmException("the Bundle has no SubmissionSet List");
        var binaries = new Dictionary<string, Binary>(StringComparer.Ordinal);
        foreach (var e in bundle.Entry)
        {
            if (e is { Resource: Binary bin, FullUrl: { } url })
            {
                binaries[url] = bin;
            }
        }

        var patientId = $"{ins}^^^&{insOid}&ISO";
        var ssId = "urn:uuid:" + Guid.NewGuid();
        var objects = new XElement(Rim + "RegistryObjectList");
        var files = new List<(string Name, byte[] Content)>();
        var n = 0;
        foreach (var entry in bundle.Entry)
        {
            if (entry.Resource is not DocumentReference d)
            {
                continue;
            }

            if (d.RelatesTo.Count > 0 || bundle.Entry.Any(e => e.Request?.Method == Bundle.HTTPVerb.PATCH))
            {
                throw new XdmException("replacing a document is done through the API (ITI-65 with relatesTo), not by secure messaging");
            }

            var att = d.Content.FirstOrDefault()?.Attachment ?? throw new XdmException("a DocumentReference has no content.attachment");
            var content = att.Data ?? (att.Url is not null && binaries.TryGetValue(att.Url, out var b) ? b.Data : null)
                ?? throw new XdmException("a DocumentReference's attachment points to no Binary of the Bundle");
            n++;
            var fileName = $"DOC{n:D4}{Extension(att.ContentType)}";
            files.Add((fileName, content));
            var eoId = entry.FullUrl is { } fu && fu.StartsWith("urn:uuid:", StringComparison.Ordinal) ? fu : "urn:uuid:" + Guid.NewGuid();
            if (d.MasterIdentifier?.Value is null)
            {
                throw new XdmException("a DocumentReference has no masterIdentifier");
            }

#pragma warning disable CA5350 // XDS hash is SHA-1 by definition.
            var eo = DocumentEntry(d, eoId, patientId, Convert.ToHexStringLower(SHA1.HashData(content)), content.LongLength, fileName, requireAuthor: true);
#pragma warning restore CA5350
            objects.Add(eo);
            objects.Add(HasMemberAssociation(ssId, eoId));
        }

        if (n == 0)
        {
            throw new XdmException("the Bundle holds no DocumentReference");
        }

        var firstDoc = bundle.Entry.Select(e => e.Resource).OfType<DocumentReference>().First();
        var (ss, node) = SubmissionSet(list, ssId, patientId, firstDoc);
        objects.AddFirst(node);
        objects.AddFirst(ss);
        var metadata = new XDocument(new XElement(Lcm + "SubmitObjectsRequest", new XAttribute(XNamespace.Xmlns + "lcm", Lcm), new XAttribute(XNamespace.Xmlns + "rim", Rim), objects));

        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, true))
        {
            Add(zip, "INDEX.HTM", Encoding.UTF8.GetBytes("<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Contenu XDM</title></head><body><h1>Documents transmis par OpenDMP</h1><ul>"
                + string.Concat(files.Select(f => $"<li><a href=\"{SubsetFolder}{f.Name}\">{f.Name}</a></li>")) + "</ul></body></html>"));
            Add(zip, "README.TXT", Encoding.UTF8.GetBytes("IHE XDM package produced by OpenDMP.\r\nMetadata: " + MetadataPath + "\r\n"));
            using (var s = zip.CreateEntry(MetadataPath, CompressionLevel.Fastest).Open())
            {
                metadata.Save(s, SaveOptions.DisableFormatting);
            }

            foreach (var (name, content) in files)
            {
                Add(zip, SubsetFolder + name, content);
            }
        }

        return ms.ToArray();
    }

    /// <summary>
    /// A SubmissionSet List as an XDS SubmissionSet (ebRIM RegistryPackage) and the classification that
    /// marks it as one: the one mapping used by XDM packages and the XDS.b registry's answers. The author
    /// is taken from <paramref name="authorDoc"/> when it has a professional author.
    /// </summary>
    public static (XElement Package, XElement Node) SubmissionSet(List list, string ssId, string patientId, DocumentReference? authorDoc)
    {
        var sourceId = list.GetExtensionValue<Identifier>("https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId")?.Value ?? "urn:oid:1.2.250.1.999.1";
        var uniqueId = list.Identifier.FirstOrDefault(i => i.Use == Identifier.IdentifierUse.Usual)?.Value ?? list.Identifier.FirstOrDefault()?.Value ?? "urn:uuid:" + Guid.NewGuid();
        var ss = new XElement(Rim + "RegistryPackage", new XAttribute("id", ssId), new XAttribute("status", Approved),
            Slot("submissionTime", DtmOf(list.Date ?? DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture))),
            new XElement(Rim + "Name", new XElement(Rim + "LocalizedString", new XAttribute("value", list.Title ?? "Envoi OpenDMP"))),
            authorDoc is not null && authorDoc.Contained.OfType<PractitionerRole>().Any() ? AuthorClassification(SsAuthor, ssId, authorDoc) : null,
            ExternalId(SsUniqueId, ssId, uniqueId.StartsWith("urn:oid:", StringComparison.Ordinal) ? uniqueId[8..] : uniqueId, "XDSSubmissionSet.uniqueId"),
            ExternalId(SsSourceId, ssId, sourceId.StartsWith("urn:oid:", StringComparison.Ordinal) ? sourceId[8..] : sourceId, "XDSSubmissionSet.sourceId"),
            ExternalId(SsPatientId, ssId, patientId, "XDSSubmissionSet.patientId"));
        var node = new XElement(Rim + "Classification", new XAttribute("id", "urn:uuid:" + Guid.NewGuid()),
            new XAttribute("classifiedObject", ssId), new XAttribute("classificationNode", SubmissionSetNode));
        return (ss, node);
    }

    /// <summary>A HasMember association from a SubmissionSet to one of its DocumentEntries.</summary>
    public static XElement HasMemberAssociation(string ssId, string entryId) =>
        new(Rim + "Association",
            new XAttribute("id", "urn:uuid:" + Guid.NewGuid()), new XAttribute("associationType", HasMember),
            new XAttribute("sourceObject", ssId), new XAttribute("targetObject", entryId),
            Slot("SubmissionSetStatus", "Original"));

    /// <summary>
    /// A DocumentReference as an XDS DocumentEntry (ebRIM ExtrinsicObject): the one mapping used by
    /// XDM packages and by the XDS.b registry's query answers. The author classification is written
    /// when the document has a professional author (required in an XDM package).
    /// </summary>
    public static XElement DocumentEntry(DocumentReference d, string eoId, string patientId, string sha1, long size, string? uri, bool requireAuthor)
    {
        var att = d.Content.FirstOrDefault()?.Attachment ?? throw new XdmException("a DocumentReference has no content.attachment");
        var eo = new XElement(Rim + "ExtrinsicObject",
            new XAttribute("id", eoId), new XAttribute("mimeType", att.ContentType ?? "application/octet-stream"),
            new XAttribute("objectType", DocumentEntryType), new XAttribute("status", Approved));
        eo.Add(Slot("hash", sha1));
        eo.Add(Slot("size", size.ToString(CultureInfo.InvariantCulture)));
        if (uri is not null)
        {
            eo.Add(Slot("URI", uri));
        }

        if (att.Creation is { } creation)
        {
            eo.Add(Slot("creationTime", DtmOf(creation)));
        }

        if (att.Language is { } lang)
        {
            eo.Add(Slot("languageCode", lang));
        }

        if (d.Context?.Period?.Start is { } start)
        {
            eo.Add(Slot("serviceStartTime", DtmOf(start)));
        }

        if (d.Context?.Period?.End is { } end)
        {
            eo.Add(Slot("serviceStopTime", DtmOf(end)));
        }

        if (d.Date is { } date)
        {
            eo.Add(Slot("urn:opendmp:date", date.ToString("o", CultureInfo.InvariantCulture)));
        }

        if (d.DocStatus == CompositionStatus.Preliminary)
        {
            eo.Add(Slot("urn:opendmp:docStatus", "preliminary"));
        }

        var title = att.Title ?? d.Description ?? string.Empty;
        eo.Add(new XElement(Rim + "Name", new XElement(Rim + "LocalizedString", new XAttribute("value", title))));
        if (d.Description is { } desc)
        {
            eo.Add(new XElement(Rim + "Description", new XElement(Rim + "LocalizedString", new XAttribute("value", desc))));
        }

        if (requireAuthor || d.Contained.OfType<PractitionerRole>().Any())
        {
            eo.Add(AuthorClassification(DeAuthor, eoId, d));
        }

        eo.Add(CodeClassification(DeClassCode, eoId, d.Category.FirstOrDefault()?.Coding.FirstOrDefault(), "classCode"));
        foreach (var label in d.SecurityLabel.SelectMany(l => l.Coding))
        {
            eo.Add(CodeClassification(DeConfidentiality, eoId, label, "confidentialityCode"));
        }

        eo.Add(CodeClassification(DeFormatCode, eoId, d.Content[0].Format, "formatCode"));
        eo.Add(CodeClassification(DeFacilityType, eoId, d.Context?.FacilityType?.Coding.FirstOrDefault(), "healthcareFacilityTypeCode"));
        eo.Add(CodeClassification(DePracticeSetting, eoId, d.Context?.PracticeSetting?.Coding.FirstOrDefault(), "practiceSettingCode"));
        eo.Add(CodeClassification(DeTypeCode, eoId, d.Type?.Coding.FirstOrDefault(), "typeCode"));
        eo.Add(ExternalId(DePatientId, eoId, patientId, "XDSDocumentEntry.patientId"));
        eo.Add(ExternalId(DeUniqueId, eoId, d.MasterIdentifier?.Value ?? d.Id ?? eoId, "XDSDocumentEntry.uniqueId"));
        return eo;
    }

    /// <summary>
    /// Reads an XDM ZIP into an ITI-65 transaction bundle (patient by INS identifier). Checks the
    /// archive's structure and each document's hash and size; the bundle is then validated by
    /// ITI-65 like any other submission.
    /// </summary>
    public static Bundle ToBundle(byte[] zipBytes, long maxUncompressed = 64L * 1024 * 1024)
    {
        var files = ReadArchive(zipBytes, maxUncompressed);
        if (!files.TryGetValue(MetadataPath, out var metaBytes))
        {
            throw new XdmException($"the XDM archive has no {MetadataPath}");
        }

        XDocument meta;
        try
        {
            meta = SafeXml.Load(metaBytes, MetadataLimits);
        }
        catch (System.Xml.XmlException ex)
        {
            throw new XdmException($"{MetadataPath} is not well-formed XML (or holds a DTD): {ex.Message}");
        }
        catch (InputLimitException ex)
        {
            throw new XdmException($"{MetadataPath}: {ex.Message}");
        }

        var list = meta.Descendants(Rim + "RegistryObjectList").FirstOrDefault() ?? throw new XdmException($"{MetadataPath} holds no RegistryObjectList");
        return SubmissionToBundle(list, MetadataPath, (eo, where) =>
        {
            var uri = SlotValue(eo, "URI") ?? throw new XdmException($"{where} has no URI slot naming its file");
            return files.TryGetValue(SubsetFolder + uri, out var content) ? content : throw new XdmException($"{where} names the file {uri}, absent from {SubsetFolder}");
        });
    }

    /// <summary>
    /// An XDS submission (RegistryObjectList of a SubmitObjectsRequest: SubmissionSet, DocumentEntries)
    /// as an ITI-65 transaction bundle, each document's bytes given by <paramref name="contentOf"/>:
    /// the one XDS → FHIR mapping, used by XDM packages and by ITI-41. Checks size, hash and patient;
    /// <paramref name="origin"/> names the metadata in messages.
    /// </summary>
    public static Bundle SubmissionToBundle(XElement list, string origin, Func<XElement, string, byte[]> contentOf)
    {
        var ss = list.Elements(Rim + "RegistryPackage").FirstOrDefault() ?? throw new XdmException($"{origin} holds no SubmissionSet (RegistryPackage)");
        var ssPatient = ExternalIdValue(ss, SsPatientId) ?? throw new XdmException("the SubmissionSet has no patientId");
        var (ins, insOid) = ParseCx(ssPatient);
        var patientRef = new ResourceReference { Identifier = new Identifier("urn:oid:" + insOid, ins) };

        var bundle = new Bundle { Type = Bundle.BundleType.Transaction };
        var submission = new List
        {
            Status = List.ListStatus.Current,
            Mode = ListMode.Working,
            Code = new CodeableConcept("https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "submissionset"),
            Subject = patientRef,
            Date = DateFromDtm(SlotValue(ss, "submissionTime")) ?? DateTimeOffset.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            Identifier = [new Identifier("urn:ietf:rfc:3986", AsUri(ExternalIdValue(ss, SsUniqueId)) ?? "urn:uuid:" + Guid.NewGuid()) { Use = Identifier.IdentifierUse.Usual }],
        };
        var source = ExternalIdValue(ss, SsSourceId) ?? "1.2.250.1.999.1";
        submission.Extension.Add(new Extension("https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", new Identifier("urn:ietf:rfc:3986", source.StartsWith("urn:", StringComparison.Ordinal) ? source : "urn:oid:" + source)));
        bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = "urn:uuid:" + Guid.NewGuid(), Resource = submission, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "List" } });

        var i = 0;
        foreach (var eo in list.Elements(Rim + "ExtrinsicObject"))
        {
            i++;
            var where = $"ExtrinsicObject[{i}]";
            var content = contentOf(eo, where);
            if (SlotValue(eo, "size") is { } size && size != content.LongLength.ToString(CultureInfo.InvariantCulture))
            {
                throw new XdmContentMismatchException($"{where}: size {size} does not match the {content.LongLength} bytes of its document");
            }

#pragma warning disable CA5350 // XDS hash is SHA-1 by definition.
            var sha1 = SHA1.HashData(content);
#pragma warning restore CA5350
            if (SlotValue(eo, "hash") is { } hash && !string.Equals(hash, Convert.ToHexString(sha1), StringComparison.OrdinalIgnoreCase))
            {
                throw new XdmContentMismatchException($"{where}: hash {hash} does not match the content of its document");
            }

            if (ExternalIdValue(eo, DePatientId) is { } pid && pid != ssPatient)
            {
                throw new XdmException($"{where} concerns another patient than the SubmissionSet");
            }

            var docUrl = eo.Attribute("id")?.Value is { } id && id.StartsWith("urn:uuid:", StringComparison.Ordinal) ? id : "urn:uuid:" + Guid.NewGuid();
            var binUrl = "urn:uuid:" + Guid.NewGuid();
            var mime = eo.Attribute("mimeType")?.Value ?? "application/octet-stream";
            var title = eo.Element(Rim + "Name")?.Element(Rim + "LocalizedString")?.Attribute("value")?.Value;
            var description = eo.Element(Rim + "Description")?.Element(Rim + "LocalizedString")?.Attribute("value")?.Value ?? title;
            var type = Code(eo, DeTypeCode);
            var cls = Code(eo, DeClassCode);
            var doc = new DocumentReference
            {
                MasterIdentifier = new Identifier("urn:ietf:rfc:3986", AsUri(ExternalIdValue(eo, DeUniqueId)) ?? throw new XdmException($"{where} has no uniqueId")),
                Status = DocumentReferenceStatus.Current,
                Type = type is null ? null : new CodeableConcept { Coding = [type] },
                Category = cls is null ? [] : [new CodeableConcept { Coding = [cls] }],
                Subject = patientRef,
                // OpenDMP's own slot (XDM round trip), else when it was submitted (XDS has no DocumentReference.date).
                Date = SlotValue(eo, "urn:opendmp:date") is { } ds && DateTimeOffset.TryParse(ds, CultureInfo.InvariantCulture, DateTimeStyles.None, out var dto) ? dto
                    : DateTimeOffset.TryParse(submission.Date, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var submitted) ? submitted : null,
                Description = description,
                SecurityLabel = Codes(eo, DeConfidentiality).Select(c => new CodeableConcept { Coding = [c] }).ToList(),
                DocStatus = SlotValue(eo, "urn:opendmp:docStatus") == "preliminary" ? CompositionStatus.Preliminary : null,
                Content =
                [
                    new DocumentReference.ContentComponent
                    {
                        Attachment = new Attachment
                        {
                            ContentType = mime,
                            Language = SlotValue(eo, "languageCode"),
                            Url = binUrl,
                            Size = content.LongLength,
                            Hash = sha1,
                            Title = title,
                            Creation = DateFromDtm(SlotValue(eo, "creationTime")),
                        },
                        Format = Code(eo, DeFormatCode),
                    },
                ],
                Context = new DocumentReference.ContextComponent
                {
                    Period = SlotValue(eo, "serviceStartTime") is null && SlotValue(eo, "serviceStopTime") is null ? null
                        : new Period { Start = DateFromDtm(SlotValue(eo, "serviceStartTime")), End = DateFromDtm(SlotValue(eo, "serviceStopTime")) },
                    FacilityType = Code(eo, DeFacilityType) is { } f ? new CodeableConcept { Coding = [f] } : null,
                    PracticeSetting = Code(eo, DePracticeSetting) is { } p ? new CodeableConcept { Coding = [p] } : null,
                },
            };
            if (AuthorOf(eo) is { } author)
            {
                doc.Contained.Add(author);
                doc.Author.Add(new ResourceReference("#author"));
            }

            submission.Entry.Add(new List.EntryComponent { Item = new ResourceReference(docUrl) });
            bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = docUrl, Resource = doc, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "DocumentReference" } });
            bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = binUrl, Resource = new Binary { ContentType = mime, Data = content }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "Binary" } });
        }

        if (i == 0)
        {
            throw new XdmException($"{origin} describes no document (ExtrinsicObject)");
        }

        return bundle;
    }

    /// <summary>What an ITI-57 metadata update compares with the stored entry: identity, codes, title and confidentiality codes.</summary>
    public sealed record EntryMetadata(string? UniqueId, string? PatientId, string? TypeCode, string? ClassCode, string? FormatCode, string? Title, IReadOnlyList<string> Confidentiality);

    /// <summary>Reads a DocumentEntry (ExtrinsicObject) the way <see cref="SubmissionToBundle"/> does, for comparison.</summary>
    public static EntryMetadata Describe(XElement eo) => new(
        ExternalIdValue(eo, DeUniqueId),
        ExternalIdValue(eo, DePatientId),
        Code(eo, DeTypeCode)?.Code,
        Code(eo, DeClassCode)?.Code,
        Code(eo, DeFormatCode)?.Code,
        eo.Element(Rim + "Name")?.Element(Rim + "LocalizedString")?.Attribute("value")?.Value,
        Codes(eo, DeConfidentiality).Select(c => c.Code ?? string.Empty).ToList());

    /// <summary>The patientId (CX) of a SubmissionSet (RegistryPackage), if given.</summary>
    public static string? SubmissionSetPatientId(XElement registryPackage) => ExternalIdValue(registryPackage, SsPatientId);

    private static (string Value, string Oid) ParseCx(string cx)
    {
        // CX: value^^^&OID&ISO
        var parts = cx.Split('^');
        var auth = parts.Length >= 4 ? parts[3].Split('&') : [];
        if (parts[0].Length == 0 || auth.Length < 2 || auth[1].Length == 0)
        {
            throw new XdmException($"patientId '{cx}' is not an identifier of the form INS^^^&OID&ISO");
        }

        return (parts[0], auth[1]);
    }

    private static PractitionerRole? AuthorOf(XElement eo)
    {
        var cl = eo.Elements(Rim + "Classification").FirstOrDefault(c => c.Attribute("classificationScheme")?.Value == DeAuthor);
        var xcn = cl is null ? null : SlotValue(cl, "authorPerson");
        if (xcn is null)
        {
            return null;
        }

        var p = xcn.Split('^');
        var auth = p.Length >= 9 ? p[8].Split('&') : [];
        var system = auth.Length >= 2 && auth[1].Length > 0 ? "urn:oid:" + auth[1] : Rpps.IdNatPsSystem;
        var display = string.Join(' ', new[] { p.ElementAtOrDefault(2), p.ElementAtOrDefault(1) }.Where(s => !string.IsNullOrEmpty(s)));
        var identifier = new Identifier(system, p[0]);
        return new PractitionerRole
        {
            Id = "author",
            Identifier = [identifier],
            Practitioner = new ResourceReference { Identifier = new Identifier(system, p[0]), Display = display.Length > 0 ? display : null },
        };
    }

    private static XElement AuthorClassification(string scheme, string objectId, DocumentReference d)
    {
        var role = d.Contained.OfType<PractitionerRole>().FirstOrDefault();
        var ident = role?.Identifier.FirstOrDefault() ?? role?.Practitioner?.Identifier
            ?? throw new XdmException("the document's author (contained PractitionerRole with an IdNatPs identifier) is missing");
        var display = role?.Practitioner?.Display ?? string.Empty;
        var oid = ident.System?.StartsWith("urn:oid:", StringComparison.Ordinal) == true ? ident.System[8..] : "1.2.250.1.71.4.2.1";
        return new XElement(Rim + "Classification", new XAttribute("id", "urn:uuid:" + Guid.NewGuid()),
            new XAttribute("classificationScheme", scheme), new XAttribute("classifiedObject", objectId), new XAttribute("nodeRepresentation", string.Empty),
            Slot("authorPerson", $"{ident.Value}^{display.Replace('^', ' ')}^^^^^^^&{oid}&ISO"));
    }

    private static XElement CodeClassification(string scheme, string objectId, Coding? coding, string what)
    {
        if (coding?.Code is null)
        {
            throw new XdmException($"the document has no {what}");
        }

        return new XElement(Rim + "Classification", new XAttribute("id", "urn:uuid:" + Guid.NewGuid()),
            new XAttribute("classificationScheme", scheme), new XAttribute("classifiedObject", objectId), new XAttribute("nodeRepresentation", coding.Code),
            Slot("codingScheme", OidOf(coding.System)),
            new XElement(Rim + "Name", new XElement(Rim + "LocalizedString", new XAttribute("value", coding.Display ?? coding.Code))));
    }

    private static Coding? Code(XElement eo, string scheme) => Codes(eo, scheme).FirstOrDefault();

    private static IEnumerable<Coding> Codes(XElement eo, string scheme) =>
        eo.Elements(Rim + "Classification")
            .Where(c => c.Attribute("classificationScheme")?.Value == scheme)
            .Select(c => new Coding(SystemOf(SlotValue(c, "codingScheme") ?? string.Empty), c.Attribute("nodeRepresentation")?.Value,
                c.Element(Rim + "Name")?.Element(Rim + "LocalizedString")?.Attribute("value")?.Value));

    private static XElement ExternalId(string scheme, string objectId, string value, string name) =>
        new(Rim + "ExternalIdentifier", new XAttribute("id", "urn:uuid:" + Guid.NewGuid()), new XAttribute("identificationScheme", scheme),
            new XAttribute("registryObject", objectId), new XAttribute("value", value),
            new XElement(Rim + "Name", new XElement(Rim + "LocalizedString", new XAttribute("value", name))));

    private static string? ExternalIdValue(XElement o, string scheme) =>
        o.Elements(Rim + "ExternalIdentifier").FirstOrDefault(x => x.Attribute("identificationScheme")?.Value == scheme)?.Attribute("value")?.Value;

    /// <summary>An XDS uniqueId as the URI FHIR identifiers carry: a bare OID becomes urn:oid:…, other forms are kept.</summary>
    private static string? AsUri(string? value) =>
        value is { Length: > 0 } && char.IsAsciiDigit(value[0]) && value.All(c => char.IsAsciiDigit(c) || c == '.') ? "urn:oid:" + value : value;

    private static XElement Slot(string name, string value) =>
        new(Rim + "Slot", new XAttribute("name", name), new XElement(Rim + "ValueList", new XElement(Rim + "Value", value)));

    private static string? SlotValue(XElement o, string name) =>
        o.Elements(Rim + "Slot").FirstOrDefault(s => s.Attribute("name")?.Value == name)?.Element(Rim + "ValueList")?.Element(Rim + "Value")?.Value;

    /// <summary>FHIR dateTime → XDS DTM (UTC, yyyyMMddHHmmss).</summary>
    private static string DtmOf(string fhirDateTime) =>
        DateTimeOffset.TryParse(fhirDateTime, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d)
            ? d.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture)
            : throw new XdmException($"'{fhirDateTime}' is not a date-time");

    private static string? DateFromDtm(string? dtm)
    {
        if (dtm is null)
        {
            return null;
        }

        string[] formats = ["yyyyMMddHHmmss", "yyyyMMddHHmm", "yyyyMMddHH", "yyyyMMdd"];
        return DateTime.TryParseExact(dtm, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d)
            ? new DateTimeOffset(d, TimeSpan.Zero).ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture)
            : throw new XdmException($"'{dtm}' is not an XDS date-time (yyyyMMddHHmmss)");
    }

    public static string Extension(string? mime) => mime switch
    {
        "application/pdf" => ".PDF",
        "text/xml" or "application/xml" or "application/hl7-v3+xml" => ".XML",
        "text/plain" => ".TXT",
        "image/jpeg" => ".JPG",
        "image/png" => ".PNG",
        _ => ".BIN",
    };

    /// <summary>Most entries an XDM archive may hold.</summary>
    public const int MaxEntries = 1_000;

    /// <summary>Largest expansion accepted (uncompressed / compressed) once the content exceeds 1 MB.</summary>
    public const int MaxExpansionRatio = 200;

    private static readonly XmlLimits MetadataLimits = new(MaxDepth: 64, MaxCharacters: 16L * 1024 * 1024, MaxElements: 200_000);

    /// <summary>
    /// The files of the XDM subset, read with every limit counted on the bytes actually produced (the
    /// sizes a ZIP header declares are not trusted): number of entries, total size, expansion ratio.
    /// </summary>
    private static Dictionary<string, byte[]> ReadArchive(byte[] zipBytes, long maxUncompressed)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var zip = new ZipArchive(new MemoryStream(zipBytes), ZipArchiveMode.Read);
            if (zip.Entries.Count > MaxEntries)
            {
                throw new XdmException($"the XDM archive has {zip.Entries.Count} entries; at most {MaxEntries} are accepted");
            }

            long total = 0;
            var buffer = new byte[81920];
            foreach (var e in zip.Entries.Where(e => e.FullName.StartsWith(SubsetFolder, StringComparison.OrdinalIgnoreCase) && !e.FullName.EndsWith('/')))
            {
                using var s = e.Open();
                using var buf = new MemoryStream();
                int n;
                while ((n = s.Read(buffer, 0, buffer.Length)) > 0)
                {
                    total += n;
                    if (total > maxUncompressed)
                    {
                        throw new XdmException($"the XDM archive expands beyond {maxUncompressed / (1024 * 1024)} MB");
                    }

                    if (total > 1024 * 1024 && total > (long)MaxExpansionRatio * zipBytes.LongLength)
                    {
                        throw new XdmException($"the XDM archive expands more than {MaxExpansionRatio} times its size (a decompression bomb?)");
                    }

                    buf.Write(buffer, 0, n);
                }

                files[e.FullName] = buf.ToArray();
            }
        }
        catch (InvalidDataException ex)
        {
            throw new XdmException("the attachment is not a readable ZIP archive: " + ex.Message);
        }

        return files;
    }

    private static void Add(ZipArchive zip, string name, byte[] content)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
        s.Write(content);
    }
}

public class XdmException(string message) : Exception(message);

/// <summary>The metadata say something of a document its bytes contradict (size, hash): XDS's XDSRepositoryMetadataError.</summary>
public sealed class XdmContentMismatchException(string message) : XdmException(message);
