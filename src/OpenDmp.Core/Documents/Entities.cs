namespace OpenDmp.Core.Documents;

/// <summary>A document of a record: its XDS metadata, status and the reference to its content.</summary>
public sealed class DocumentEntry
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string MasterIdentifier { get; set; }
    /// <summary>FHIR DocumentReference.status: current or superseded.</summary>
    public required string Status { get; set; }
    /// <summary>Erased (effacement): hidden from everyone, kept for medico-legal purposes.</summary>
    public bool Erased { get; set; }
    public DateTimeOffset? ErasedAt { get; set; }
    /// <summary>Masked by the patient: invisible to professionals other than the treating physician and the author (policy setting).</summary>
    public bool Masked { get; set; }
    /// <summary>Invisible to the patient until the announcement consultation (TRE_A07 INVISIBLE_PATIENT); released by its author.</summary>
    public bool HiddenFromPatient { get; set; }
    /// <summary>Invisible to the patient's legal representatives (TRE_A07 INVISIBLE_REPRESENTANTS_LEGAUX).</summary>
    public bool HiddenFromRepresentatives { get; set; }
    /// <summary>Draft (docStatus preliminary): never shown to the patient until validated by its author.</summary>
    public bool Draft { get; set; }
    public string? TypeSystem { get; set; }
    public required string TypeCode { get; set; }
    public string? TypeDisplay { get; set; }
    public string? ClassSystem { get; set; }
    public string? ClassCode { get; set; }
    public string? ClassDisplay { get; set; }
    public string? FormatCode { get; set; }
    public string? FacilityTypeCode { get; set; }
    public string? PracticeSettingCode { get; set; }
    public string? ConfidentialityCode { get; set; }
    public string? Title { get; set; }
    public required string ContentType { get; set; }
    public long Size { get; set; }
    /// <summary>SHA-1 of the content, base64 (FHIR R4 Attachment.hash).</summary>
    public required string Sha1 { get; set; }
    /// <summary>DocumentReference.date (indexed; ITI-67 date searches).</summary>
    public DateTimeOffset? Date { get; set; }
    public DateTimeOffset? PeriodStart { get; set; }
    public DateTimeOffset? PeriodEnd { get; set; }
    /// <summary>Directory id of the author when the author is a known professional.</summary>
    public string? AuthorProfessionalId { get; set; }
    /// <summary>Author identifier as given (e.g. "8"+RPPS or RPPS), for the author search parameter.</summary>
    public string? AuthorIdentifier { get; set; }
    public string? AuthorDisplay { get; set; }
    /// <summary>For a dispensing document: the professional who wrote the prescription it executes (the patient may hide it from them).</summary>
    public string? PrescriberId { get; set; }
    /// <summary>Directory id of the professional who submitted the document.</summary>
    public string? SubmitterId { get; set; }
    public string? SubmissionSetId { get; set; }
    /// <summary>Key of the content in the content store.</summary>
    public required string ContentKey { get; set; }
    public bool IsTestIdentity { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastUpdated { get; set; }
    public int VersionId { get; set; }
    /// <summary>The DocumentReference as stored (FHIR JSON), with server-assigned ids and URLs.</summary>
    public required string ResourceJson { get; set; }
}

/// <summary>A link from a document: relatesTo (replaces, appends, transforms, signs) or context.related.</summary>
public sealed class DocumentLink
{
    public required string RecordId { get; set; }
    public required string DocumentId { get; set; }
    /// <summary>relatesTo code, or "related" for context.related.</summary>
    public required string Kind { get; set; }
    /// <summary>Target: a document id of the same record, or an external reference/identifier.</summary>
    public required string Target { get; set; }
}

/// <summary>A submission set (IHE SubmissionSet as a FHIR List).</summary>
public sealed class SubmissionSet
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string MasterIdentifier { get; set; }
    public string? SourceId { get; set; }
    public DateTimeOffset Date { get; set; }
    public string? AuthorIdentifier { get; set; }
    public string? SubmitterId { get; set; }
    public bool IsTestIdentity { get; set; }
    public required string ResourceJson { get; set; }
}
