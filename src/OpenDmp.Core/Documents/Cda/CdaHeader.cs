using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Documents.Cda;

/// <summary>An HL7 v3 instance identifier (II): root OID or UUID, optional extension.</summary>
public sealed record CdaId(string Root, string? Extension)
{
    /// <summary>The XDS uniqueId / FHIR masterIdentifier value of a document id: urn:oid:, urn:uuid:, or root^extension.</summary>
    public string UniqueId =>
        Extension is { Length: > 0 } ext ? $"{Root}^{ext}"
        : Guid.TryParse(Root, out var g) ? "urn:uuid:" + g.ToString("D")
        : "urn:oid:" + Root;
}

/// <summary>An HL7 v3 coded value (CD/CE): code, code system OID, display.</summary>
public sealed record CdaCode(string Code, string? CodeSystem, string? Display);

/// <summary>A relatedDocument of the header: RPLC (replace), APND (addendum) or XFRM (transform) of a parent document.</summary>
public sealed record CdaRelatedDocument(string TypeCode, CdaId ParentId);

/// <summary>
/// The header of a CDA R2 document as the CI-SIS volets fill it: everything XDS metadata is made of
/// (patient, author, type, template ids, confidentiality, dates, facility, practice setting,
/// language, related documents). Read within the XML limits; an "auto-présentable" document (a CDA
/// inside an XSL stylesheet) is read from the ClinicalDocument it carries, the stylesheet is never run.
/// </summary>
public sealed record CdaHeader
{
    public static readonly XNamespace V3 = "urn:hl7-org:v3";

    public CdaId? Id { get; init; }
    public IReadOnlyList<string> TemplateIds { get; init; } = [];
    public CdaCode? Code { get; init; }
    public string? Title { get; init; }
    public string? EffectiveTime { get; init; }
    public CdaCode? Confidentiality { get; init; }
    public string? Language { get; init; }
    public IReadOnlyList<CdaId> PatientIds { get; init; } = [];
    public string? PatientBirthFamily { get; init; }
    public string? PatientFirstGiven { get; init; }
    public string? PatientBirthTime { get; init; }
    public string? PatientSex { get; init; }
    public CdaId? AuthorId { get; init; }
    public string? AuthorName { get; init; }
    public CdaCode? AuthorSpecialty { get; init; }
    public CdaCode? FacilityType { get; init; }
    public CdaCode? PracticeSetting { get; init; }
    public string? ServiceStart { get; init; }
    public string? ServiceEnd { get; init; }
    public IReadOnlyList<CdaRelatedDocument> RelatedDocuments { get; init; } = [];
    /// <summary>The media type of a non-XML body (level 1 CDA: PDF, text, JPEG, RTF, TIFF), or null for a structured body.</summary>
    public string? NonXmlMediaType { get; init; }
    /// <summary>True when the ClinicalDocument was found inside an XSL stylesheet ("auto-présentable" CDA).</summary>
    public bool AutoPresentable { get; init; }

    /// <summary>The ClinicalDocument element of a document (itself, or inside an auto-présentable stylesheet), or null when it is not CDA.</summary>
    public static XElement? ClinicalDocument(XDocument doc)
    {
        var root = doc.Root;
        if (root is null)
        {
            return null;
        }

        return root.Name == V3 + "ClinicalDocument" ? root
            : root.Name.NamespaceName == "http://www.w3.org/1999/XSL/Transform" ? root.Descendants(V3 + "ClinicalDocument").FirstOrDefault()
            : null;
    }

    /// <summary>Reads the header of a CDA R2 document; null when the bytes are not XML or not CDA. Limits exceeded: 422.</summary>
    public static CdaHeader? TryRead(byte[] content)
    {
        XDocument doc;
        try
        {
            doc = SafeXml.Load(content);
        }
        catch (XmlException)
        {
            return null;
        }
        catch (InputLimitException ex)
        {
            throw DmpException.Invalid("the CDA document cannot be read: " + ex.Message, "ClinicalDocument");
        }

        var cd = ClinicalDocument(doc);
        return cd is null ? null : Read(cd, doc.Root!.Name != V3 + "ClinicalDocument");
    }

