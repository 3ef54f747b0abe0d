using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Server.Portal;

/// <summary>What the portals show of a DocumentReference (already filtered by the access policy).</summary>
public sealed record DocumentView(
    string Id,
    string Title,
    string TypeCode,
    string Type,
    string ClassCode,
    string Class,
    DateTimeOffset? Date,
    string Author,
    string Facility,
    string Setting,
    string ContentType,
    bool Masked,
    bool HiddenFromPatient,
    bool Draft,
    bool PatientProvided,
    string? AuthorRpps = null)
{
    public static DocumentView From(string json, TerminologySet terms) => From(FhirJson.Parse<DocumentReference>(json), terms);

    /// <summary>
    /// The view of a document; code displays come from the loaded ANS code systems (French; retired
    /// codes keep their display), the display sent with the document only when the code is unknown.
    /// </summary>
    public static DocumentView From(DocumentReference d, TerminologySet terms)
    {
        var type = d.Type?.Coding.FirstOrDefault();
        var cls = d.Category.SelectMany(c => c.Coding).FirstOrDefault();
        var labels = d.SecurityLabel.SelectMany(c => c.Coding).Select(c => c.Code).ToHashSet(StringComparer.Ordinal);
        var role = d.Contained.OfType<PractitionerRole>().FirstOrDefault();
        var author = role?.Practitioner?.Display ?? d.Author.FirstOrDefault()?.Display ?? d.Contained.OfType<Patient>().Select(_ => Ui.T("author.patient")).FirstOrDefault() ?? "—";
        var facility = d.Context?.FacilityType?.Coding.FirstOrDefault();
        var setting = d.Context?.PracticeSetting?.Coding.FirstOrDefault();
        return new DocumentView(
            d.Id ?? string.Empty,
            d.Description ?? d.Content.FirstOrDefault()?.Attachment?.Title ?? type?.Display ?? d.Id ?? string.Empty,
            type?.Code ?? string.Empty,
            Display(terms, type),
            cls?.Code ?? string.Empty,
            Display(terms, cls),
            d.Date,
            author,
            Display(terms, facility),
            Display(terms, setting),
            d.Content.FirstOrDefault()?.Attachment?.ContentType ?? "application/octet-stream",
            labels.Contains("MASQUE_PS"),
            labels.Contains("INVISIBLE_PATIENT"),
            d.DocStatus == CompositionStatus.Preliminary,
            cls?.Code == "90",
            role?.Identifier.Select(i => OpenDmp.Core.Identity.Rpps.FromIdentifier(i.System, i.Value ?? string.Empty)).FirstOrDefault(r => r is not null))
        {
            // R4 parses the size as unsignedInt, which the shared Attachment.Size getter does not read.
            Size = d.Content.FirstOrDefault()?.Attachment?.SizeElement switch { UnsignedInt u => u.Value ?? 0, Integer64 i => i.Value ?? 0, _ => 0 },
        };
    }

    /// <summary>The content's size in bytes, as filed (0 when not stated).</summary>
    public long Size { get; init; }

    private static string Display(TerminologySet terms, Coding? coding) =>
        coding is null ? "—" : terms.Display(coding.System, coding.Code) ?? coding.Display ?? coding.Code ?? "—";

    /// <summary>Whether the content is a CDA R2 document (rendered to HTML, never shown as XML).</summary>
    public bool IsCda => ContentType is "text/xml" or "application/xml" or "application/hl7-v3+xml" or "application/hl7-cda+xml";
}
