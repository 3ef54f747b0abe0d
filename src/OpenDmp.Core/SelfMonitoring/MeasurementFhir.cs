using Hl7.Fhir.Model;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.SelfMonitoring;

/// <summary>
/// Patient-entered measurements as FHIR Observations: posted by the patient's software or device
/// (LOINC code of the catalog, valueQuantity in its UCUM unit, effectiveDateTime), answered as
/// stored with category vital-signs, the patient as performer and the tag
/// urn:opendmp:entered-by|patient (or device) that marks them as not validated by a professional.
/// </summary>
public static class MeasurementFhir
{
    public const string EnteredBySystem = "urn:opendmp:entered-by";

    public static (string Code, double Value, DateTimeOffset? Effective) Parse(Observation o)
    {
        var coding = o.Code?.Coding.FirstOrDefault(c => c.System == MeasurementCatalog.LoincSystem && c.Code is not null && MeasurementCatalog.Find(c.Code) is not null)
            ?? throw DmpException.Invalid($"Observation.code needs a LOINC coding of a quantity one may record ({string.Join(", ", MeasurementCatalog.All.Select(q => q.Code))})", "Observation.code");
        var quantity = MeasurementCatalog.Find(coding.Code!)!;
        if (o.Value is not Quantity { Value: { } value } q)
        {
            throw DmpException.Invalid("Observation.valueQuantity with a value is required", "Observation.value");
        }

        if (q.Code is { } unit && unit != quantity.Unit)
        {
            throw DmpException.Invalid($"{quantity.En} is recorded in UCUM '{quantity.Unit}', got '{unit}'", "Observation.valueQuantity.code");
        }

        DateTimeOffset? effective = null;
        if (o.Effective is FhirDateTime dt)
        {
            effective = dt.TryToDateTimeOffset(out var at) ? at : throw DmpException.Invalid("Observation.effectiveDateTime is not a date and time", "Observation.effective");
        }
        else if (o.Effective is not null)
        {
            throw DmpException.Invalid("a measurement's time is an effectiveDateTime", "Observation.effective");
        }

        return (quantity.Code, (double)value, effective);
    }

    public static Observation ToObservation(Measurement m)
    {
        var quantity = MeasurementCatalog.Find(m.Code)!;
        var o = new Observation
        {
            Id = m.Id,
            Meta = new Meta { VersionId = "1", LastUpdated = m.RecordedAt },
            Status = ObservationStatus.Final,
            Category = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")],
            Code = new CodeableConcept(MeasurementCatalog.LoincSystem, quantity.Code, quantity.En),
            Subject = new ResourceReference("Patient/" + m.RecordId),
            Performer = [new ResourceReference("Patient/" + m.RecordId)],
            Effective = new FhirDateTime(m.Effective),
            Value = new Quantity((decimal)m.Value, quantity.Unit) { Unit = quantity.UnitDisplay },
        };
        o.Meta.Tag.Add(new Coding(EnteredBySystem, m.EnteredBy.StartsWith("device:", StringComparison.Ordinal) ? "device" : "patient", "Patient-entered (not validated by a professional)"));
        return o;
    }
}
