namespace OpenDmp.Core.Patients;

/// <summary>A patient's account on the patient services (one per record).</summary>
public sealed class PatientAccount
{
    public required string RecordId { get; set; }
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

/// <summary>A short-lived session: a portal cookie or an API bearer token (stored as a SHA-256 hash).</summary>
public sealed class PatientSession
{
    public required string TokenHash { get; set; }
    public required string RecordId { get; set; }
    /// <summary>cookie or bearer.</summary>
    public required string Kind { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
}
