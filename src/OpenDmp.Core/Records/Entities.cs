namespace OpenDmp.Core.Records;

/// <summary>Status of a patient's record.</summary>
public enum RecordStatus
{
    Open = 1,
    Closed = 2,
    /// <summary>The identity was found to duplicate another and merged into it (<see cref="Record.MergedInto"/>): its content is there.</summary>
    Merged = 3,
}

/// <summary>Where the patient's consent to open the record was collected.</summary>
public enum OpeningChannel
{
    Office = 1,
    Hospital = 2,
    Counter = 3,
    Online = 4,
    /// <summary>Record opened by a bulk import of test data (test identities only).</summary>
    Import = 5,
}

/// <summary>
/// A patient and their identity traits. Keyed by <see cref="RecordId"/>, which is also the FHIR
/// Patient id: one patient, one record (design D16: every patient table carries record_id).
/// </summary>
public sealed class Patient
{
    public required string RecordId { get; set; }
    /// <summary>The INS value (or the attributed test identity).</summary>
    public required string Ins { get; set; }
    public required string InsSystem { get; set; }
    /// <summary>True when the identity is not a real qualified INS (test, demo or attributed).</summary>
    public bool IsTestIdentity { get; set; }
    public required string Family { get; set; }
    /// <summary>Given names, space-separated, first one first (strict trait "prénoms de naissance").</summary>
    public required string Given { get; set; }
    public DateOnly BirthDate { get; set; }
    /// <summary>M, F or U (unknown, imported data only).</summary>
    public required string Sex { get; set; }
    /// <summary>INSEE code of the birth place (commune or 99xxx for a foreign country).</summary>
    public string? BirthPlace { get; set; }
    /// <summary>The identity's confidence status (RNIV), derived from the evidence below (Identity.IdentityVigilance.StatusOf).</summary>
    public Identity.IdentityStatus IdentityStatus { get; set; } = Identity.IdentityStatus.Qualified;
    /// <summary>When the INS was recovered from the INSi teleservice (null: not recovered).</summary>
    public DateOnly? InsRecoveredOn { get; set; }
    /// <summary>The identity document of high trust checked (CN, PA, CS, LE, AN), or "attested" when the sending professional qualified the identity themselves.</summary>
    public string? IdentityDocument { get; set; }
    public DateOnly? IdentityCheckedOn { get; set; }
    /// <summary>The identity is doubtful (RNIV attribute): provisional until the doubt is lifted.</summary>
    public bool IdentityDoubtful { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>Lookup of patients by identifier (system, value) → record. Distributed by identifier, not by record.</summary>
public sealed class PatientIdentifier
{
    public required string System { get; set; }
    public required string Value { get; set; }
    public required string RecordId { get; set; }
}

/// <summary>The shared medical record of one patient.</summary>
public sealed class Record
{
    public required string RecordId { get; set; }
    public RecordStatus Status { get; set; }
    public string? TreatingPhysicianId { get; set; }
    public string? ConsentCollectedById { get; set; }
    public OpeningChannel OpeningChannel { get; set; }
    public DateTimeOffset OpenedAt { get; set; }
    public DateTimeOffset? ClosedAt { get; set; }
    /// <summary>The patient opposes access in a vital emergency (bris de glace).</summary>
    public bool OpposeBreakGlass { get; set; }
    /// <summary>The patient opposes access by the SAMU regulating physician (centre 15).</summary>
    public bool OpposeCentre15 { get; set; }
    /// <summary>The patient opposes that masked documents be shown in an emergency access.</summary>
    public bool OpposeEmergencyUnmasking { get; set; }
    /// <summary>The patient opposes that prescribers see the dispensing of their prescriptions.</summary>
    public bool OpposeDispensingToPrescriber { get; set; }
    /// <summary>The patient opposes the use of their data in authorised public-health studies (pseudonymised extracts).</summary>
    public bool OpposeResearch { get; set; }
    /// <summary>For a merged identity: the surviving record (IHE PMIR replaced-by).</summary>
    public string? MergedInto { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// One opening of a record and the consent it rests on (kept across closing and reopening): who
/// collected the patient's express consent, where, when, which version of the information notice
/// the patient was shown, and what the patient chose then. The patient sees it in their space.
/// </summary>
public sealed class RecordOpening
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public DateTimeOffset OpenedAt { get; set; }
    public OpeningChannel Channel { get; set; }
    /// <summary>professional, patient or operator: who opened it.</summary>
    public required string OpenedBy { get; set; }
    /// <summary>The professional who collected the consent (null when the patient opened the record online).</summary>
    public string? CollectedById { get; set; }
    /// <summary>The establishment of that professional, for an opening at a hospital desk.</summary>
    public string? OrganizationId { get; set; }
    /// <summary>The notice version and activation delivery of the openings made before they were recorded (back-filled).</summary>
    public const string NotRecorded = "not recorded";

    /// <summary>The version of the information notice (<see cref="InformationNotice"/>) the patient was shown.</summary>
    public required string NoticeVersion { get; set; }
    public string? TreatingPhysicianId { get; set; }
    public bool OpposeBreakGlass { get; set; }
    public bool OpposeCentre15 { get; set; }
    /// <summary>How the account's activation code reached the patient: print, email, sms, online (set at once) or none.</summary>
    public required string ActivationDelivery { get; set; }
}
