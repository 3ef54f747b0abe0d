using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// Allergies and intolerances a professional records (AllergyIntolerance), filed with a report or a
/// summary (class 10 or 11, ADR 0018). The patient's own declarations stay in the personal space and
/// are shown beside them, marked as declared by the patient.
/// </summary>
public static class Allergies
{
    public static readonly IReadOnlySet<string> DocumentClasses = new HashSet<string>(StringComparer.Ordinal) { "10", "11" };

    public static ClinicalEntry ToEntry(AllergyIntolerance a, string recordId, DocumentEntry document, Actor actor, string where, DateTimeOffset now)
    {
        if (!DocumentClasses.Contains(document.ClassCode ?? string.Empty))
        {
            throw DmpException.Invalid($"{where}: an allergy is filed with a report or a summary (class 10 or 11), not with a document of class {document.ClassCode}", where);
        }

        var code = a.Code?.Coding.FirstOrDefault(c => !string.IsNullOrEmpty(c.System) && !string.IsNullOrEmpty(c.Code));
        if (code is null && string.IsNullOrWhiteSpace(a.Code?.Text))
        {
            throw DmpException.Invalid($"{where}: code (the substance, coded or at least as text) is required", where + ".code");
        }

        a.Patient = new ResourceReference("Patient/" + recordId);
        a.Meta = new Meta { VersionId = "1", LastUpdated = now };
        a.Recorder ??= new ResourceReference("Practitioner/" + actor.Id);
        return new ClinicalEntry
        {
            RecordId = recordId,
            Id = a.Id!,
            ResourceType = "AllergyIntolerance",
            DocumentId = document.Id,
            CodeSystem = code?.System,
            Code = code?.Code,
            CodeDisplay = code?.Display ?? a.Code!.Text,
            Date = DocumentResources.ParseInstant(a.RecordedDate) ?? document.Date ?? now,
            AuthorId = document.AuthorProfessionalId ?? actor.Id,
            CreatedAt = now,
            ResourceJson = FhirJson.Serialize(a),
        };
    }
}
