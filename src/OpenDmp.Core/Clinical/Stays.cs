using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// Hospital stays filed with their letter (ADR 0018): the stay as an Encounter (class, period,
/// establishment, diagnoses ranked — rank 1 is the main diagnosis), its diagnoses as Conditions
/// (CIM-10 / ICD-10) and its acts as Procedures (CCAM), all linked to the stay and to the letter.
/// </summary>
public static class Stays
{
    public const string Cim10 = "http://hl7.org/fhir/sid/icd-10";
    public const string Ccam = "https://smt.esante.gouv.fr/terminologie-ccam";

    /// <summary>The entry of a stay, diagnosis or act; references between them by fullUrl are rewritten to the server ids.</summary>
    public static ClinicalEntry ToEntry(Resource resource, Encounter? stay, IReadOnlyDictionary<string, string> ids, string recordId, DocumentEntry document, Actor actor, string where, DateTimeOffset now)
    {
        var entry = resource switch
        {
            Encounter e => StayEntry(e, ids, where),
            Condition c => DiagnosisEntry(c, stay, ids, where, document),
            Procedure p => ActEntry(p, stay, ids, where, document),
            _ => throw DmpException.Invalid($"{where}: {resource.TypeName} is not part of a stay", where),
        };
        var patient = new ResourceReference("Patient/" + recordId);
        switch (resource)
        {
            case Encounter e:
                e.Subject = patient;
                break;
            case Condition c:
                c.Subject = patient;
                break;
            case Procedure p:
                p.Subject = patient;
                break;
        }

        resource.Meta = new Meta { VersionId = "1", LastUpdated = now };

        entry.RecordId = recordId;
        entry.DocumentId = document.Id;
        entry.AuthorId = document.AuthorProfessionalId ?? actor.Id;
        entry.CreatedAt = now;
        entry.ResourceJson = FhirJson.Serialize(resource);
        return entry;
    }

    private static ClinicalEntry StayEntry(Encounter e, IReadOnlyDictionary<string, string> ids, string where)
    {
        if (e.Class?.Code is not { Length: > 0 } cls)
        {
            throw DmpException.Invalid($"{where}: class (IMP hospitalisation, AMB, EMER, SS day hospital…) is required", where + ".class");
        }

        var start = DocumentResources.ParseInstant(e.Period?.Start)
            ?? throw DmpException.Invalid($"{where}: period.start (the admission) is required", where + ".period.start");
        if (DocumentResources.ParseInstant(e.Period!.End) is { } end && end < start)
        {
            throw DmpException.Invalid($"{where}: the stay ends before it starts", where + ".period.end");
        }

        for (var i = 0; i < e.Diagnosis.Count; i++)
        {
            var target = e.Diagnosis[i].Condition?.Reference;
            if (target is null || !ids.TryGetValue(target, out var local) || !local.StartsWith("Condition/", StringComparison.Ordinal))
            {
                throw DmpException.Invalid($"{where}: diagnosis[{i}].condition must reference a Condition of the transaction (its fullUrl)", $"{where}.diagnosis[{i}].condition");
            }

            e.Diagnosis[i].Condition = new ResourceReference(local);
        }

        return new ClinicalEntry
        {
            RecordId = string.Empty,
            Id = e.Id!,
            ResourceType = "Encounter",
            DocumentId = string.Empty,
            CodeSystem = e.Class.System,
            Code = cls,
            CodeDisplay = e.ServiceProvider?.Display ?? e.Class.Display,
            Date = start,
            GroupId = e.Id,
            ResourceJson = string.Empty,
        };
    }

    private static ClinicalEntry DiagnosisEntry(Condition c, Encounter? stay, IReadOnlyDictionary<string, string> ids, string where, DocumentEntry document)
    {
        var code = Coded(c.Code, where, "a diagnosis (CIM-10: http://hl7.org/fhir/sid/icd-10)");
        LinkToStay(c.Encounter, stay, ids, where, r => c.Encounter = r);
        var date = DocumentResources.ParseInstant(c.RecordedDate) ?? (c.Onset as FhirDateTime)?.ToDateTimeOffset(TimeSpan.Zero) ?? StayStart(stay) ?? document.Date;
        return Entry(c, "Condition", code, c.Code!.Text, date, c.Encounter is null ? null : stay?.Id);
    }

