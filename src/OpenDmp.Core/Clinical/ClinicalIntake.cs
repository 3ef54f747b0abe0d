using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Clinical;

/// <summary>A structured resource of an ITI-65 transaction, filed with the transaction's document.</summary>
public sealed record StructuredResource(int Index, string FullUrl, Resource Resource);

/// <summary>
/// Structured entries filed with a document in one ITI-65 transaction (ADR 0018): prescription lines
/// (MedicationRequest) with a prescription (class 42), dispensings (MedicationDispense) with a
/// dispensing document (class 43) that appends to the prescription's document. Each entry is
/// validated, given its server id and linked to its document; the quantities are checked again under
/// the record's write gate (<see cref="CheckDispensingAsync"/>), where concurrent dispensings are serialised.
/// </summary>
public sealed class ClinicalIntake(DmpDbContext db)
{
    /// <summary>The resource types an ITI-65 transaction may carry besides documents.</summary>
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal) { "Observation", "MedicationRequest", "MedicationDispense", "Encounter", "Condition", "Procedure", "Immunization", "MedicationStatement", "AllergyIntolerance" };

    private const string ReportClass = "10";
    private const string PrescriptionClass = "42";
    private const string DispensingClass = "43";

    /// <summary>The entries of <paramref name="resources"/>, filed with <paramref name="document"/>.</summary>
    public async Task<(List<ClinicalEntry> Entries, List<ObservationEntry> Results)> BuildAsync(IReadOnlyList<StructuredResource> resources, DocumentEntry document, IReadOnlyList<DocumentLink> links, string recordId, Actor actor, DocumentScope scope, DateTimeOffset now, CancellationToken ct)
    {
        var entries = new List<ClinicalEntry>();
        var results = new List<ObservationEntry>();
        string? groupId = null;
        var prescriptionId = await PrescriptionIdentifierAsync(resources.Select(r => r.Resource).OfType<MedicationRequest>().ToList(), ct);

        // Server ids first, so that entries of the transaction may reference one another by fullUrl.
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in resources)
        {
            r.Resource.Id = Ids.New();
            if (r.FullUrl.Length > 0)
            {
                ids[r.FullUrl] = $"{r.Resource.TypeName}/{r.Resource.Id}";
            }
        }

        if (resources.Count(r => r.Resource is Encounter) > 1)
        {
            throw DmpException.Invalid("a transaction files one stay (Encounter) with its letter: split it", "Bundle.entry");
        }

        var stay = resources.Select(r => r.Resource).OfType<Encounter>().FirstOrDefault();
        foreach (var r in resources)
        {
            var where = $"Bundle.entry[{r.Index}].resource";
            await RequireSamePatientAsync(r.Resource, recordId, where, ct);
            if (r.Resource is Observation o)
            {
                if (document.ClassCode != ReportClass)
                {
                    throw DmpException.Invalid($"{where}: results are filed with their report (a document of class {ReportClass}, e.g. type 11502-2), not with a document of class {document.ClassCode}", where);
                }

                results.Add(ResultIntake.ToEntry(o, recordId, document.Id, where, now, o.Id));
                continue;
            }

            if (r.Resource is AllergyIntolerance allergy)
            {
                entries.Add(Allergies.ToEntry(allergy, recordId, document, actor, where, now));
                continue;
            }

            if (r.Resource is Immunization im)
            {
                entries.Add(Vaccinations.ToEntry(im, recordId, document, actor, where, now));
                continue;
            }

            if (r.Resource is MedicationStatement ms)
            {
                if (document.ClassCode != ReportClass)
                {
                    throw DmpException.Invalid($"{where}: a MedicationStatement (treatment at discharge) is filed with the letter or report (class {ReportClass}), not with a document of class {document.ClassCode}", where);
                }

                entries.Add(Stays.TreatmentEntry(ms, stay, recordId, document, actor, where, now));
                continue;
            }

            if (r.Resource is Encounter or Condition or Procedure)
            {
                if (document.ClassCode != ReportClass)
                {
                    throw DmpException.Invalid($"{where}: a stay, its diagnoses and acts are filed with the stay's letter or report (a document of class {ReportClass}, e.g. type 11490-0 or 34112-3), not with a document of class {document.ClassCode}", where);
                }

                entries.Add(Stays.ToEntry(r.Resource, stay, ids, recordId, document, actor, where, now));
                continue;
            }

            var entry = r.Resource switch
            {
                MedicationRequest mr => PrescriptionLine(mr, prescriptionId!, document, recordId, actor, where, now),
                MedicationDispense md => await DispensingAsync(md, document, links, recordId, actor, scope, where, now, ct),
                _ => throw DmpException.Invalid($"{where}: {r.Resource.TypeName} is not filed through ITI-65", where),
            };
            if (groupId is not null && entry.GroupId != groupId)
            {
                throw DmpException.Invalid($"{where}: a transaction files one prescription, or the dispensing of one prescription: every line must carry the same prescription identifier", where);
            }

            groupId = entry.GroupId;
            entries.Add(entry);
        }

        if (entries.FirstOrDefault(e => e.ResourceType == "MedicationDispense") is { } dispensing)
        {
            // The dispensing document is hidden from the prescriber when the patient opposes it.
            document.PrescriberId = await db.ClinicalEntries.AsNoTracking()
                .Where(x => x.RecordId == recordId && x.Id == dispensing.RequestId).Select(x => x.AuthorId).FirstAsync(ct);
        }

        return (entries, results);
    }

    /// <summary>
    /// Under the record's write gate: every dispensing fits what its prescription line still allows
    /// (quantity, renewals, validity), counting the dispensings already filed, whoever may see them.
    /// </summary>
    public async System.Threading.Tasks.Task CheckDispensingAsync(string recordId, IReadOnlyList<ClinicalEntry> entries, DateTimeOffset now, CancellationToken ct)
    {
        foreach (var group in entries.Where(e => e.ResourceType == "MedicationDispense").GroupBy(e => e.RequestId!))
        {
            var line = await db.ClinicalEntries.AsNoTracking().FirstAsync(x => x.RecordId == recordId && x.Id == group.Key, ct);
            var already = await db.ClinicalEntries.AsNoTracking()
                .Where(x => x.RecordId == recordId && x.ResourceType == "MedicationDispense" && x.RequestId == group.Key)
                .SumAsync(x => x.Quantity ?? 0, ct);
            if (Prescriptions.RefusalOf(line, already, group.Sum(e => e.Quantity ?? 0), now) is { } refusal)
            {
                throw DmpException.Invalid($"MedicationRequest/{line.Id} ({line.CodeDisplay ?? line.Code}): {refusal}", "MedicationDispense.quantity");
            }
        }
    }

    private static ClinicalEntry PrescriptionLine(MedicationRequest mr, Identifier prescriptionId, DocumentEntry document, string recordId, Actor actor, string where, DateTimeOffset now)
    {
        if (document.ClassCode != PrescriptionClass)
        {
            throw DmpException.Invalid($"{where}: a MedicationRequest is filed with its prescription document (class {PrescriptionClass}, e.g. type 57833-6), not with a document of class {document.ClassCode}", where);
        }

        if (mr.Intent != MedicationRequest.MedicationRequestIntent.Order || mr.Status != MedicationRequest.MedicationrequestStatus.Active)
        {
            throw DmpException.Invalid($"{where}: a prescription line is filed with status 'active' and intent 'order'", where + ".status");
        }

        var coding = Prescriptions.MedicationCoding(Prescriptions.MedicationConcept(mr.Medication, mr.Contained))
            ?? throw DmpException.Invalid($"{where}: the medication must be coded (medicationCodeableConcept, or a contained Medication with a code: ANSM substance code, CIS, CIP13, UCD or ATC)", where + ".medication");
        var authoredOn = DocumentResources.ParseInstant(mr.AuthoredOn)
            ?? throw DmpException.Invalid($"{where}: authoredOn (the prescription date) is required", where + ".authoredOn");
        if (authoredOn > now.AddDays(1))
        {
            throw DmpException.Invalid($"{where}: authoredOn is in the future", where + ".authoredOn");
        }

        var quantity = mr.DispenseRequest?.Quantity;
        if (quantity?.Value is not > 0)
        {
            throw DmpException.Invalid($"{where}: dispenseRequest.quantity (the quantity per dispensing, > 0) is required: dispensing is checked against it", where + ".dispenseRequest.quantity");
        }

        var repeats = mr.DispenseRequest!.NumberOfRepeatsAllowed ?? 0;
        if (repeats is < 0 or > Prescriptions.MaxRepeats)
        {
            throw DmpException.Invalid($"{where}: numberOfRepeatsAllowed must be between 0 and {Prescriptions.MaxRepeats}", where + ".dispenseRequest.numberOfRepeatsAllowed");
        }

        var validUntil = Prescriptions.ValidUntil(mr, authoredOn);
        if (validUntil <= authoredOn)
        {
            throw DmpException.Invalid($"{where}: the validity period ends before the prescription date", where + ".dispenseRequest.validityPeriod");
        }

        var groupId = prescriptionId.Value;
        mr.GroupIdentifier = prescriptionId;
        var id = mr.Id;
        mr.Meta = new Meta { VersionId = "1", LastUpdated = now };
        mr.Subject = new ResourceReference("Patient/" + recordId);
        mr.Requester ??= new ResourceReference("Practitioner/" + actor.Id);
        mr.SupportingInformation.RemoveAll(s => s.Reference?.StartsWith("DocumentReference/", StringComparison.Ordinal) == true);
        mr.SupportingInformation.Add(new ResourceReference("DocumentReference/" + document.Id));
        mr.Extension.RemoveAll(e => e.Url == Prescriptions.DispensingExtension);
        return new ClinicalEntry
        {
            RecordId = recordId,
            Id = id!,
            ResourceType = "MedicationRequest",
            DocumentId = document.Id,
            CodeSystem = coding.System,
            Code = coding.Code,
            CodeDisplay = coding.Display ?? mr.Medication switch { CodeableConcept cc => cc.Text, _ => null },
            Date = authoredOn,
            GroupId = groupId,
            Quantity = (double)quantity.Value!.Value,
            Unit = quantity.Unit ?? quantity.Code,
            Repeats = repeats,
            ValidUntil = validUntil,
            AuthorId = document.AuthorProfessionalId ?? actor.Id,
            CreatedAt = now,
            ResourceJson = FhirJson.Serialize(mr),
        };
    }

    /// <summary>
    /// The identifier of the prescription the lines form: the one the prescriber's software gave
    /// (the same on every line that carries one, unique on the platform), or a new one; null without lines.
    /// </summary>
    private async Task<Identifier?> PrescriptionIdentifierAsync(List<MedicationRequest> lines, CancellationToken ct)
    {
        if (lines.Count == 0)
        {
            return null;
        }

        var given = lines.Select(l => l.GroupIdentifier).Where(g => g?.Value is not null).ToList();
        if (given.Count == 0)
        {
            return new Identifier(Prescriptions.IdentifierSystem, Prescriptions.NewIdentifier());
        }

        if (given.Select(g => (g!.System, g.Value)).Distinct().Count() > 1)
        {
            throw DmpException.Invalid("a transaction files one prescription: every MedicationRequest carries the same groupIdentifier (or none, and OpenDMP assigns one)", "MedicationRequest.groupIdentifier");
        }

        var value = given[0]!.Value;
        if (!Prescriptions.IsAcceptableIdentifier(value))
        {
            throw DmpException.Invalid("the prescription identifier (groupIdentifier.value) must be 8 to 64 letters, digits, '-', '.' or '_'; leave it out and OpenDMP assigns one", "MedicationRequest.groupIdentifier");
        }

        if (await db.ClinicalEntries.AsNoTracking().AnyAsync(x => x.GroupId == value && x.ResourceType == "MedicationRequest", ct))
        {
            throw new DmpException(ErrorKind.Conflict, $"the prescription identifier {value} is already used by another prescription: identifiers are unique; leave it out and OpenDMP assigns one", "MedicationRequest.groupIdentifier");
        }

        return new Identifier(given[0]!.System, value);
    }

    private async Task<ClinicalEntry> DispensingAsync(MedicationDispense md, DocumentEntry document, IReadOnlyList<DocumentLink> links, string recordId, Actor actor, DocumentScope scope, string where, DateTimeOffset now, CancellationToken ct)
    {
        if (document.ClassCode != DispensingClass)
        {
            throw DmpException.Invalid($"{where}: a MedicationDispense is filed with its dispensing document (class {DispensingClass}, type 60593-1), not with a document of class {document.ClassCode}", where);
        }

        if (md.Status != MedicationDispense.MedicationDispenseStatusCodes.Completed)
        {
            throw DmpException.Invalid($"{where}: a dispensing is filed once handed over, with status 'completed'", where + ".status");
        }

        if (md.AuthorizingPrescription.Count != 1 || References.LogicalId(md.AuthorizingPrescription[0].Reference, "MedicationRequest") is not { } requestId)
        {
            throw DmpException.Invalid($"{where}: authorizingPrescription must name the one prescription line dispensed (MedicationRequest/[id])", where + ".authorizingPrescription");
        }

        var line = await db.ClinicalEntries.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == recordId && x.Id == requestId && x.ResourceType == "MedicationRequest", ct);
        var prescription = line is null ? null : await db.Documents.AsNoTracking().FirstOrDefaultAsync(d => d.RecordId == recordId && d.Id == line.DocumentId && !d.Erased, ct);
        if (line is null || prescription is null || !scope.Admits(DocumentResources.Facts(prescription)))
        {
            // The same answer whether the line does not exist or may not be seen.
            throw DmpException.Invalid($"{where}: MedicationRequest/{requestId} is not a prescription line of this patient's record", where + ".authorizingPrescription");
        }

        if (!links.Any(l => l.Kind == "appends" && l.Target == prescription.Id))
        {
            throw DmpException.Invalid($"{where}: the dispensing document must append to the prescription's document (relatesTo code 'appends', target DocumentReference/{prescription.Id})", where);
        }

        var quantity = md.Quantity;
        if (quantity?.Value is not > 0)
        {
            throw DmpException.Invalid($"{where}: quantity (the quantity handed over, > 0) is required", where + ".quantity");
        }

        var handedOver = DocumentResources.ParseInstant(md.WhenHandedOver)
            ?? throw DmpException.Invalid($"{where}: whenHandedOver is required", where + ".whenHandedOver");
        if (handedOver > now.AddMinutes(5))
        {
            throw DmpException.Invalid($"{where}: whenHandedOver is in the future", where + ".whenHandedOver");
        }

        // A generic may be substituted: the medication handed over is coded on its own.
        var coding = Prescriptions.MedicationCoding(Prescriptions.MedicationConcept(md.Medication, md.Contained))
            ?? throw DmpException.Invalid($"{where}: the medication handed over must be coded", where + ".medication");

        var id = md.Id;
        md.Meta = new Meta { VersionId = "1", LastUpdated = now };
        md.Subject = new ResourceReference("Patient/" + recordId);
        md.AuthorizingPrescription = [new ResourceReference("MedicationRequest/" + requestId)];
        if (md.Performer.Count == 0)
        {
            md.Performer.Add(new MedicationDispense.PerformerComponent { Actor = new ResourceReference("Practitioner/" + actor.Id) });
        }

        md.SupportingInformation.RemoveAll(s => s.Reference?.StartsWith("DocumentReference/", StringComparison.Ordinal) == true);
        md.SupportingInformation.Add(new ResourceReference("DocumentReference/" + document.Id));
        return new ClinicalEntry
        {
            RecordId = recordId,
            Id = id!,
            ResourceType = "MedicationDispense",
            DocumentId = document.Id,
            CodeSystem = coding.System,
            Code = coding.Code,
            CodeDisplay = coding.Display ?? line.CodeDisplay,
            Date = handedOver,
            GroupId = line.GroupId,
            RequestId = requestId,
            Quantity = (double)quantity.Value!.Value,
            Unit = quantity.Unit ?? quantity.Code ?? line.Unit,
            AuthorId = actor.Id,
            CreatedAt = now,
            ResourceJson = FhirJson.Serialize(md),
        };
    }

    private async System.Threading.Tasks.Task RequireSamePatientAsync(Resource resource, string recordId, string where, CancellationToken ct)
    {
        var subject = resource switch
        {
            MedicationRequest mr => mr.Subject,
            MedicationDispense md => md.Subject,
            Observation o => o.Subject,
            Encounter e => e.Subject,
            Condition c => c.Subject,
            Procedure p => p.Subject,
            Immunization im => im.Patient,
            MedicationStatement ms => ms.Subject,
            AllergyIntolerance a => a.Patient,
            _ => null,
        };
        if (subject is null)
        {
            throw DmpException.Invalid($"{where}: subject (the patient) is required", where + ".subject");
        }

        if (References.LogicalId(subject.Reference, "Patient") == recordId)
        {
            return;
        }

        if (await References.ResolvePatientAsync(db, subject, ct) != recordId)
        {
            throw DmpException.Invalid($"{where}: every entry of a submission must concern the SubmissionSet's patient", where + ".subject");
        }
    }
}
