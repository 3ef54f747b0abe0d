namespace OpenDmp.Core.Alerts;

/// <summary>
/// Something that happened in a record and may alert professionals (an emergency admission, a result
/// crossing a rule), written in the same transaction as the change itself (an outbox): nothing is
/// decided on the write path but that the event exists; the dispatcher decides recipients later,
/// under the policy, and marks the event processed.
/// </summary>
public sealed class RecordEvent
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    /// <summary>emergency-admission, result.</summary>
    public required string Kind { get; set; }
    /// <summary>The admission grant, or the result (Observation) that crossed a rule.</summary>
    public required string SubjectId { get; set; }
    /// <summary>The document the result was filed in (null for a result written alone).</summary>
    public string? DocumentId { get; set; }
    /// <summary>The establishment of an admission.</summary>
    public string? OrganizationId { get; set; }
    /// <summary>The result rule that fired.</summary>
    public string? RuleId { get; set; }
    /// <summary>RPPS of the professional who ordered the test (lab report header), when given.</summary>
    public string? PrescriberRpps { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ProcessedAt { get; set; }
    /// <summary>Dispatch attempts that failed (the record's transaction was rolled back).</summary>
    public int Attempts { get; set; }
    /// <summary>
    /// Set (with <see cref="ProcessedAt"/>) when the event was set aside after Alerts:MaxAttempts
    /// failures, so that one record's fault does not hold the queue; the operator requeues it.
    /// </summary>
    public DateTimeOffset? FailedAt { get; set; }
    /// <summary>The last failure's exception type (never a message: it could quote data).</summary>
    public string? Failure { get; set; }
}

/// <summary>
/// An alert for one professional about one patient. It names the patient and, for an admission, the
/// establishment — never a value, a title or anything clinical: what triggered it is read by opening
/// it, under the policy.
/// </summary>
public sealed class ProfessionalAlert
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string RecipientId { get; set; }
    /// <summary>emergency-admission, result.</summary>
    public required string Kind { get; set; }
    public required string EventId { get; set; }
    public string? OrganizationId { get; set; }
    /// <summary>The document to open (a result filed in a document).</summary>
    public string? DocumentId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? AcknowledgedAt { get; set; }
    /// <summary>pending (to e-mail), sent, no-address (the professional has no e-mail address).</summary>
    public required string EmailStatus { get; set; }
}
