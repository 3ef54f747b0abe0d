namespace OpenDmp.Core.Audit;

/// <summary>
/// What an audit entry records: a closed set. Each value has one stored code (the string hashed
/// into the chain, unchanged since the first entries) and one patient-facing meaning
/// (<see cref="AuditActions.Interaction"/>); a test checks that every value has both, and a portal text.
/// </summary>
public enum AuditAction
{
    Create,
    Read,
    Retrieve,
    Search,
    Replace,
    Erase,
    Delete,
    Update,
    Open,
    Close,
    Reopen,
    SetTreatingPhysician,
    Grant,
    Emergency,
    Revoke,
    Extend,
    Exclude,
    Restrict,
    Block,
    Unblock,
    Preferences,
    AccessStatus,
    Mask,
    Unmask,
    Release,
    Validate,
    Notify,
    Deposit,
    Send,
    Import,
    Activation,
    Activate,
    Login,
    RepresentativeAdd,
    RepresentativeRevoke,
    CertificateRevoke,
    ProfessionalDeactivate,
    TerminologyImport,
    /// <summary>A professional (or the operator for a structure) declares a staff member working for them.</summary>
    StaffDeclare,
    /// <summary>A staff member's declaration ends.</summary>
    StaffEnd,
    /// <summary>Identity vigilance: a duplicate identity merged into the surviving one (on both chains).</summary>
    Merge,
    /// <summary>Identity vigilance: a merge undone (on both chains).</summary>
    Unmerge,
    /// <summary>The patient enrolled in a health network, with consent.</summary>
    NetworkEnrol,
    /// <summary>The patient's enrolment in a health network ended.</summary>
    NetworkWithdraw,
    /// <summary>The record (all or part) exported by the patient or their representative, encrypted with their passphrase.</summary>
    Export,
    /// <summary>A portable record (dossier médical baladeur) produced from the record, encrypted with the patient's code.</summary>
    PortableRecord,
    /// <summary>The record included, pseudonymised, in the extract of an authorised public-health study (or such an extract downloaded, on the platform's chain).</summary>
    StudyExtract,
}

/// <summary>The FHIR BALP shape of an action: the RESTful interaction and the C/R/U/D/E code.</summary>
public sealed record AuditInteraction(string Interaction, Hl7.Fhir.Model.AuditEvent.AuditEventAction Code);

/// <summary>Codes and meanings of <see cref="AuditAction"/>.</summary>
public static class AuditActions
{
    private static readonly Dictionary<AuditAction, string> Codes = new()
    {
        [AuditAction.Create] = "create",
        [AuditAction.Read] = "read",
        [AuditAction.Retrieve] = "retrieve",
        [AuditAction.Search] = "search",
        [AuditAction.Replace] = "replace",
        [AuditAction.Erase] = "erase",
        [AuditAction.Delete] = "delete",
        [AuditAction.Update] = "update",
        [AuditAction.Open] = "open",
        [AuditAction.Close] = "close",
        [AuditAction.Reopen] = "reopen",
        [AuditAction.SetTreatingPhysician] = "set-treating-physician",
        [AuditAction.Grant] = "grant",
        [AuditAction.Emergency] = "emergency",
        [AuditAction.Revoke] = "revoke",
        [AuditAction.Extend] = "extend",
        [AuditAction.Exclude] = "exclude",
        [AuditAction.Restrict] = "restrict",
        [AuditAction.Block] = "block",
        [AuditAction.Unblock] = "unblock",
        [AuditAction.Preferences] = "preferences",
        [AuditAction.AccessStatus] = "access-status",
        [AuditAction.Mask] = "mask",
        [AuditAction.Unmask] = "unmask",
        [AuditAction.Release] = "release",
        [AuditAction.Validate] = "validate",
        [AuditAction.Notify] = "notify",
        [AuditAction.Deposit] = "deposit",
        [AuditAction.Send] = "send",
        [AuditAction.Import] = "import",
        [AuditAction.Activation] = "activation",
        [AuditAction.Activate] = "activate",
        [AuditAction.Login] = "login",
        [AuditAction.RepresentativeAdd] = "representative-add",
        [AuditAction.RepresentativeRevoke] = "representative-revoke",
        [AuditAction.CertificateRevoke] = "certificate-revoke",
        [AuditAction.ProfessionalDeactivate] = "professional-deactivate",
        [AuditAction.TerminologyImport] = "terminology-import",
        [AuditAction.StaffDeclare] = "staff-declare",
        [AuditAction.StaffEnd] = "staff-end",
        [AuditAction.Merge] = "merge",
        [AuditAction.Unmerge] = "unmerge",
        [AuditAction.NetworkEnrol] = "network-enrol",
        [AuditAction.NetworkWithdraw] = "network-withdraw",
        [AuditAction.Export] = "export",
        [AuditAction.PortableRecord] = "portable-record",
        [AuditAction.StudyExtract] = "study-extract",
    };

