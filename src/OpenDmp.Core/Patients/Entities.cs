namespace OpenDmp.Core.Patients;

/// <summary>The sign-in credentials shared by the patient's account and a legal representative's account.</summary>
public abstract class Credentials
{
    public string? Email { get; set; }
    /// <summary>Standard password hash (ASP.NET Core Identity PasswordHasher, PBKDF2); null until activation.</summary>
    public string? PasswordHash { get; set; }
    /// <summary>TOTP shared secret (RFC 6238), sealed with the record's data key; null until activation.</summary>
    public byte[]? TotpSecret { get; set; }
    /// <summary>Last TOTP time step accepted (a code is accepted once).</summary>
    public long LastTotpStep { get; set; }
    /// <summary>SHA-256 of the one-time activation code; null once used.</summary>
    public string? ActivationCodeHash { get; set; }
    public DateTimeOffset? ActivationExpiresAt { get; set; }
    public DateTimeOffset? ActivatedAt { get; set; }
    public int FailedAttempts { get; set; }
    public DateTimeOffset? LockedUntil { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A patient's account on the patient services (one per record).</summary>
public sealed class PatientAccount : Credentials
{
    public required string RecordId { get; set; }

    /// <summary>The mobile number SMS notifications go to (E.164, e.g. +33612345678), or null.</summary>
    public string? Phone { get; set; }

    /// <summary>The language of the e-mails and SMS sent to the patient: fr (default) or en.</summary>
    public string Language { get; set; } = "fr";
}

/// <summary>
/// A legal representative's account (parent of a minor, guardian of a protected adult): their own
/// credentials, acting on one record with the patient's rights except documents kept from legal
/// representatives. Ends at <see cref="ValidUntil"/> (a minor's majority, the end of a guardianship)
/// or when the operator revokes it.
/// </summary>
public sealed class RepresentativeAccount : Credentials
{
    /// <summary>Sign-in identifier given with the activation code (e.g. RL-7K3P-Q9XW).</summary>
    public required string Id { get; set; }
    public required string RecordId { get; set; }
    /// <summary>Name of the representative as shown to the patient (never health data).</summary>
    public required string DisplayName { get; set; }
    /// <summary>parent or guardian.</summary>
    public required string Relationship { get; set; }
    public DateTimeOffset? ValidUntil { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }

    public bool ActiveAt(DateTimeOffset now) => RevokedAt is null && (ValidUntil is null || ValidUntil > now);
}

/// <summary>A short-lived session: a portal cookie or an API bearer token (stored as a SHA-256 hash).</summary>
public sealed class PatientSession
{
    public required string TokenHash { get; set; }
    public required string RecordId { get; set; }
    /// <summary>The legal representative signed in, or null for the patient.</summary>
    public string? RepresentativeId { get; set; }
    /// <summary>cookie or bearer.</summary>
    public required string Kind { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>
/// A device (browser or app) on which this person signed in successfully: attempts that present its
/// token are not held by the account's lock, so that a stranger who knows the INS cannot lock the
/// owner out. Stored as a SHA-256 hash only; a few failures from the device revoke it.
/// </summary>
public sealed class TrustedDevice
{
    public required string RecordId { get; set; }
    public required string TokenHash { get; set; }
    /// <summary>The legal representative's account when the device is theirs; null for the patient.</summary>
    public string? RepresentativeId { get; set; }
    public int FailedAttempts { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastUsedAt { get; set; }
}

/// <summary>
/// The code of the letter the patient's insurer mails to a registered patient so that they can open
/// their record online (<see cref="InsurerLetterProof"/>): one at a time per patient, stored as a
/// hash, valid for a time, spent by its first successful use, void after repeated failures.
/// </summary>
public sealed class OpeningLetter
{
    public required string RecordId { get; set; }
    public required string CodeHash { get; set; }
    public DateTimeOffset IssuedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public int FailedAttempts { get; set; }
    public DateTimeOffset? UsedAt { get; set; }
}
