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

/// <summary>
/// A staff member (medical secretary, pharmacy assistant; the report's chapter V): no profession of
/// their own, authenticated by their own staff card (certificate serialNumber "3" + identifier), acting
/// only for the professionals who declared them (<see cref="StaffAssignment"/>).
/// </summary>
public sealed class StaffMember
{
    public required string Id { get; set; }
    /// <summary>The staff card's identifier (unique).</summary>
    public required string Identifier { get; set; }
    public required string Family { get; set; }
    public required string Given { get; set; }
    /// <summary>The structure employing them, when known.</summary>
    public string? OrganizationId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Set when the staff member leaves: no authentication any more.</summary>
    public DateTimeOffset? DeactivatedAt { get; set; }

    public string DisplayName => $"{Given} {Family}";
}

/// <summary>A professional's declaration that a staff member works for them, with what they may do.</summary>
public sealed class StaffAssignment
{
    public required string Id { get; set; }
    public required string StaffId { get; set; }
    public required string ProfessionalId { get; set; }
    /// <summary>The professional lets the staff member read content (within the professional's own rights); false by default.</summary>
    public bool MayRead { get; set; }
    /// <summary>Who declared it: the professional, or the operator for a structure.</summary>
    public required string DeclaredBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? EndedAt { get; set; }
}
