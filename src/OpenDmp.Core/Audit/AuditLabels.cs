namespace OpenDmp.Core.Audit;

/// <summary>
/// The French labels patients read for audit actions and access modes (the portal's texts), used by
/// the AuditEvents the API serves. Core has none of its own: the server provides them.
/// </summary>
public interface IAuditLabels
{
    /// <summary>The label of an action code (e.g. "read" → "Consultation"), or null.</summary>
    string? Action(string code);

    /// <summary>The label of an access mode (e.g. "break-glass"), or null.</summary>
    string? Mode(string mode);
}

/// <summary>No labels (tools without the portal): AuditEvents carry the codes only.</summary>
public sealed class NoAuditLabels : IAuditLabels
{
    public string? Action(string code) => null;

    public string? Mode(string mode) => null;
}
