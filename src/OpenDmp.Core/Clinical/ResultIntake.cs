using Hl7.Fhir.Model;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// Structured results written by professionals (laboratories, hospitals): an Observation alone
/// (<c>POST /fhir/Observation</c>) or with its report in one ITI-65 transaction, where it is linked
/// to the report (derivedFrom) and follows it (ADR 0018).
/// </summary>
public sealed class ResultIntake(DmpDbContext db, RecordGuard guard, WriteGate gate, AuditTrail audit, TimeProvider time, Alerts.AlertOptions alertOptions, Alerts.AlertSignal alertSignal)
{
    public const string Loinc = "http://loinc.org";
    public const string UcumSystem = "http://unitsofmeasure.org";

    /// <summary>How a result written alone is seen by the policy: a biology report (class 10, LOINC 11502-2).</summary>
    public static readonly DocumentFacts BiologyResult = new("observation", null, null, "10", "11502-2");

    /// <summary>Writes one result alone, after the policy admitted the writer (matrix: biology) on the record.</summary>
    public async Task<(string Id, string Json)> CreateAsync(Observation o, Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await References.ResolvePatientAsync(db, o.Subject, ct)
            ?? throw DmpException.Invalid("subject designates no patient of OpenDMP", "Observation.subject");
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Create, "Observation", channel, ct);
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.CreateDocument, facts), AuditAction.Create, "Observation", null, channel, auditPermit: false, ct, "you are not authorised to write to this patient's record");
        if (!permit.Admits(BiologyResult, AccessAction.CreateDocument))
        {
            await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Create, "denied", channel, "Observation", null, Detail: "profession may not write biology results"), ct);
            throw new DmpException(ErrorKind.Forbidden, "your profession may not write biology results in this record");
        }

        var now = time.GetUtcNow();
        var entry = ToEntry(o, recordId, null, "Observation", now);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        db.Observations.Add(entry);
        var events = Alerts.AlertService.AddResultEvents(db, alertOptions, recordId, null, [entry], null, now);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "Observation", entry.Id, permit.Mode), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        if (events > 0)
        {
            alertSignal.Wake();
        }

        return (entry.Id, entry.ResourceJson);
    }

    /// <summary>
    /// A valid result as stored: status, coded test (LOINC recommended), effective time (specimen
    /// date), a value (Quantity with a UCUM unit, coded, text) or a data-absent reason; 422 naming
    /// the element otherwise.
    /// </summary>
    public static ObservationEntry ToEntry(Observation o, string recordId, string? documentId, string where, DateTimeOffset now, string? id = null)
    {
        if (o.Status is not (ObservationStatus.Final or ObservationStatus.Amended or ObservationStatus.Corrected or ObservationStatus.Preliminary))
        {
            throw DmpException.Invalid($"{where}: status must be final, amended, corrected or preliminary", where + ".status");
        }

        var code = o.Code?.Coding.FirstOrDefault(c => c.System == Loinc && !string.IsNullOrEmpty(c.Code))
            ?? o.Code?.Coding.FirstOrDefault(c => !string.IsNullOrEmpty(c.System) && !string.IsNullOrEmpty(c.Code))
            ?? throw DmpException.Invalid($"{where}: code needs a coding with a system and a code (LOINC: http://loinc.org)", where + ".code");
        var effective = o.Effective switch
        {
            FhirDateTime dt when dt.TryToDateTimeOffset(out var v) => v.ToUniversalTime(),
            Period p when DocumentResources.ParseInstant(p.Start) is { } start => start.ToUniversalTime(),
            _ => throw DmpException.Invalid($"{where}: effectiveDateTime (the specimen's collection time) is required", where + ".effective"),
        };
        if (effective > now.AddDays(1))
        {
            throw DmpException.Invalid($"{where}: the effective time is in the future", where + ".effective");
        }

        double? number = null;
        string? unit = null;
        string? text = null;
        switch (o.Value)
        {
            case Quantity q:
                if (q.Value is null)
                {
                    throw DmpException.Invalid($"{where}: valueQuantity.value is required", where + ".valueQuantity.value");
                }

                if (q.Code is not null && q.System != UcumSystem)
                {
                    throw DmpException.Invalid($"{where}: a coded unit is a UCUM unit (system http://unitsofmeasure.org)", where + ".valueQuantity.system");
                }

                if (q.Code is not null && !Ucum.IsKnown(q.Code))
                {
                    throw DmpException.Invalid($"{where}: '{q.Code}' is not a UCUM unit OpenDMP reads (e.g. mmol/L, g/L, mg/dL, 10*9/L, %, [IU]/L)", where + ".valueQuantity.code");
                }

                number = (double)q.Value.Value;
                unit = q.Code ?? q.Unit;
                break;
            case CodeableConcept cc:
                text = cc.Text ?? cc.Coding.FirstOrDefault()?.Display ?? cc.Coding.FirstOrDefault()?.Code;
                break;
            case FhirString s:
                text = s.Value;
                break;
            case null when o.DataAbsentReason is not null:
                break;
            case null:
                throw DmpException.Invalid($"{where}: a result needs a value (valueQuantity, valueCodeableConcept, valueString) or a dataAbsentReason", where + ".value");
            default:
                throw DmpException.Invalid($"{where}: value[x] of type {o.Value.TypeName} is not supported (Quantity, CodeableConcept, string)", where + ".value");
        }

        id ??= Ids.New();
        o.Id = id;
        o.Meta = new Meta { VersionId = "1", LastUpdated = now };
        o.Subject = new ResourceReference("Patient/" + recordId);
        o.Encounter = null;
        if (o.Category.Count == 0)
        {
            o.Category.Add(new CodeableConcept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory"));
        }

        o.DerivedFrom.RemoveAll(r => r.Reference?.StartsWith("DocumentReference/", StringComparison.Ordinal) == true);
        if (documentId is not null)
        {
            o.DerivedFrom.Add(new ResourceReference("DocumentReference/" + documentId));
        }

        return new ObservationEntry
        {
            RecordId = recordId,
            Id = id,
            CodeSystem = code.System,
            Code = code.Code!,
            CodeDisplay = code.Display ?? o.Code!.Text,
            Category = o.Category.FirstOrDefault()?.Coding.FirstOrDefault()?.Code,
            Status = o.Status?.ToString().ToLowerInvariant() ?? "final",
            ValueNumber = number,
            Unit = unit,
            ValueText = text,
            Effective = effective,
            DocumentId = documentId,
            ResourceJson = FhirJson.Serialize(o),
            Interpretation = o.Interpretation.SelectMany(i => i.Coding).FirstOrDefault(c => !string.IsNullOrEmpty(c.Code))?.Code,
        };
    }
}