    private static CdaHeader Read(XElement cd, bool autoPresentable)
    {
        var patientRole = cd.Element(V3 + "recordTarget")?.Element(V3 + "patientRole");
        var patient = patientRole?.Element(V3 + "patient");
        var name = patient?.Element(V3 + "name");
        var assignedAuthor = cd.Element(V3 + "author")?.Element(V3 + "assignedAuthor");
        var authorName = assignedAuthor?.Element(V3 + "assignedPerson")?.Element(V3 + "name");
        var serviceEvent = cd.Elements(V3 + "documentationOf").Select(d => d.Element(V3 + "serviceEvent")).FirstOrDefault(s => s is not null);
        var practiceSetting = cd.Elements(V3 + "documentationOf")
            .Select(d => d.Element(V3 + "serviceEvent")?.Element(V3 + "performer")?.Element(V3 + "assignedEntity")?.Element(V3 + "representedOrganization")?.Element(V3 + "standardIndustryClassCode"))
            .FirstOrDefault(c => c is not null);
        return new CdaHeader
        {
            Id = ReadId(cd.Element(V3 + "id")),
            TemplateIds = [.. cd.Elements(V3 + "templateId").Select(t => (string?)t.Attribute("root")).OfType<string>()],
            Code = ReadCode(cd.Element(V3 + "code")),
            Title = Text(cd.Element(V3 + "title")),
            EffectiveTime = (string?)cd.Element(V3 + "effectiveTime")?.Attribute("value"),
            Confidentiality = ReadCode(cd.Element(V3 + "confidentialityCode")),
            Language = (string?)cd.Element(V3 + "languageCode")?.Attribute("code"),
            PatientIds = [.. (patientRole?.Elements(V3 + "id") ?? []).Select(ReadId).OfType<CdaId>()],
            PatientBirthFamily = Text(name?.Elements(V3 + "family").FirstOrDefault(f => (string?)f.Attribute("qualifier") == "BR") ?? name?.Element(V3 + "family")),
            PatientFirstGiven = Text(name?.Elements(V3 + "given").FirstOrDefault(g => (string?)g.Attribute("qualifier") == "BR"))
                ?? Text(name?.Element(V3 + "given"))?.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(),
            PatientBirthTime = (string?)patient?.Element(V3 + "birthTime")?.Attribute("value"),
            PatientSex = (string?)patient?.Element(V3 + "administrativeGenderCode")?.Attribute("code"),
            AuthorId = ReadId(assignedAuthor?.Element(V3 + "id")),
            AuthorName = authorName is null ? null : string.Join(' ', new[] { Text(authorName.Element(V3 + "prefix")), Text(authorName.Element(V3 + "given")), Text(authorName.Element(V3 + "family")) }.OfType<string>()),
            AuthorSpecialty = ReadCode(assignedAuthor?.Element(V3 + "code")),
            FacilityType = ReadCode(cd.Element(V3 + "componentOf")?.Element(V3 + "encompassingEncounter")?.Element(V3 + "location")?.Element(V3 + "healthCareFacility")?.Element(V3 + "code")),
            PracticeSetting = ReadCode(practiceSetting),
            ServiceStart = (string?)serviceEvent?.Element(V3 + "effectiveTime")?.Element(V3 + "low")?.Attribute("value"),
            ServiceEnd = (string?)serviceEvent?.Element(V3 + "effectiveTime")?.Element(V3 + "high")?.Attribute("value"),
            RelatedDocuments = [.. cd.Elements(V3 + "relatedDocument")
                .Select(r => (Type: (string?)r.Attribute("typeCode"), Parent: ReadId(r.Element(V3 + "parentDocument")?.Element(V3 + "id"))))
                .Where(r => r.Type is not null && r.Parent is not null)
                .Select(r => new CdaRelatedDocument(r.Type!, r.Parent!))],
            NonXmlMediaType = (string?)cd.Element(V3 + "component")?.Element(V3 + "nonXMLBody")?.Element(V3 + "text")?.Attribute("mediaType"),
            AutoPresentable = autoPresentable,
        };
    }

    private static CdaId? ReadId(XElement? e) =>
        e?.Attribute("root")?.Value is { Length: > 0 } root ? new CdaId(root.Trim(), ((string?)e.Attribute("extension"))?.Trim()) : null;

    private static CdaCode? ReadCode(XElement? e) =>
        e?.Attribute("code")?.Value is { Length: > 0 } code ? new CdaCode(code.Trim(), ((string?)e.Attribute("codeSystem"))?.Trim(), (string?)e.Attribute("displayName")) : null;

    private static string? Text(XElement? e) => e is null || string.IsNullOrWhiteSpace(e.Value) ? null : string.Join(' ', e.Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}

/// <summary>HL7 v3 timestamps (TS: YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]) as FHIR date / dateTime.</summary>
public static class Hl7Time
{
    /// <summary>The FHIR form of a TS, or null when it is malformed. A time without a zone is read as Europe/Paris.</summary>
    public static string? ToFhir(string? ts)
    {
        if (ts is null)
        {
            return null;
        }

        var s = ts.Trim();
        var zoneAt = s.IndexOfAny(['+', '-']);
        var local = zoneAt < 0 ? s : s[..zoneAt];
        var zone = zoneAt < 0 ? null : s[zoneAt..];
        var dot = local.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            local = local[..dot];
        }

        if (!local.All(char.IsAsciiDigit) || zone is { Length: not 5 } || (zone is not null && !zone[1..].All(char.IsAsciiDigit)))
        {
            return null;
        }

        switch (local.Length)
        {
            case 8 when DateOnly.TryParseExact(local, "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d):
                return d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            case 12 or 14 when DateTime.TryParseExact(local.PadRight(14, '0'), "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var t):
                var offset = zone is null ? Paris(t) : new TimeSpan((zone[0] == '-' ? -1 : 1) * int.Parse(zone[1..3], CultureInfo.InvariantCulture), int.Parse(zone[3..5], CultureInfo.InvariantCulture), 0);
                return new DateTimeOffset(t, offset).ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture);
            default:
                return null;
        }
    }

    private static TimeSpan Paris(DateTime t)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris").GetUtcOffset(t);
        }
        catch (TimeZoneNotFoundException)
        {
            return TimeSpan.FromHours(1);
        }
    }
}
