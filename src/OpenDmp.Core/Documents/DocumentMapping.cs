using Hl7.Fhir.Model;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Documents;

/// <summary>The codes of a document, as each channel resolved them (ITI-65 against the ANS value sets, the import as given).</summary>
public sealed record DocumentCodes(string? TypeSystem, string TypeCode, string? TypeDisplay, string? ClassSystem, string? ClassCode, string? ClassDisplay, string? FormatCode, string? FacilityTypeCode, string? PracticeSettingCode, string? ConfidentialityCode);

/// <summary>
/// The one mapping from a DocumentReference to the stored entry, shared by every channel that files
/// documents (ITI-65 — hence the portal and the secure-messaging deposit — and the FHIR import):
/// the visibility statuses (masked, invisible to the patient, invisible to legal representatives),
/// the draft status, dates, title, author, content facts. A channel that skipped any of these would
/// show the patient what is kept from them.
/// </summary>
public static class DocumentMapping
{
    /// <summary>A DMP visibility status (TRE_A07) among the security labels.</summary>
    public static bool HasVisibility(DocumentReference doc, string code) =>
        doc.SecurityLabel.Any(l => l.Coding.Any(c => c.Code == code && Terminology.CanonicalSystem(c.System) == Terminology.VisibilityCanonicalSystem));

    public static DocumentEntry ToEntry(DocumentReference doc, DocumentCodes codes, References.Author? author, string contentType, byte[] content, string sha1,
        string recordId, string id, string masterIdentifier, string status, string? submitterId, string? submissionSetId, bool isTest, DateTimeOffset now) => new()
    {
        RecordId = recordId,
        Id = id,
        MasterIdentifier = masterIdentifier,
        Status = status,
        TypeSystem = codes.TypeSystem,
        TypeCode = codes.TypeCode,
        TypeDisplay = codes.TypeDisplay,
        ClassSystem = codes.ClassSystem,
        ClassCode = codes.ClassCode,
        ClassDisplay = codes.ClassDisplay,
        FormatCode = codes.FormatCode,
        FacilityTypeCode = codes.FacilityTypeCode,
        PracticeSettingCode = codes.PracticeSettingCode,
        ConfidentialityCode = codes.ConfidentialityCode,
        Masked = HasVisibility(doc, "MASQUE_PS"),
        HiddenFromPatient = HasVisibility(doc, "INVISIBLE_PATIENT"),
        HiddenFromRepresentatives = HasVisibility(doc, "INVISIBLE_REPRESENTANTS_LEGAUX"),
        Draft = doc.DocStatus == CompositionStatus.Preliminary,
        Title = doc.Content.FirstOrDefault()?.Attachment?.Title ?? doc.Description,
        ContentType = contentType,
        Size = content.LongLength,
        Sha1 = sha1,
        Date = doc.Date?.ToUniversalTime(),
        PeriodStart = DocumentResources.ParseInstant(doc.Context?.Period?.Start),
        PeriodEnd = DocumentResources.ParseInstant(doc.Context?.Period?.End),
        AuthorProfessionalId = author?.ProfessionalId,
        AuthorIdentifier = author?.Identifier,
        AuthorDisplay = author?.Display,
        SubmitterId = submitterId,
        SubmissionSetId = submissionSetId,
        ContentKey = id,
        IsTestIdentity = isTest,
        CreatedAt = now,
        LastUpdated = now,
        VersionId = 1,
        ResourceJson = string.Empty,
    };

    /// <summary>Whether a media type is XML (CDA, XML, SVG…): such content is parsed by renderers and text extraction.</summary>
    public static bool IsXmlType(string contentType)
    {
        var type = contentType.Split(';')[0].Trim();
        return type.EndsWith("/xml", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+xml", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>XML content must be well-formed and within the limits that every reader of it applies (depth, size; no DTD).</summary>
    public static void CheckContent(string contentType, byte[] bytes, string where)
    {
        if (ExternalLinks.IsLink(contentType))
        {
            try
            {
                ExternalLinks.Parse(bytes);
            }
            catch (DmpException ex)
            {
                throw DmpException.Invalid(ex.Message, where);
            }

            return;
        }

        if (!IsXmlType(contentType))
        {
            return;
        }

        try
        {
            SafeXml.Check(bytes);
        }
        catch (System.Xml.XmlException ex)
        {
            throw DmpException.Invalid($"the content is declared as {contentType} but is not well-formed XML without a DTD: {ex.Message}", where);
        }
        catch (InputLimitException ex)
        {
            throw DmpException.Invalid($"the XML content is refused: {ex.Message}", where);
        }
    }
}