    private static readonly Dictionary<string, AuditAction> ByCode = BuildByCode();

    /// <summary>The stored code (hashed into the chain).</summary>
    public static string Code(this AuditAction action) => Codes[action];

    /// <summary>The action of a stored code; entries written before the type was closed used access-policy names for two denials.</summary>
    public static AuditAction? Parse(string? code) => code is not null && ByCode.TryGetValue(code, out var a) ? a : null;

    public static IReadOnlyCollection<AuditAction> All => Codes.Keys;

    /// <summary>The RESTful interaction and the C/R/U/D/E code a patient's AuditEvent shows.</summary>
    public static AuditInteraction Interaction(this AuditAction action) => action switch
    {
        AuditAction.Read or AuditAction.Retrieve or AuditAction.AccessStatus => new("read", Hl7.Fhir.Model.AuditEvent.AuditEventAction.R),
        AuditAction.Search => new("search-type", Hl7.Fhir.Model.AuditEvent.AuditEventAction.E),
        AuditAction.Create or AuditAction.Open or AuditAction.Grant or AuditAction.Emergency or AuditAction.Deposit or AuditAction.RepresentativeAdd or AuditAction.StaffDeclare or AuditAction.NetworkEnrol => new("create", Hl7.Fhir.Model.AuditEvent.AuditEventAction.C),
        AuditAction.Import or AuditAction.TerminologyImport => new("batch", Hl7.Fhir.Model.AuditEvent.AuditEventAction.C),
        AuditAction.Delete => new("delete", Hl7.Fhir.Model.AuditEvent.AuditEventAction.D),
        AuditAction.Erase or AuditAction.Replace or AuditAction.Update or AuditAction.Close or AuditAction.Reopen or AuditAction.SetTreatingPhysician
            or AuditAction.Revoke or AuditAction.Extend or AuditAction.Exclude or AuditAction.Restrict or AuditAction.Block or AuditAction.Unblock
            or AuditAction.Preferences or AuditAction.Mask or AuditAction.Unmask or AuditAction.Release or AuditAction.Validate
            or AuditAction.RepresentativeRevoke or AuditAction.CertificateRevoke or AuditAction.ProfessionalDeactivate or AuditAction.StaffEnd or AuditAction.Merge or AuditAction.Unmerge or AuditAction.NetworkWithdraw => new("update", Hl7.Fhir.Model.AuditEvent.AuditEventAction.U),
        AuditAction.Notify or AuditAction.Send or AuditAction.Export or AuditAction.PortableRecord or AuditAction.StudyExtract => new("operation", Hl7.Fhir.Model.AuditEvent.AuditEventAction.E),
        AuditAction.Activation or AuditAction.Activate or AuditAction.Login => new("operation", Hl7.Fhir.Model.AuditEvent.AuditEventAction.E),
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "an audit action without a patient-facing meaning"),
    };

    private static Dictionary<string, AuditAction> BuildByCode()
    {
        var map = Codes.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
        // Before the type was closed, two denials were written with access-policy names.
        map["CreateDocument"] = AuditAction.Create;
        map["ReplaceDocument"] = AuditAction.Replace;
        return map;
    }
}

/// <summary>Outcomes of an audit entry.</summary>
public static class AuditOutcomes
{
    public const string Success = "success";
    public const string Denied = "denied";
    public const string NotFound = "not-found";

    /// <summary>The request was read and refused as invalid before any data was touched (an XDS query answered with a RegistryError).</summary>
    public const string Invalid = "invalid";

    /// <summary>Permitted, but the object was erased or its content destroyed (410).</summary>
    public const string Gone = "gone";
}
