namespace OpenDmp.Core.Access;

/// <summary>How a professional came to hold access to a record.</summary>
public enum GrantMode
{
    /// <summary>The patient's médecin traitant (held on the record itself, not as a grant row).</summary>
    TreatingPhysician,
    /// <summary>Alleged consent ("allégation forte"): declared by the professional, patient's oral consent confirmed.</summary>
    Alleged,
    /// <summary>One declaration covers the members of a declared group, except those the patient excludes.</summary>
    Group,
    /// <summary>A professional downstream of a prescriber, under the prescriber's grant.</summary>
    Delegation,
    /// <summary>A member of the care team of a hospital admission.</summary>
    CareTeam,
    /// <summary>A hospital admission (held by the organisation; its care-team grants depend on it).</summary>
    Admission,
    /// <summary>Vital emergency, read only, time-boxed ("bris de glace").</summary>
    BreakGlass,
    /// <summary>SAMU regulating physician, read only, time-boxed.</summary>
    Centre15,
}

/// <summary>A grant as the policy sees it.</summary>
public sealed record GrantFacts(
    string Id,
    GrantMode Mode,
    string HolderId,
    DateTimeOffset Start,
    DateTimeOffset? End,
    DateTimeOffset? RevokedAt = null,
    string? GroupId = null,
    string? DelegatingGrantId = null,
    string? AdmissionId = null,
    IReadOnlySet<string>? Excluded = null,
    IReadOnlySet<string>? RestrictedTo = null)
{
    /// <summary>Not revoked, started, not ended.</summary>
    public bool ActiveAt(DateTimeOffset now) => RevokedAt is null && Start <= now && (End is null || now < End);
}

/// <summary>Codes of the modes (API parameters, audit entries, Consent resources).</summary>
public static class GrantModes
{
    private const string TreatingPrefix = "treating-";

    public static string Code(GrantMode mode) => mode switch
    {
        GrantMode.TreatingPhysician => "treating-physician",
        GrantMode.Alleged => "alleged",
        GrantMode.Group => "group",
        GrantMode.Delegation => "delegation",
        GrantMode.CareTeam => "care-team",
        GrantMode.Admission => "admission",
        GrantMode.BreakGlass => "break-glass",
        GrantMode.Centre15 => "centre-15",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    public static GrantMode? Parse(string? code) => code switch
    {
        "treating-physician" => GrantMode.TreatingPhysician,
        "alleged" => GrantMode.Alleged,
        "group" => GrantMode.Group,
        "delegation" => GrantMode.Delegation,
        "care-team" => GrantMode.CareTeam,
        "admission" => GrantMode.Admission,
        "break-glass" => GrantMode.BreakGlass,
        "centre-15" => GrantMode.Centre15,
        _ => null,
    };

    public static string Display(GrantMode mode) => mode switch
    {
        GrantMode.TreatingPhysician => "treating physician",
        GrantMode.Alleged => "alleged consent of the patient",
        GrantMode.Group => "member of a declared group practice",
        GrantMode.Delegation => "delegation from a prescriber",
        GrantMode.CareTeam => "member of a hospital care team",
        GrantMode.Admission => "hospital admission",
        GrantMode.BreakGlass => "vital emergency (break-glass)",
        GrantMode.Centre15 => "SAMU regulation (centre 15)",
        _ => mode.ToString(),
    };

    /// <summary>The treating physician's standing has no grant row; delegations refer to it as "treating-{professional id}".</summary>
    public static string TreatingGrantId(string professionalId) => TreatingPrefix + professionalId;

    public static string? TreatingDelegator(string grantId) =>
        grantId.StartsWith(TreatingPrefix, StringComparison.Ordinal) ? grantId[TreatingPrefix.Length..] : null;
}

/// <summary>A grant as stored (table grants). Never deleted: revocation and expiry are dated.</summary>
public sealed class Grant
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    public required string Mode { get; set; }
    /// <summary>The professional (or, for an admission, the organisation) holding the grant.</summary>
    public required string HolderId { get; set; }
    public DateTimeOffset Start { get; set; }
    /// <summary>End of validity; null = permanent (made permanent by the patient).</summary>
    public DateTimeOffset? End { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    public string? RevokedBy { get; set; }
    public string? GroupId { get; set; }
    public string? DelegatingGrantId { get; set; }
    public string? AdmissionId { get; set; }
    /// <summary>Group grants: professionals the patient excluded (space-separated ids).</summary>
    public string? Excluded { get; set; }
    /// <summary>Admissions: when the patient restricted the care team to named doctors (space-separated ids).</summary>
    public string? RestrictedTo { get; set; }
    /// <summary>Emergency grants: the declared reason (no health data is asked for: a short justification).</summary>
    public string? Reason { get; set; }
    /// <summary>Who declared it (professional id, or "patient"/"operator").</summary>
    public required string DeclaredBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    public GrantFacts ToFacts() => new(
        Id,
        GrantModes.Parse(Mode) ?? GrantMode.Admission,
        HolderId,
        Start,
        End,
        RevokedAt,
        GroupId,
        DelegatingGrantId,
        AdmissionId,
        SplitSet(Excluded),
        RestrictedTo is null ? null : SplitSet(RestrictedTo) ?? new HashSet<string>());

    internal static HashSet<string>? SplitSet(string? value) =>
        string.IsNullOrWhiteSpace(value) ? null : value.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
}

/// <summary>A professional the patient blocked (opposition): beats every mode.</summary>
public sealed class BlockedProfessional
{
    public required string RecordId { get; set; }
    public required string ProfessionalId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A declared group practice (maison de santé, network, health centre).</summary>
public sealed class CareGroup
{
    public required string Id { get; set; }
    public required string Name { get; set; }
    /// <summary>msp (maison de santé pluriprofessionnelle), network, health-centre.</summary>
    public required string Kind { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>Membership of a professional in a group.</summary>
public sealed class CareGroupMember
{
    public required string GroupId { get; set; }
    public required string ProfessionalId { get; set; }
}

/// <summary>First access of a professional to a record (drives the "new professional" notification).</summary>
public sealed class RecordAccessor
{
    public required string RecordId { get; set; }
    public required string ProfessionalId { get; set; }
    public DateTimeOffset FirstAccessAt { get; set; }
}
