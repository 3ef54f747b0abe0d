using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents.Cda;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// The coded results of a CI-SIS lab report (CR-BIO, format urn:ihe:lab:xd-lab:2008): each entry
/// observation with a value — numeric (PQ, with its UCUM unit), coded (CD) or text (ST) — becomes a
/// FHIR Observation derived from the document. They are written with the document and follow it:
/// whoever may not see the document does not see them; erasing or deleting it takes them too.
/// </summary>
/// <summary>What a lab report brings: its coded results, and who ordered them (RPPS) when the header says.</summary>
public sealed record LabReport(IReadOnlyList<ObservationEntry> Results, string? PrescriberRpps)
{
    public static LabReport Empty { get; } = new([], null);
}

public static class CdaResults
{
    /// <summary>The XDS format of a structured lab report.</summary>
    public const string LabFormat = "urn:ihe:lab:xd-lab:2008";

    /// <summary>The most results read from one document.</summary>
    public const int MaxResults = 2000;

    private static readonly XNamespace V3 = CdaHeader.V3;
    private static readonly XNamespace Xsi = "http://www.w3.org/2001/XMLSchema-instance";

    /// <summary>The results of a lab report's body and who ordered them; nothing when the bytes are not a readable CDA.</summary>
    public static LabReport Extract(byte[] content, string recordId, string documentId, bool isTestIdentity, DateTimeOffset? documentDate)
    {
        XElement? cd;
        try
        {
            cd = CdaHeader.ClinicalDocument(SafeXml.Load(content));
        }
        catch (Exception ex) when (ex is XmlException or InputLimitException)
        {
            return LabReport.Empty;
        }

        var body = cd?.Element(V3 + "component")?.Element(V3 + "structuredBody");
        if (body is null)
        {
            return LabReport.Empty;
        }

        var results = new List<ObservationEntry>();
        foreach (var o in body.Descendants(V3 + "observation"))
        {
            if (results.Count >= MaxResults)
            {
                break;
            }

            if (Read(o, recordId, documentId, isTestIdentity, documentDate) is { } entry)
            {
                results.Add(entry);
            }
        }

        return new LabReport(results, Prescriber(cd!));
    }

    /// <summary>
    /// The RPPS of the professional who ordered the tests: the header's participant typeCode="REF"
    /// (CI-SIS CR-BIO), its id under the RPPS root (1.2.250.1.71.4.2.1, extension "8" + RPPS).
    /// </summary>
    private static string? Prescriber(XElement cd)
    {
        var id = cd.Elements(V3 + "participant")
            .Where(p => (string?)p.Attribute("typeCode") == "REF")
            .Select(p => p.Element(V3 + "associatedEntity")?.Elements(V3 + "id").FirstOrDefault(i => (string?)i.Attribute("root") == "1.2.250.1.71.4.2.1"))
            .Select(i => (string?)i?.Attribute("extension"))
            .FirstOrDefault(x => !string.IsNullOrEmpty(x));
        return id is { Length: 12 } && id[0] == '8' ? id[1..] : id is { Length: 11 } ? id : null;
    }

    private static ObservationEntry? Read(XElement o, string recordId, string documentId, bool isTestIdentity, DateTimeOffset? documentDate)
    {
        var code = o.Element(V3 + "code");
        var value = o.Element(V3 + "value");
        if ((string?)code?.Attribute("code") is not { Length: > 0 } codeValue || value is null)
        {
            return null;
        }

        var terms = TerminologySet.Shipped;
        var system = (string?)code.Attribute("codeSystem") is { Length: > 0 } oid ? terms.SystemOfOid(oid) : null;
        var display = (string?)code.Attribute("displayName");
        double? number = null;
        string? unit = null;
        string? text = null;
        DataType? fhirValue;
        switch ((string?)value.Attribute(Xsi + "type"))
        {
            case "PQ" or "INT" or "REAL" when double.TryParse((string?)value.Attribute("value"), NumberStyles.Float, CultureInfo.InvariantCulture, out var n):
                number = n;
                unit = (string?)value.Attribute("unit");
                fhirValue = new Quantity { Value = (decimal)n, Unit = unit, System = unit is null ? null : "http://unitsofmeasure.org", Code = unit };
                break;
            case "CD" or "CE" or "CV" when (string?)value.Attribute("code") is { Length: > 0 } valueCode:
                text = (string?)value.Attribute("displayName") ?? valueCode;
                fhirValue = new CodeableConcept((string?)value.Attribute("codeSystem") is { Length: > 0 } vs ? terms.SystemOfOid(vs) : null, valueCode, (string?)value.Attribute("displayName"));
                break;
            case "ST" when !string.IsNullOrWhiteSpace(value.Value):
                text = value.Value.Trim();
                fhirValue = new FhirString(text);
                break;
            default:
                return null;
        }

        var time = o.Element(V3 + "effectiveTime");
        var when = Hl7Time.ToFhir((string?)time?.Attribute("value") ?? (string?)time?.Element(V3 + "low")?.Attribute("value"));
        // Stored in UTC (PostgreSQL timestamptz); the FHIR resource keeps the offset the report gave.
        var effective = when is null ? documentDate?.ToUniversalTime() : DateTimeOffset.Parse(when.Length == 10 ? when + "T00:00:00+00:00" : when, CultureInfo.InvariantCulture);
        var id = Ids.New();
        var observation = new Observation
        {
            Id = id,
            Meta = new Meta(),
            Status = (string?)o.Element(V3 + "statusCode")?.Attribute("code") is "active" ? ObservationStatus.Preliminary : ObservationStatus.Final,
            Category = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
            Code = new CodeableConcept(system, codeValue, display),
            Subject = new ResourceReference("Patient/" + recordId),
            Effective = effective is null ? null : new FhirDateTime(effective.Value),
            Value = fhirValue,
            DerivedFrom = [new ResourceReference("DocumentReference/" + documentId)],
        };
        var range = o.Element(V3 + "referenceRange")?.Element(V3 + "observationRange")?.Element(V3 + "value");
        if (range is not null)
        {
            observation.ReferenceRange.Add(new Observation.ReferenceRangeComponent { Low = Bound(range.Element(V3 + "low")), High = Bound(range.Element(V3 + "high")) });
        }

        if ((string?)o.Element(V3 + "interpretationCode")?.Attribute("code") is { Length: > 0 } interpretation)
        {
            observation.Interpretation.Add(new CodeableConcept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", interpretation));
        }

        OpenDmp.Core.Documents.DocumentResources.MarkTest(observation.Meta, isTestIdentity);
        return new ObservationEntry
        {
            RecordId = recordId,
            Id = id,
            CodeSystem = system,
            Code = codeValue,
            CodeDisplay = display,
            Category = "laboratory",
            Status = observation.Status == ObservationStatus.Final ? "final" : "preliminary",
            ValueNumber = number,
            Unit = unit,
            ValueText = text,
            Effective = effective?.ToUniversalTime(),
            DocumentId = documentId,
            ResourceJson = FhirJson.Serialize(observation),
            Interpretation = observation.Interpretation.FirstOrDefault()?.Coding.FirstOrDefault()?.Code,
        };
    }

    private static Quantity? Bound(XElement? v) =>
        v is not null && double.TryParse((string?)v.Attribute("value"), NumberStyles.Float, CultureInfo.InvariantCulture, out var n)
            ? new Quantity { Value = (decimal)n, Unit = (string?)v.Attribute("unit"), System = "http://unitsofmeasure.org", Code = (string?)v.Attribute("unit") }
            : null;
}
