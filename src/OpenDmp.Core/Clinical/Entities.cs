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
}
