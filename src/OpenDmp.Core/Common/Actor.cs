namespace OpenDmp.Core.Common;

/// <summary>Who acts.</summary>
public enum ActorKind
{
    Professional,
    Patient,
    /// <summary>A legal representative of the patient (parent of a minor, guardian), acting on the patient's record.</summary>
    Representative,
    /// <summary>The operator's administration tool or an internal job.</summary>
    System,
    /// <summary>A connected device acting with a token the patient issued (record in <see cref="Actor.RecordId"/>): it only records measurements.</summary>
    Device,
    /// <summary>
    /// A staff member (medical secretary, pharmacy assistant) authenticated by their own staff card,
    /// acting under the responsibility of the professional in <see cref="Actor.Mandate"/>: files
    /// documents on their behalf and reads the authorisation status, reads content only when that
    /// professional allowed it.
    /// </summary>
    Staff,
    /// <summary>An establishment's information system, authenticated by the organisation's certificate (attests admissions and care teams).</summary>
    Organization,
}

/// <summary>
/// Whom a staff member works for: the professional whose rights apply (and who answers for the
/// staff member's acts), and whether that professional lets them read content.
/// </summary>
public sealed record StaffMandate(string ProfessionalId, string ProfessionalDisplay, bool MayRead, string? ProfessionalSpecialty = null);

/// <summary>
/// The authenticated actor of a request. Professionals are identified by their directory id, the
/// patient by their record id, a legal representative by their own account id with the record they
/// represent in <paramref name="RecordId"/>. A professional's <paramref name="Specialty"/> (TRE_R38)
/// selects the matrix's rules where they distinguish specialties. <paramref name="Structure"/>: the
/// establishment through whose system (organisation certificate and VIHF) a professional acts.
/// <paramref name="PatientScope"/>: the only record the request may concern (the patient a VIHF names
/// in resource-id); the policy refuses any other.
/// </summary>
public sealed record Actor(ActorKind Kind, string Id, string Display, string? ProfessionCode = null, string? RecordId = null, StaffMandate? Mandate = null, string? Specialty = null, string? Structure = null, string? PatientScope = null)
{
    public static Actor Operator { get; } = new(ActorKind.System, "operator", "Administration OpenDMP");

    /// <summary>The record this actor holds the patient's rights on (the patient or a legal representative), else null.</summary>
    public string? OwnRecordId => Kind switch
    {
        ActorKind.Patient => Id,
        ActorKind.Representative => RecordId,
        _ => null,
    };

    /// <summary>Whether the actor exercises the patient's rights (the patient or a legal representative).</summary>
    public bool ActsForPatient => Kind is ActorKind.Patient or ActorKind.Representative;

    /// <summary>The professional staff members act for (the audit trail names them with the staff member), else null.</summary>
    public string? OnBehalfOf => Kind == ActorKind.Staff ? Mandate?.ProfessionalId : null;

    /// <summary>
    /// The professional whose rights and responsibility apply: the professional themselves, or the one
    /// a staff member works for; null for anyone else.
    /// </summary>
    public Actor? ResponsibleProfessional => Kind switch
    {
        ActorKind.Professional => this,
        ActorKind.Staff when Mandate is { } m => new Actor(ActorKind.Professional, m.ProfessionalId, m.ProfessionalDisplay, ProfessionCode, Specialty: m.ProfessionalSpecialty),
        _ => null,
    };
}

/// <summary>Channel through which an access happens (recorded in the audit trail).</summary>
public static class Channels
{
    public const string Api = "api";
    public const string Admin = "admin";
    public const string Portal = "portal";
    public const string Messaging = "messaging";
    /// <summary>The alert dispatcher (an internal job).</summary>
    public const string Alerts = "alerts";
}