    private static ClinicalEntry ActEntry(Procedure p, Encounter? stay, IReadOnlyDictionary<string, string> ids, string where, DocumentEntry document)
    {
        var code = Coded(p.Code, where, "an act (CCAM: https://smt.esante.gouv.fr/terminologie-ccam)");
        if (p.Status is null)
        {
            throw DmpException.Invalid($"{where}: status is required (completed for an act performed)", where + ".status");
        }

        LinkToStay(p.Encounter, stay, ids, where, r => p.Encounter = r);
        var date = p.Performed switch
        {
            FhirDateTime dt => dt.ToDateTimeOffset(TimeSpan.Zero),
            Period period => DocumentResources.ParseInstant(period.Start),
            _ => null,
        } ?? StayStart(stay) ?? document.Date;
        return Entry(p, "Procedure", code, p.Code!.Text, date, p.Encounter is null ? null : stay?.Id);
    }

    private static DateTimeOffset? StayStart(Encounter? stay) => DocumentResources.ParseInstant(stay?.Period?.Start);

    private static Coding Coded(CodeableConcept? concept, string where, string what) =>
        concept?.Coding.FirstOrDefault(x => !string.IsNullOrEmpty(x.System) && !string.IsNullOrEmpty(x.Code))
        ?? throw DmpException.Invalid($"{where}: code needs a coding with a system and a code: {what}", where + ".code");

    /// <summary>An entry names the transaction's stay (by fullUrl), or none and is linked to it when there is one.</summary>
    private static void LinkToStay(ResourceReference? encounter, Encounter? stay, IReadOnlyDictionary<string, string> ids, string where, Action<ResourceReference?> set)
    {
        if (encounter?.Reference is { } given)
        {
            if (stay is null || !ids.TryGetValue(given, out var local) || local != "Encounter/" + stay.Id)
            {
                throw DmpException.Invalid($"{where}: encounter must reference the stay (Encounter) of the transaction by its fullUrl", where + ".encounter");
            }
        }

        set(stay is null ? null : new ResourceReference("Encounter/" + stay.Id));
    }

    private static ClinicalEntry Entry(DomainResource r, string type, Coding code, string? text, DateTimeOffset? date, string? stayId)
    {
        return new ClinicalEntry
        {
            RecordId = string.Empty,
            Id = r.Id!,
            ResourceType = type,
            DocumentId = string.Empty,
            CodeSystem = code.System,
            Code = code.Code,
            CodeDisplay = code.Display ?? text,
            Date = date,
            GroupId = stayId,
            ResourceJson = string.Empty,
        };
    }

    /// <summary>
    /// A treatment the letter lists (at discharge): a source of the medication list, shown once with the
    /// prescriptions and dispensings of the same medication.
    /// </summary>
    public static ClinicalEntry TreatmentEntry(MedicationStatement ms, Encounter? stay, string recordId, DocumentEntry document, Actor actor, string where, DateTimeOffset now)
    {
        var coding = Prescriptions.MedicationCoding(Prescriptions.MedicationConcept(ms.Medication, ms.Contained))
            ?? throw DmpException.Invalid($"{where}: the medication must be coded (ANSM substance code, CIS, CIP13, UCD or ATC)", where + ".medication");
        var date = ms.Effective switch
        {
            FhirDateTime dt => dt.ToDateTimeOffset(TimeSpan.Zero),
            Period p => DocumentResources.ParseInstant(p.Start),
            _ => null,
        } ?? DocumentResources.ParseInstant(ms.DateAsserted) ?? StayStart(stay) ?? document.Date ?? now;
        ms.Subject = new ResourceReference("Patient/" + recordId);
        ms.Context = stay is null ? null : new ResourceReference("Encounter/" + stay.Id);
        ms.Meta = new Meta { VersionId = "1", LastUpdated = now };
        ms.DerivedFrom.Clear();
        return new ClinicalEntry
        {
            RecordId = recordId,
            Id = ms.Id!,
            ResourceType = "MedicationStatement",
            DocumentId = document.Id,
            CodeSystem = coding.System,
            Code = coding.Code,
            CodeDisplay = coding.Display ?? (ms.Medication as CodeableConcept)?.Text,
            Date = date,
            GroupId = stay?.Id,
            AuthorId = document.AuthorProfessionalId ?? actor.Id,
            CreatedAt = now,
            ResourceJson = FhirJson.Serialize(ms),
        };
    }

    /// <summary>The main diagnosis of a stay: the diagnosis ranked 1, else the first listed.</summary>
    public static string? MainDiagnosisId(Encounter stay) =>
        References.LogicalId((stay.Diagnosis.FirstOrDefault(d => d.Rank == 1) ?? stay.Diagnosis.FirstOrDefault())?.Condition?.Reference, "Condition");
}
