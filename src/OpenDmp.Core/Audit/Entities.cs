namespace OpenDmp.Core.Audit;

/// <summary>
/// One entry of the audit trail. Append-only; one hash chain per record
/// (hash = SHA-256 over the canonical entry and the previous hash).
/// Entries not tied to a record (directory searches, administration) go to the system chain.
/// </summary>
public sealed class AuditEntry
{
    public required string RecordId { get; set; }
    public long Seq { get; set; }
    public DateTimeOffset Time { get; set; }
    public required string ActorKind { get; set; }
    public required string ActorId { get; set; }
    /// <summary>The professional a staff member acted for (both are named), else null.</summary>
    public string? OnBehalfOf { get; set; }
    /// <summary>The establishment through whose system (organisation certificate and VIHF) the professional acted, else null.</summary>
    public string? ViaStructure { get; set; }
    public required string Action { get; set; }
    public string? ObjectType { get; set; }
    public string? ObjectId { get; set; }
    public required string Outcome { get; set; }
    public string? Mode { get; set; }
    public required string Channel { get; set; }
    /// <summary>Non-clinical detail (reason of a denial, number of hits). Never health data.</summary>
    public string? Detail { get; set; }
    public required string PrevHash { get; set; }
    public required string Hash { get; set; }
}
