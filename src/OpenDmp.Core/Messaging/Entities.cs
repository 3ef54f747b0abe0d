namespace OpenDmp.Core.Messaging;

/// <summary>A secure message sent by the platform on behalf of a professional (no content kept, no health data).</summary>
public sealed class OutboundMessage
{
    public required string Id { get; set; }
    /// <summary>The RFC 5322 Message-ID (without angle brackets).</summary>
    public required string MessageId { get; set; }
    public required string SenderProfessionalId { get; set; }
    /// <summary>The record the documents concern (messaging rows are sharded with their record, design D16).</summary>
    public required string RecordId { get; set; }
    public int DocumentCount { get; set; }
    public bool Deposit { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// One recipient of an outbound message and its delivery status: sent (accepted by the SMTP
/// server), delivered / displayed / processed (from a disposition notification, MDN), filed or
/// rejected (the platform's deposit channel), failed (a delivery status notification, DSN).
/// </summary>
public sealed class OutboundRecipient
{
    /// <summary>The record of the message (the distribution key, design D16).</summary>
    public required string RecordId { get; set; }
    public required string OutboundId { get; set; }
    public required string Address { get; set; }
    public string? ProfessionalId { get; set; }
    public required string Status { get; set; }
    public DateTimeOffset StatusAt { get; set; }
    public string? Detail { get; set; }
}

/// <summary>
/// One message taken from the platform's mailbox, keyed by its Message-ID (hashed): processing is
/// idempotent, and for a deposit this row is written in the same transaction as the documents.
/// </summary>
public sealed class InboundMessage
{
    /// <summary>SHA-256 (hex) of the Message-ID, or of the raw message when it has none.</summary>
    public required string Key { get; set; }
    public required string MessageId { get; set; }
    /// <summary>deposit, receipt (MDN), bounce (DSN), other.</summary>
    public required string Kind { get; set; }
    /// <summary>filed, rejected, recorded, ignored.</summary>
    public required string Outcome { get; set; }
    public string? SenderProfessionalId { get; set; }
    public string? SenderAddress { get; set; }
    public string? RecordId { get; set; }
    public string? SubmissionSetId { get; set; }
    /// <summary>Why a deposit was rejected (no health data: reasons, paths and codes).</summary>
    public string? Detail { get; set; }
    public DateTimeOffset ProcessedAt { get; set; }
    /// <summary>When the signed answer (receipt or rejection) went out; null until then, so a crash resends it.</summary>
    public DateTimeOffset? ReplySentAt { get; set; }
}
