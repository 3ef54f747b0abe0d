namespace OpenDmp.Core.Clinical;

/// <summary>A structured result (lab, vital sign) of a record, e.g. LOINC-coded values.</summary>
public sealed class ObservationEntry
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public string? CodeSystem { get; set; }
    public required string Code { get; set; }
    public string? CodeDisplay { get; set; }
    public string? Category { get; set; }
    public required string Status { get; set; }
    public double? ValueNumber { get; set; }
    public string? Unit { get; set; }
    public string? ValueText { get; set; }
    public DateTimeOffset? Effective { get; set; }
    /// <summary>The document the result was read from (a CI-SIS lab report): it is seen, masked, erased and deleted with it.</summary>
    public string? DocumentId { get; set; }
    public required string ResourceJson { get; set; }
    /// <summary>The result's interpretation code (v3 ObservationInterpretation) as received: read by the alert rules at intake, not stored apart from the resource.</summary>
    public string? Interpretation { get; set; }
}

/// <summary>
/// A structured entry of a record other than a result — a prescription line (MedicationRequest), a
/// dispensing (MedicationDispense), a diagnosis (Condition), an act (Procedure) — always derived
/// from a document filed with it: it is seen, masked, erased and deleted with that document (ADR 0018).
/// </summary>
public sealed class ClinicalEntry
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    /// <summary>The FHIR resource type.</summary>
    public required string ResourceType { get; set; }
    /// <summary>The document the entry was filed with.</summary>
    public required string DocumentId { get; set; }
    public string? CodeSystem { get; set; }
    public string? Code { get; set; }
    public string? CodeDisplay { get; set; }
    /// <summary>authoredOn, whenHandedOver, recordedDate or performed.</summary>
    public DateTimeOffset? Date { get; set; }
    /// <summary>
    /// The prescription identifier (MedicationRequest.groupIdentifier value) of a prescription line or
    /// of the prescription a dispensing executes; the stay of a diagnosis or act; the care type
    /// (claim type) of a reimbursed care.
    /// </summary>
    public string? GroupId { get; set; }
    /// <summary>For a dispensing: the MedicationRequest it executes.</summary>
    public string? RequestId { get; set; }
    /// <summary>Quantity per dispensing (prescription line) or quantity handed over (dispensing).</summary>
    public double? Quantity { get; set; }
    public string? Unit { get; set; }
    /// <summary>Renewals allowed after the first dispensing (prescription line).</summary>
    public int? Repeats { get; set; }
    /// <summary>Last day a dispensing is allowed (prescription line).</summary>
    public DateTimeOffset? ValidUntil { get; set; }
    /// <summary>The professional who prescribed or dispensed.</summary>
    public string? AuthorId { get; set; }
    /// <summary>Who gave the care, as the source names them (a reimbursed care's professional).</summary>
    public string? PerformerDisplay { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public required string ResourceJson { get; set; }
}
