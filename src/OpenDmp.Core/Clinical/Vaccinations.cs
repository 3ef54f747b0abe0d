using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Core.Clinical;

/// <summary>Vaccinations (Immunization) filed with a vaccination note, a report or a summary (ADR 0018).</summary>
public static class Vaccinations
{
    /// <summary>The document classes a vaccination is filed with: certificate/declaration (vaccination note 87273-9), report, summary.</summary>
    public static readonly IReadOnlySet<string> DocumentClasses = new HashSet<string>(StringComparer.Ordinal) { "52", "10", "11" };

    public static ClinicalEntry ToEntry(Immunization im, string recordId, DocumentEntry document, Actor actor, string where, DateTimeOffset now)
    {
        if (!DocumentClasses.Contains(document.ClassCode ?? string.Empty))
        {
            throw DmpException.Invalid($"{where}: a vaccination is filed with a vaccination note (type 87273-9, class 52), a report or a summary, not with a document of class {document.ClassCode}", where);
        }

        if (im.Status != Immunization.ImmunizationStatusCodes.Completed)
        {
            throw DmpException.Invalid($"{where}: a vaccination is filed once given, with status 'completed'", where + ".status");
        }

        var code = im.VaccineCode?.Coding.FirstOrDefault(c => !string.IsNullOrEmpty(c.System) && !string.IsNullOrEmpty(c.Code))
            ?? throw DmpException.Invalid($"{where}: vaccineCode needs a coding with a system and a code", where + ".vaccineCode");
        var date = (im.Occurrence as FhirDateTime)?.ToDateTimeOffset(TimeSpan.Zero)
            ?? throw DmpException.Invalid($"{where}: occurrenceDateTime is required", where + ".occurrence");
        if (date > now.AddDays(1))
        {
            throw DmpException.Invalid($"{where}: the vaccination date is in the future", where + ".occurrence");
        }

        im.Patient = new ResourceReference("Patient/" + recordId);
        im.Meta = new Meta { VersionId = "1", LastUpdated = now };
        return new ClinicalEntry
        {
            RecordId = recordId,
            Id = im.Id!,
            ResourceType = "Immunization",
            DocumentId = document.Id,
            CodeSystem = code.System,
            Code = code.Code,
            CodeDisplay = code.Display ?? im.VaccineCode!.Text,
            Date = date,
            AuthorId = document.AuthorProfessionalId ?? actor.Id,
            CreatedAt = now,
            ResourceJson = FhirJson.Serialize(im),
        };
    }
}
