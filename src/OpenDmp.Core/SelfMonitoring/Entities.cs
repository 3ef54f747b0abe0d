namespace OpenDmp.Core.SelfMonitoring;

/// <summary>
/// A measurement the patient (or a legal representative, or a connected device with a token the
/// patient issued) recorded: LOINC-coded, always marked patient-entered, never mistaken for a
/// result validated by a professional.
/// </summary>
public sealed class Measurement
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    /// <summary>LOINC code of the measured quantity (see <see cref="MeasurementCatalog"/>).</summary>
    public required string Code { get; set; }
    public double Value { get; set; }
    /// <summary>UCUM unit of the catalog for this code.</summary>
    public required string Unit { get; set; }
    public DateTimeOffset Effective { get; set; }
    public DateTimeOffset RecordedAt { get; set; }
    /// <summary>patient, representative or device, and who: "patient", "representative:{id}", "device:{token id}".</summary>
    public required string EnteredBy { get; set; }
}

/// <summary>
/// A threshold on one measured quantity for one patient: set by the patient (values only) or by the
/// treating physician (values and what to do when it is crossed, shown with the warning).
/// </summary>
public sealed class MonitoringThreshold
{
    public required string RecordId { get; set; }
    public required string Code { get; set; }
    public double? Low { get; set; }
    public double? High { get; set; }
    /// <summary>What to do when crossed, written by a professional; null when the patient set the threshold.</summary>
    public string? Advice { get; set; }
    /// <summary>"patient", "representative:{id}" or the professional's id.</summary>
    public required string SetBy { get; set; }
    /// <summary>Whether the treating physician is alerted when a measurement crosses it.</summary>
    public bool AlertPhysician { get; set; }
    public DateTimeOffset SetAt { get; set; }
}

/// <summary>
/// A connected device's token, issued by the patient and revocable by them: it lets the device
/// record measurements in that record and nothing else (stored as a SHA-256 hash; shown once).
/// </summary>
public sealed class DeviceToken
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string Name { get; set; }
    public required string TokenHash { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public DateTimeOffset? LastUsedAt { get; set; }
}

/// <summary>What a patient may measure: the LOINC code, its UCUM unit, the plausible range a value must fall in, and the labels.</summary>
public sealed record MeasuredQuantity(string Code, string Unit, double Min, double Max, string Fr, string En, string Slug)
{
    public string Label(bool english) => english ? En : Fr;

    /// <summary>The unit as people write it (mmHg, °C).</summary>
    public string UnitDisplay => Unit switch { "mm[Hg]" => "mmHg", "Cel" => "°C", _ => Unit };
}

public static class MeasurementCatalog
{
    public const string LoincSystem = "http://loinc.org";

    public static readonly IReadOnlyList<MeasuredQuantity> All =
    [
        new("2339-0", "g/L", 0.1, 8, "Glycémie capillaire", "Capillary blood glucose", "glycemie"),
        new("8480-6", "mm[Hg]", 50, 280, "Pression artérielle systolique", "Systolic blood pressure", "systolique"),
        new("8462-4", "mm[Hg]", 20, 180, "Pression artérielle diastolique", "Diastolic blood pressure", "diastolique"),
        new("8867-4", "/min", 20, 250, "Fréquence cardiaque", "Heart rate", "pouls"),
        new("29463-7", "kg", 0.5, 400, "Poids", "Body weight", "poids"),
        new("19935-6", "L/min", 30, 900, "Débit expiratoire de pointe", "Peak expiratory flow", "dep"),
        new("8310-5", "Cel", 30, 45, "Température", "Body temperature", "temperature"),
        new("59408-5", "%", 50, 100, "Saturation en oxygène", "Oxygen saturation", "spo2"),
    ];

    public static MeasuredQuantity? Find(string code) => All.FirstOrDefault(q => q.Code == code);
}
