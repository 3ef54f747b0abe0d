using OpenDmp.Core.Audit;

namespace OpenDmp.Server.Portal;

/// <summary>The portal's French texts for actions and modes, given to the AuditEvents patients read through the API.</summary>
public sealed class PortalAuditLabels : IAuditLabels
{
    public string? Action(string code) => Ui.French("action." + code);

    public string? Mode(string mode) => Ui.French("mode." + mode);
}
