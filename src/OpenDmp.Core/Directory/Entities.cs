namespace OpenDmp.Core.Directory;

/// <summary>A health professional of the directory (shared reference data, no patient data).</summary>
public sealed class Professional
{
    public required string Id { get; set; }
    /// <summary>RPPS number (11 digits) when the professional has one.</summary>
    public string? Rpps { get; set; }
    /// <summary>Identifier system for professionals without RPPS (e.g. imported directories).</summary>
    public string? IdentifierSystem { get; set; }
    public string? IdentifierValue { get; set; }
    public required string Family { get; set; }
    public required string Given { get; set; }
    public string? Prefix { get; set; }
    public string? ProfessionCode { get; set; }
    public string? SpecialtyCode { get; set; }
    public string? SpecialtyDisplay { get; set; }
    public string? OrganizationId { get; set; }
    public string? Email { get; set; }
    /// <summary>Holds the access-review role: reviews the signals of improper access (issue 20).</summary>
    public bool AccessReviewer { get; set; }
    /// <summary>The professional's secure-messaging certificate (PEM): senders encrypt for it.</summary>
    public string? MessagingCertificate { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Set when the professional is deactivated: no authentication, no deposit, no sending.</summary>
    public DateTimeOffset? DeactivatedAt { get; set; }
    /// <summary>Every certificate of this professional issued before this time is revoked (stolen or lost card).</summary>
    public DateTimeOffset? CertificatesRevokedBefore { get; set; }

    public string DisplayName => string.IsNullOrEmpty(Prefix) ? $"{Given} {Family}" : $"{Prefix} {Given} {Family}";
}

/// <summary>A health organisation (FINESS or imported identifier).</summary>
public sealed class Organization
{
    public required string Id { get; set; }
    public string? Finess { get; set; }
    public string? IdentifierSystem { get; set; }
    public string? IdentifierValue { get; set; }
    public required string Name { get; set; }
    public string? TypeCode { get; set; }
    public string? City { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
