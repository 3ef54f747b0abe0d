namespace OpenDmp.Core.Common;

/// <summary>Who acts.</summary>
public enum ActorKind
{
    Professional,
    Patient,
    /// <summary>The operator's administration tool or an internal job.</summary>
    System,
}

/// <summary>The authenticated actor of a request. Professionals are identified by their directory id.</summary>
public sealed record Actor(ActorKind Kind, string Id, string Display, string? ProfessionCode = null)
{
    public static Actor Operator { get; } = new(ActorKind.System, "operator", "Administration OpenDMP");
}

/// <summary>Channel through which an access happens (recorded in the audit trail).</summary>
public static class Channels
{
    public const string Api = "api";
    public const string Admin = "admin";
    public const string Portal = "portal";
    public const string Messaging = "messaging";
}
