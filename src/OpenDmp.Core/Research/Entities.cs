namespace OpenDmp.Core.Research;

/// <summary>
/// A study authorised to receive a pseudonymised extract (public-health research): who authorised
/// it, for what purpose, which data, until when. Recorded by the operator; nothing is extracted
/// without one in force. Holds no patient data (platform table).
/// </summary>
public sealed class ResearchStudy
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    public required string Purpose { get; set; }
    /// <summary>Who authorised it (the body and the person), e.g. "CNIL — délibération".</summary>
    public required string AuthorisedBy { get; set; }
    /// <summary>The reference of the authorising decision.</summary>
    public required string Authorisation { get; set; }
    /// <summary>The dataset definition (JSON of <see cref="StudyDataset"/>).</summary>
    public required string Dataset { get; set; }
    public DateTimeOffset ValidFrom { get; set; }
    public DateTimeOffset ValidUntil { get; set; }
    /// <summary>Smallest group of patients sharing birth year, sex and département that the extract may show (k-anonymity).</summary>
    public int MinGroupSize { get; set; } = 5;
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>When the authorisation was withdrawn (its pseudonym secret is destroyed then).</summary>
    public DateTimeOffset? RevokedAt { get; set; }
}

/// <summary>One extraction for a study, asynchronous (FHIR Bulk Data style): its state, its files, its k-anonymity report.</summary>
public sealed class ResearchExtract
{
    public required string Id { get; set; }
    public required string StudyId { get; set; }
    /// <summary>queued, running, completed, failed.</summary>
    public required string Status { get; set; }
    public DateTimeOffset RequestedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    /// <summary>SHA-256 (hex) of the access token handed to the warehouse; the token itself is shown once.</summary>
    public required string TokenHash { get; set; }
    public int Considered { get; set; }
    public int Included { get; set; }
    public int OptedOut { get; set; }
    /// <summary>Patients left out because their group (birth year, sex, département) is smaller than the study's minimum.</summary>
    public int Suppressed { get; set; }
    /// <summary>The smallest group among those included: the k the extract achieves.</summary>
    public int? SmallestGroup { get; set; }
    /// <summary>The files written (JSON array of type, name, count).</summary>
    public string? Files { get; set; }
    public string? Error { get; set; }
}

/// <summary>What a study receives: kinds of data and, optionally, the codes and period it is limited to.</summary>
public sealed record StudyDataset(bool Documents = true, bool Results = true, bool Conditions = true, IReadOnlyList<string>? ResultCodes = null, DateOnly? From = null, DateOnly? To = null);
