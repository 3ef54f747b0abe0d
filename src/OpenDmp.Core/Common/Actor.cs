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
}

/// <summary>
/// The authenticated actor of a request. Professionals are identified by their directory id, the
/// patient by their record id, a legal representative by their own account id with the record they
/// represent in <paramref name="RecordId"/>.
/// </summary>
public sealed record Actor(ActorKind Kind, string Id, string Display, string? ProfessionCode = null, string? RecordId = null)
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
