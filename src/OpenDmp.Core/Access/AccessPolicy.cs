using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Core.Access;

/// <summary>What an actor wants to do.</summary>
public enum AccessAction
{
    /// <summary>Find a patient's identity (PDQm). Identity only, no health data.</summary>
    FindPatient,
    /// <summary>Search the documents or results of a record.</summary>
    SearchRecord,
    ReadDocument,
    CreateDocument,
    ReplaceDocument,
    EraseDocument,
    DeleteDocument,
    /// <summary>Open, close or reopen a record (operator).</summary>
    ManageRecord,
    /// <summary>Read the record's audit trail.</summary>
    ReadAudit,
    /// <summary>Declare an access with the patient's consent (alleged, group, delegation, care team).</summary>
    DeclareAccess,
    /// <summary>Declare an emergency access (break-glass, centre 15); <see cref="AccessRequest.Emergency"/> says which.</summary>
    DeclareEmergency,
    /// <summary>Declare the patient's admission to the professional's establishment (hospital care team).</summary>
    DeclareAdmission,
    /// <summary>The patient's own settings: grants, blocked professionals, emergency oppositions, treating physician.</summary>
    ManageConsent,
    /// <summary>Mask or unmask a document (the patient).</summary>
    MaskDocument,
    /// <summary>Release an invisible-to-patient document or validate a draft (its author or the treating physician).</summary>
    ReleaseDocument,
    /// <summary>Export the record (documents leave the platform).</summary>
    Export,
    /// <summary>Create a notification about the record for the patient.</summary>
    Notify,
    /// <summary>Deposit a secure message about the patient into the record.</summary>
    DepositMessage,
    /// <summary>Write the patient's personal space (allergies, history, contacts, wishes): the patient only.</summary>
    EditPersonalSpace,
    /// <summary>Record a self-monitoring measurement (the patient, a legal representative, the patient's device).</summary>
    RecordMeasurement,
    /// <summary>Set a self-monitoring threshold (the patient, a legal representative, the treating physician).</summary>
    SetMonitoringThreshold,
    /// <summary>Review the signals of improper access (the access-review role): professionals and counts, never content.</summary>
    ReviewAccess,
    /// <summary>Review possible duplicate identities (the identity-vigilance role): strict identity traits only, never content.</summary>
    ReviewIdentity,
    /// <summary>
    /// Open a patient's record with their express consent (<see cref="AccessRequest.Opening"/>): a
    /// professional who collected it, or the patient after proving their identity online.
    /// </summary>
    OpenRecord,
    /// <summary>Enrol the patient in a health network (<see cref="AccessRequest.Network"/>): a member collecting the patient's consent, or the patient.</summary>
    EnrolNetwork,
    /// <summary>End the patient's enrolment in a network: the patient, or a member.</summary>
    WithdrawNetwork,
    /// <summary>Read the network's record space for the patient: its members while the patient is enrolled, and the patient.</summary>
    ReadNetworkRecord,
    /// <summary>Write the network's record space: its members while the patient is enrolled.</summary>
    WriteNetworkRecord,
    /// <summary>Include the record, pseudonymised, in the extract of an authorised study (<see cref="AccessRequest.Study"/>): the platform's extractor only.</summary>
    IncludeInStudy,
}

/// <summary>What the policy reads about a health network: is the actor a member, is the patient enrolled (with consent, not withdrawn).</summary>
public sealed record NetworkFacts(string NetworkId, string Name, bool IsMember, bool PatientEnrolled);

/// <summary>The facts of a public-health study the policy needs: its authorisation and its validity.</summary>
public sealed record StudyFacts(string StudyId, string Name, DateTimeOffset ValidFrom, DateTimeOffset ValidUntil, bool Revoked);

/// <summary>What the policy reads to open a record: whose, and whether the informed patient expressly agreed.</summary>
public sealed record OpeningFacts(string PatientId, bool ExpressConsent);

/// <summary>Why a request was refused (drives the advice given to the caller, never the record's content).</summary>
public enum Denial
{
    None,
    /// <summary>No identity, missing claim, unknown actor kind.</summary>
    NoIdentity,
    /// <summary>No grant at all.</summary>
    NoGrant,
    /// <summary>A grant existed and is expired or revoked.</summary>
    Expired,
    /// <summary>The patient blocked this professional.</summary>
    Blocked,
    /// <summary>The record is closed.</summary>
    Closed,
    /// <summary>The profession may not use this kind of document.</summary>
    Matrix,
    /// <summary>The document is masked, invisible to the patient or a draft: treated as absent.</summary>
    Hidden,
    /// <summary>The patient opposed this emergency mode.</summary>
    EmergencyOpposed,
    /// <summary>The grant gives read only, or the action belongs to someone else.</summary>
    NotAllowed,
}

/// <summary>Obligations attached to a permit: the caller must carry them out.</summary>
[Flags]
public enum Obligations
{
    None = 0,
    /// <summary>Append the access to the record's audit chain.</summary>
    Audit = 1,
    /// <summary>Create a notification for the patient (emergency access, first access by this professional).</summary>
    NotifyPatient = 2,
}

/// <summary>The patient's settings that the policy reads.</summary>
/// <param name="OpposeBreakGlass">The patient opposes break-glass access.</param>
/// <param name="OpposeCentre15">The patient opposes access by the SAMU regulation (centre 15).</param>
/// <param name="OpposeEmergencyUnmasking">The patient opposes that emergency access shows masked documents.</param>
/// <param name="OpposeDispensingToPrescriber">The patient opposes that a prescriber sees the dispensing of their prescriptions (documents of class 43 that execute them, and their MedicationDispenses).</param>
/// <param name="OpposeResearch">The patient opposes the use of their data in authorised public-health studies.</param>
public sealed record RecordSettings(bool OpposeBreakGlass = false, bool OpposeCentre15 = false, bool OpposeEmergencyUnmasking = false, bool OpposeDispensingToPrescriber = false, bool OpposeResearch = false)
{
    public static RecordSettings Default { get; } = new();
}

/// <summary>The facts of a record that the policy needs: status, treating physician, grants, blocked professionals, settings.</summary>
public sealed record RecordFacts(
    string RecordId,
    RecordStatus Status,
    string? TreatingPhysicianId,
    RecordSettings Settings,
    IReadOnlyList<GrantFacts> Grants,
    IReadOnlySet<string> Blocked,
    string? MergedInto = null)
{
    private static readonly IReadOnlySet<string> NoneBlocked = new HashSet<string>();

    /// <summary>A record with no grant, nobody blocked and default settings.</summary>
    public RecordFacts(string recordId, RecordStatus status, string? treatingPhysicianId)
        : this(recordId, status, treatingPhysicianId, RecordSettings.Default, [], NoneBlocked)
    {
    }
}

/// <summary>The facts of a document that the policy needs.</summary>
public sealed record DocumentFacts(
    string DocumentId,
    string? AuthorProfessionalId,
    string? SubmitterId,
    string? ClassCode = null,
    string? TypeCode = null,
    bool Masked = false,
    bool HiddenFromPatient = false,
    bool Draft = false,
    bool HiddenFromRepresentatives = false,
    string? PrescriberId = null)
{
    public bool IsOwnedBy(string actorId) => AuthorProfessionalId == actorId || SubmitterId == actorId;
}

/// <summary>What is known about the requesting professional beyond the certificate: groups, prior accesses, establishment.</summary>
public sealed record ActorFacts(IReadOnlySet<string> Groups, bool HasAccessedBefore, string? OrganizationId = null, bool AccessReviewer = false, bool IdentityOfficer = false)
{
    public static ActorFacts Unknown { get; } = new(new HashSet<string>(), false);
}

/// <summary>What a professional declares (<see cref="AccessAction.DeclareAccess"/>): the mode, and the group for a group practice.</summary>
public sealed record DeclarationFacts(GrantMode Mode, string? GroupId = null);

/// <summary>Deployment settings of the policy (configuration section <c>Access</c>).</summary>
public sealed class PolicySettings
{
    /// <summary>
    /// Whether the treating physician and the document's author see documents the patient masked
    /// (default true, as in the DMP: masking hides a document from the other professionals).
    /// </summary>
    public bool MaskedVisibleToTreatingAndAuthor { get; set; } = true;

    /// <summary>Whether professionals are told that the record holds documents masked from them (default false: nothing shows).</summary>
    public bool ProfessionalsSeeMaskedExistence { get; set; }

    /// <summary>Profession × document-type matrix.</summary>
    public AccessMatrix Matrix { get; set; } = AccessMatrix.Default;

    /// <summary>Default lengths of grants.</summary>
    public TimeSpan AllegedDuration { get; set; } = TimeSpan.FromDays(30);
    public TimeSpan DelegationDuration { get; set; } = TimeSpan.FromDays(7);
    public TimeSpan EmergencyDuration { get; set; } = TimeSpan.FromHours(4);
    public TimeSpan AdmissionDuration { get; set; } = TimeSpan.FromDays(30);

    public static PolicySettings Default { get; } = new();
}

/// <summary>The input of the policy: one question, with every fact it depends on.</summary>
public sealed record AccessRequest(
    Actor Actor,
    AccessAction Action,
    RecordFacts? Record = null,
    DocumentFacts? Document = null,
    ActorFacts? ActorFacts = null,
    DateTimeOffset Now = default,
    PolicySettings? Settings = null,
    GrantMode? Emergency = null,
    DeclarationFacts? Declaration = null,
    OpeningFacts? Opening = null,
    NetworkFacts? Network = null,
    StudyFacts? Study = null);

/// <summary>The answer: permit or deny, why, under which mode and grant, which documents a search may return, and the obligations.</summary>
public sealed record AccessDecision(
    bool Permitted,
    string Reason,
    string Mode,
    DocumentScope Scope,
    Obligations Obligations = Obligations.Audit,
    string? GrantId = null,
    Denial Denial = Denial.None)
{
    public static AccessDecision Deny(string reason, Denial denial = Denial.NotAllowed) => new(false, reason, "none", DocumentScope.None, Obligations.Audit, null, denial);
}

/// <summary>The professional's standing on a record, readable before reading documents (the DMP's "authorisation status").</summary>
public enum AccessStatus
{
    Valid,
    Expired,
    Forbidden,
    None,
}

/// <summary>
/// The single access-policy function (design D9). Pure: the answer depends only on the request
/// (actor, action, record facts with grants, oppositions and settings, document facts, the time and
/// the deployment settings). Every read, write, search hit, export, notification and message deposit
/// asks it; <see cref="RecordGuard"/> gathers the facts and carries out the audit obligation.
/// </summary>
public static class AccessPolicy
{
    /// <summary>The mode a professional holds on a record at a given time, if any.</summary>
    public sealed record Standing(GrantMode Mode, GrantFacts? Grant, bool ReadOnly, DateTimeOffset? End);

    public static AccessDecision Decide(AccessRequest request)
    {
        var decision = DecideFor(request);
        DmpTelemetry.PolicyDecisions.Add(1, new KeyValuePair<string, object?>("outcome", decision.Permitted ? "permit" : "deny"), new KeyValuePair<string, object?>("actor.kind", request.Actor.Kind.ToString()));
        return decision;
    }

    /// <summary>Why a study's authorisation is not in force at <paramref name="now"/> (withdrawn, not begun, ended), or null when it is.</summary>
    public static string? StudyRefusal(StudyFacts study, DateTimeOffset now) =>
        study.Revoked || now < study.ValidFrom || now > study.ValidUntil ? $"the authorisation of study {study.Name} is not in force" : null;

    /// <summary>
    /// A record enters a study's extract only through the platform's extractor, under an authorisation
    /// in force, when the patient has not opposed it; masked documents never do (the scope excludes them).
    /// </summary>
    private static AccessDecision DecideStudy(AccessRequest request)
    {
        if (request.Actor.Kind != ActorKind.System)
        {
            return AccessDecision.Deny("only the platform's extractor includes records in a study", Denial.NotAllowed);
        }

        if (request.Study is not { } study)
        {
            return AccessDecision.Deny("no authorised study is named", Denial.NotAllowed);
        }

        if (StudyRefusal(study, request.Now == default ? DateTimeOffset.UtcNow : request.Now) is { } refusal)
        {
            return AccessDecision.Deny(refusal, Denial.NotAllowed);
        }

        if (request.Record is not { } record || record.Status == RecordStatus.Merged)
        {
            return AccessDecision.Deny("no such record", Denial.NotAllowed);
        }

        return record.Settings.OpposeResearch
            ? AccessDecision.Deny("the patient opposes the use of their data for research", Denial.NotAllowed)
            : new AccessDecision(true, $"authorised study {study.Name}", "research", new DocumentScope(true, null, null, MaskedRule.Exclude, false, null));
    }

    private static AccessDecision DecideFor(AccessRequest request)
    {
        var actor = request.Actor;
        if (string.IsNullOrEmpty(actor.Id))
        {
            return AccessDecision.Deny("no identified actor", Denial.NoIdentity);
        }

        if (actor.PatientScope is { } only && request.Record is { } record && record.RecordId != only)
        {
            return AccessDecision.Deny("the request concerns another patient than the one its VIHF names (resource-id)", Denial.NotAllowed);
        }

        if (request.Action == AccessAction.OpenRecord)
        {
            return DecideOpening(request);
        }

        if (request.Action == AccessAction.IncludeInStudy)
        {
            return DecideStudy(request);
        }

        // A merged identity holds nothing any more: its documents and authorisations are the survivor's.
        if (request.Record is { Status: RecordStatus.Merged } merged && actor.Kind != ActorKind.System)
        {
            return AccessDecision.Deny($"this identity was merged into Patient/{merged.MergedInto} (identity vigilance): its record is that patient's now", Denial.Closed);
        }

        return actor.Kind switch
        {
            ActorKind.System => new AccessDecision(true, "operator administration", "operator", DocumentScope.All),
            ActorKind.Patient or ActorKind.Representative => DecidePatient(request),
            ActorKind.Professional => DecideProfessional(request),
            ActorKind.Device => DecideDevice(request),
            ActorKind.Staff => DecideStaff(request),
            ActorKind.Organization => DecideOrganization(request),
            _ => AccessDecision.Deny("unknown kind of actor", Denial.NoIdentity),
        };
    }

    /// <summary>
    /// The patient, or a legal representative exercising the patient's rights: the same rights on the
    /// own record, except that a representative never sees documents marked invisible to legal
    /// representatives (a minor's secret, CSP L.1111-5), and neither sees documents not yet released
    /// to the patient (invisible until the announcement consultation, drafts).
    /// </summary>
    /// <summary>TRE_A03 class of the documents a patient deposits in their own record.</summary>
    public const string PatientClassCode = "90";

    private static AccessDecision DecidePatient(AccessRequest request)
    {
        var actor = request.Actor;
        var record = request.Record;
        if (record is null || actor.OwnRecordId is not { } own || record.RecordId != own)
        {
            return AccessDecision.Deny("a patient may only use their own record", Denial.NoGrant);
        }

        var representative = actor.Kind == ActorKind.Representative;
        var scope = representative ? DocumentScope.ForRepresentative : DocumentScope.ForPatient;
        var mode = representative ? "representative" : "patient";
        var doc = request.Document;
        switch (request.Action)
        {
            case AccessAction.SearchRecord:
            case AccessAction.ReadAudit:
            case AccessAction.ManageConsent:
            case AccessAction.Export:
            case AccessAction.SetMonitoringThreshold:
            case AccessAction.EnrolNetwork when request.Network is not null:
            case AccessAction.WithdrawNetwork when request.Network is not null:
            case AccessAction.ReadNetworkRecord when request.Network is not null:
                return new AccessDecision(true, representative ? "legal representative of the patient" : "the patient's own record", mode, scope);
            case AccessAction.RecordMeasurement:
                return record.Status != RecordStatus.Open
                    ? AccessDecision.Deny("the record is closed", Denial.Closed)
                    : new AccessDecision(true, representative ? "legal representative of the patient" : "the patient's own record", mode, scope);
            case AccessAction.ReadDocument:
            case AccessAction.MaskDocument:
                return doc is null || !scope.Admits(doc)
                    ? AccessDecision.Deny(representative ? "not shown to the patient's legal representatives" : "not yet released to the patient", Denial.Hidden)
                    : new AccessDecision(true, representative ? "legal representative of the patient" : "the patient's own document", mode, scope);
            case AccessAction.CreateDocument:
            case AccessAction.EditPersonalSpace:
            case AccessAction.ManageRecord:
                // The patient's own contributions (personal space, class 90 "documents déposés par le
                // patient") and closing/reopening the record are the patient's alone: a legal
                // representative keeps read access and the consent settings.
                if (representative)
                {
                    return AccessDecision.Deny("only the patient may do this", Denial.NotAllowed);
                }

                if (request.Action != AccessAction.ManageRecord && record.Status != RecordStatus.Open)
                {
                    return AccessDecision.Deny("the record is closed", Denial.Closed);
                }

                if (request.Action == AccessAction.CreateDocument && doc is not null && doc.ClassCode != PatientClassCode)
                {
                    return AccessDecision.Deny("a patient deposits documents of class 90 (documents déposés par le patient) only", Denial.NotAllowed);
                }

                return new AccessDecision(true, "the patient's own record", mode, scope);
            default:
                return AccessDecision.Deny("a patient cannot do this through the professional interface", Denial.NotAllowed);
        }
    }

    /// <summary>
    /// Opening a record (the report's chapter V: "le patient doit exprimer expressément son accord,
    /// après avoir été dûment informé"): never without the patient's express consent, never over a
    /// record that exists (open, or closed by its patient); by a health professional who collected the
    /// consent (office, pharmacy, hospital), by the patient for themselves, or by the operator.
    /// </summary>
    private static AccessDecision DecideOpening(AccessRequest request)
    {
        var actor = request.Actor;
        if (request.Opening is not { } opening)
        {
            return AccessDecision.Deny("no patient given", Denial.NoIdentity);
        }

        if (!opening.ExpressConsent)
        {
            return AccessDecision.Deny("the patient's express consent is required, given once the patient has been shown the information notice", Denial.NotAllowed);
        }

        if (request.Record is { } existing)
        {
            return AccessDecision.Deny(existing.Status switch
            {
                RecordStatus.Open => "the patient's record is already open",
                RecordStatus.Merged => $"this identity was merged into Patient/{existing.MergedInto} (identity vigilance): use that patient",
                _ => "the patient closed their record: it is reopened at the patient's own request, not opened again",
            }, Denial.NotAllowed);
        }

        return actor.Kind switch
        {
            ActorKind.System => new AccessDecision(true, "opening by the operator", "operator", DocumentScope.None),
            ActorKind.Professional when !string.IsNullOrEmpty(actor.ProfessionCode) => new AccessDecision(true, "opening with the consent the professional collected", "opening", DocumentScope.None),
            ActorKind.Patient when actor.OwnRecordId == opening.PatientId => new AccessDecision(true, "opening by the patient", "patient", DocumentScope.None),
            _ => AccessDecision.Deny("a record is opened by the patient, a health professional or the operator", Denial.NotAllowed),
        };
    }

    /// <summary>
    /// A staff member (secretary, pharmacy assistant) acting for a professional (the report's chapter
    /// V): finds the patient, files documents on the professional's behalf and under the professional's
    /// rights (matrix, grants, blocks, closure — the professional's answer), and reads content only when
    /// the professional allowed it and could read it themselves. Nothing else: no declaration, no
    /// emergency access, no replacement or deletion, no opening.
    /// </summary>
    private static AccessDecision DecideStaff(AccessRequest request)
    {
        if (request.Actor.ResponsibleProfessional is not { } professional || request.Actor.Mandate is not { } mandate)
        {
            return AccessDecision.Deny("a staff member acts for a professional who declared them", Denial.NoIdentity);
        }

        switch (request.Action)
        {
            case AccessAction.FindPatient:
            case AccessAction.CreateDocument:
                break;
            case AccessAction.SearchRecord:
            case AccessAction.ReadDocument:
                if (!mandate.MayRead)
                {
                    return AccessDecision.Deny("a staff member files documents for the professional and reads none, unless the professional allowed it", Denial.NotAllowed);
                }

                break;
            default:
                return AccessDecision.Deny("a staff member may only find the patient, file documents on the professional's behalf and read the authorisation status", Denial.NotAllowed);
        }

        var decision = DecideProfessional(request with { Actor = professional });
        return decision.Permitted ? decision with { Reason = decision.Reason + ", by a staff member on the professional's behalf" } : decision;
    }

    /// <summary>
    /// An establishment's system (organisation certificate): finds the patient and declares the
    /// patient's admission to the establishment with its care team, for an open record; nothing else,
    /// and never content.
    /// </summary>
    private static AccessDecision DecideOrganization(AccessRequest request)
    {
        switch (request.Action)
        {
            case AccessAction.FindPatient:
                return new AccessDecision(true, "identity search by an establishment's system", "identity", DocumentScope.None);
            case AccessAction.DeclareAdmission when request.Record is null:
                return AccessDecision.Deny("no record given", Denial.NoGrant);
            case AccessAction.DeclareAdmission when request.Record.Status != RecordStatus.Open:
                return AccessDecision.Deny("the record is closed", Denial.Closed);
            case AccessAction.DeclareAdmission:
                return new AccessDecision(true, "admission declared by the establishment's system", "admission", DocumentScope.None);
            default:
                return AccessDecision.Deny("an establishment's system only declares admissions and their care teams", Denial.NotAllowed);
        }
    }

    /// <summary>A connected device: it records measurements in the record its token was issued for, and does nothing else.</summary>
    private static AccessDecision DecideDevice(AccessRequest request)
    {
        var record = request.Record;
        if (request.Action != AccessAction.RecordMeasurement)
        {
            return AccessDecision.Deny("a device token only records measurements", Denial.NotAllowed);
        }

        if (record is null || record.RecordId != request.Actor.RecordId)
        {
            return AccessDecision.Deny("a device records in the record its token was issued for", Denial.NoGrant);
        }

        return record.Status != RecordStatus.Open
            ? AccessDecision.Deny("the record is closed", Denial.Closed)
            : new AccessDecision(true, "the patient's device", "device", DocumentScope.None);
    }

    private static AccessDecision DecideProfessional(AccessRequest request)
    {
        var actor = request.Actor;
        if (request.Action == AccessAction.FindPatient)
        {
            return new AccessDecision(true, "identity search by an authenticated professional", "identity", DocumentScope.None);
        }

        if (request.Action == AccessAction.ReviewAccess)
        {
            return request.ActorFacts is { AccessReviewer: true }
                ? new AccessDecision(true, "access review role", "access-review", DocumentScope.None)
                : AccessDecision.Deny("only a professional holding the access-review role reviews access signals", Denial.NotAllowed);
        }

        if (request.Action == AccessAction.ReviewIdentity)
        {
            return request.ActorFacts is { IdentityOfficer: true }
                ? new AccessDecision(true, "identity-vigilance role", "identity-vigilance", DocumentScope.None)
                : AccessDecision.Deny("only a professional holding the identity-vigilance role reviews possible duplicate identities", Denial.NotAllowed);
        }

        var record = request.Record;
        if (record is null)
        {
            return AccessDecision.Deny("no record given", Denial.NoGrant);
        }

        if (string.IsNullOrEmpty(actor.ProfessionCode))
        {
            return AccessDecision.Deny("the professional's profession is unknown", Denial.NoIdentity);
        }

        // An opposition beats every mode, emergency ones included.
        if (record.Blocked.Contains(actor.Id))
        {
            return AccessDecision.Deny("the patient has not authorised this professional", Denial.Blocked);
        }

        if (request.Action is AccessAction.EnrolNetwork or AccessAction.WithdrawNetwork or AccessAction.ReadNetworkRecord or AccessAction.WriteNetworkRecord)
        {
            return DecideNetworkMember(request);
        }

        if (record.Status != RecordStatus.Open)
        {
            return AccessDecision.Deny("the record is closed", Denial.Closed);
        }

        var settings = request.Settings ?? PolicySettings.Default;
        var facts = request.ActorFacts ?? ActorFacts.Unknown;
        switch (request.Action)
        {
            case AccessAction.ManageRecord:
            case AccessAction.ManageConsent:
            case AccessAction.RecordMeasurement:
                return AccessDecision.Deny("only the patient (or the operator) may do this", Denial.NotAllowed);
            case AccessAction.SetMonitoringThreshold:
                return record.TreatingPhysicianId == actor.Id
                    ? new AccessDecision(true, "the patient's treating physician", "treating-physician", DocumentScope.None)
                    : AccessDecision.Deny("only the patient's treating physician sets self-monitoring thresholds", Denial.NotAllowed);
            case AccessAction.DeclareAccess:
                return DecideDeclaration(request, record, facts);
            case AccessAction.DeclareAdmission:
                return facts.OrganizationId is null
                    ? AccessDecision.Deny("only a professional attached to an establishment may declare an admission", Denial.NotAllowed)
                    : new AccessDecision(true, "declaration of an admission to the professional's establishment", "admission", DocumentScope.None);
            case AccessAction.DeclareEmergency:
                return DecideEmergencyDeclaration(request, record);
        }

        var standing = StandingOf(actor.Id, record, facts, request.Now);
        if (standing is null)
        {
            return HadGrant(actor.Id, record, facts)
                ? AccessDecision.Deny("the authorisation to access this record has expired or was revoked", Denial.Expired)
                : AccessDecision.Deny("no authorisation to access this record", Denial.NoGrant);
        }

        var mode = GrantModes.Code(standing.Mode);
        var emergency = standing.Mode is GrantMode.BreakGlass or GrantMode.Centre15;
        var obligations = Obligations.Audit | (emergency || !facts.HasAccessedBefore ? Obligations.NotifyPatient : Obligations.None);
        var isTreating = standing.Mode == GrantMode.TreatingPhysician;
        var scope = ScopeFor(actor, standing, record, settings);
        var reason = GrantModes.Display(standing.Mode);
        AccessDecision Permit() => new(true, reason, mode, scope, obligations, standing.Grant?.Id);

        // The matrix reads and writes separately: a profession may deposit what it may not read.
        var (writeClasses, writeTypes) = settings.Matrix.For(actor.ProfessionCode, actor.Specialty, MatrixUse.Write);
        var nothing = request.Action == AccessAction.CreateDocument
            ? writeClasses is { Count: 0 } && writeTypes is { Count: 0 }
            : scope.Classes is { Count: 0 } && scope.Types is { Count: 0 };
        if (nothing)
        {
            return AccessDecision.Deny(request.Action == AccessAction.CreateDocument ? "this profession may not deposit documents in the record" : "this profession has no access to the documents of the record", Denial.Matrix);
        }

        switch (request.Action)
        {
            case AccessAction.SearchRecord:
            case AccessAction.ReadAudit:
            case AccessAction.Export:
            case AccessAction.Notify:
                return Permit();
            case AccessAction.DepositMessage:
                return standing.ReadOnly ? AccessDecision.Deny("an emergency access is read-only", Denial.NotAllowed) : Permit();
            case AccessAction.ReadDocument:
                {
                    var doc = request.Document;
                    if (doc is null)
                    {
                        return AccessDecision.Deny("no document given", Denial.NotAllowed);
                    }

                    return scope.Admits(doc) ? Permit() : AccessDecision.Deny(HiddenReason(doc, scope), Denial.Hidden);
                }

            case AccessAction.CreateDocument:
                {
                    if (standing.ReadOnly)
                    {
                        return AccessDecision.Deny("an emergency access is read-only", Denial.NotAllowed);
                    }

                    var doc = request.Document;
                    if (doc is not null && !settings.Matrix.Allows(actor.ProfessionCode, actor.Specialty, MatrixUse.Write, doc.ClassCode, doc.TypeCode))
                    {
                        return AccessDecision.Deny("this profession may not deposit this type of document", Denial.Matrix);
                    }

                    return Permit();
                }

            case AccessAction.ReplaceDocument:
            case AccessAction.EraseDocument:
            case AccessAction.DeleteDocument:
            case AccessAction.ReleaseDocument:
                {
                    var doc = request.Document;
                    if (doc is null)
                    {
                        return AccessDecision.Deny("no document given", Denial.NotAllowed);
                    }

                    if (!scope.Admits(doc))
                    {
                        return AccessDecision.Deny(HiddenReason(doc, scope), Denial.Hidden);
                    }

                    if (standing.ReadOnly)
                    {
                        return AccessDecision.Deny("an emergency access is read-only", Denial.NotAllowed);
                    }

                    return isTreating || doc.IsOwnedBy(actor.Id)
                        ? Permit()
                        : AccessDecision.Deny("only the document's author or the treating physician may do this", Denial.NotAllowed);
                }

            case AccessAction.MaskDocument:
                {
                    // The DMP's masking to professionals, done by the document's author at the patient's
                    // request (ITI-57); the treating physician does not mask for the patient.
                    var doc = request.Document;
                    if (doc is null || !scope.Admits(doc))
                    {
                        return AccessDecision.Deny(doc is null ? "no document given" : HiddenReason(doc, scope), doc is null ? Denial.NotAllowed : Denial.Hidden);
                    }

                    if (standing.ReadOnly)
                    {
                        return AccessDecision.Deny("an emergency access is read-only", Denial.NotAllowed);
                    }

                    return doc.IsOwnedBy(actor.Id)
                        ? Permit()
                        : AccessDecision.Deny("only the patient, or the document's author at the patient's request, masks or unmasks a document", Denial.NotAllowed);
                }

            default:
                return AccessDecision.Deny("not allowed", Denial.NotAllowed);
        }
    }

    /// <summary>A declaration of access: a group practice needs membership, a care team an admission by the professional's establishment.</summary>
    private static AccessDecision DecideDeclaration(AccessRequest request, RecordFacts record, ActorFacts facts)
    {
        var declaration = request.Declaration;
        if (declaration?.Mode == GrantMode.Group && (declaration.GroupId is null || !facts.Groups.Contains(declaration.GroupId)))
        {
            return AccessDecision.Deny("you are not a member of this group", Denial.NotAllowed);
        }

        if (declaration?.Mode == GrantMode.CareTeam
            && (facts.OrganizationId is null || !record.Grants.Any(g => g.Mode == GrantMode.Admission && g.HolderId == facts.OrganizationId && g.ActiveAt(request.Now))))
        {
            return AccessDecision.Deny("no admission of this patient is declared by your establishment: the hospital declares it first ($declare-admission)", Denial.NotAllowed);
        }

        return new AccessDecision(true, "declaration of access with the patient's consent", "declaration", DocumentScope.None);
    }

    private static string HiddenReason(DocumentFacts doc, DocumentScope scope) =>
        doc.Masked && scope.Masked != MaskedRule.Include ? "the document is masked by the patient" : "the profession may not read this type of document";

    private static AccessDecision DecideEmergencyDeclaration(AccessRequest request, RecordFacts record)
    {
        switch (request.Emergency)
        {
            case GrantMode.BreakGlass when record.Settings.OpposeBreakGlass:
                return AccessDecision.Deny("the patient has opposed access in an emergency (bris de glace)", Denial.EmergencyOpposed);
            case GrantMode.Centre15 when record.Settings.OpposeCentre15:
                return AccessDecision.Deny("the patient has opposed access by the SAMU regulation (centre 15)", Denial.EmergencyOpposed);
            case GrantMode.Centre15 when request.Actor.ProfessionCode != "10":
                return AccessDecision.Deny("centre 15 access is for SAMU regulating physicians", Denial.NotAllowed);
            case GrantMode.BreakGlass:
            case GrantMode.Centre15:
                return new AccessDecision(true, "declaration of an emergency access", GrantModes.Code(request.Emergency.Value), DocumentScope.None, Obligations.Audit | Obligations.NotifyPatient);
            default:
                return AccessDecision.Deny("the emergency mode is break-glass or centre-15", Denial.NotAllowed);
        }
    }

    /// <summary>Which documents a professional in a given standing may see: the matrix, then masking.</summary>
    private static DocumentScope ScopeFor(Actor actor, Standing standing, RecordFacts record, PolicySettings settings)
    {
        var (classes, types) = settings.Matrix.For(actor.ProfessionCode, actor.Specialty, MatrixUse.Read);
        var emergency = standing.Mode is GrantMode.BreakGlass or GrantMode.Centre15;
        MaskedRule masked;
        if (emergency && !record.Settings.OpposeEmergencyUnmasking)
        {
            masked = MaskedRule.Include;
        }
        else if (settings.MaskedVisibleToTreatingAndAuthor)
        {
            masked = standing.Mode == GrantMode.TreatingPhysician ? MaskedRule.Include : MaskedRule.IncludeOwn;
        }
        else
        {
            masked = MaskedRule.Exclude;
        }

        return new DocumentScope(true, classes, types, masked, false, actor.Id)
        {
            HideDispensingPrescribedBy = record.Settings.OpposeDispensingToPrescriber ? actor.Id : null,
        };
    }

    /// <summary>
    /// The strongest valid standing of a professional on a record: treating physician, then the
    /// consent modes (alleged, group, care team, delegation), then the read-only emergency modes.
    /// </summary>
    public static Standing? StandingOf(string professionalId, RecordFacts record, ActorFacts facts, DateTimeOffset now)
    {
        if (record.TreatingPhysicianId is not null && record.TreatingPhysicianId == professionalId)
        {
            return new Standing(GrantMode.TreatingPhysician, null, false, null);
        }

        Standing? best = null;
        foreach (var g in record.Grants)
        {
            if (!Covers(g, professionalId, record, facts) || !IsValid(g, record, now))
            {
                continue;
            }

            var candidate = new Standing(g.Mode, g, g.Mode is GrantMode.BreakGlass or GrantMode.Centre15, EffectiveEnd(g, record));
            if (best is null || Rank(candidate.Mode) < Rank(best.Mode) || (Rank(candidate.Mode) == Rank(best.Mode) && Later(candidate.End, best.End)))
            {
                best = candidate;
            }
        }

        return best;
    }

    /// <summary>
    /// A health network's record space: rights come from membership and the patient's enrolment, never
    /// from (nor towards) the national record — a member reads nothing of it without a grant there.
    /// </summary>
    private static AccessDecision DecideNetworkMember(AccessRequest request)
    {
        if (request.Network is not { } network)
        {
            return AccessDecision.Deny("no network given", Denial.NotAllowed);
        }

        if (!network.IsMember)
        {
            return AccessDecision.Deny($"only the members of the network {network.Name} use its record", Denial.NotAllowed);
        }

        return request.Action switch
        {
            AccessAction.EnrolNetwork => new AccessDecision(true, "network member collecting the patient's consent to enrolment", "network", DocumentScope.None),
            AccessAction.WithdrawNetwork => new AccessDecision(true, "network member recording the patient's withdrawal", "network", DocumentScope.None),
            _ when !network.PatientEnrolled => AccessDecision.Deny($"the patient is not enrolled in the network {network.Name} (or withdrew): its members have no right on this patient", Denial.NotAllowed),
            _ => new AccessDecision(true, "network member, the patient enrolled with consent", "network", DocumentScope.None),
        };
    }

    /// <summary>The authorisation status of a professional: valid, expired (a grant existed), forbidden (blocked), none.</summary>
    public static (AccessStatus Status, Standing? Standing) StatusOf(string professionalId, RecordFacts record, ActorFacts facts, DateTimeOffset now)
    {
        if (record.Blocked.Contains(professionalId))
        {
            return (AccessStatus.Forbidden, null);
        }

        if (record.Status != RecordStatus.Open)
        {
            return (AccessStatus.None, null);
        }

        var standing = StandingOf(professionalId, record, facts, now);
        if (standing is not null)
        {
            return (AccessStatus.Valid, standing);
        }

        return (HadGrant(professionalId, record, facts) ? AccessStatus.Expired : AccessStatus.None, null);
    }

    private static bool HadGrant(string professionalId, RecordFacts record, ActorFacts facts) =>
        record.Grants.Any(g => Covers(g, professionalId, record, facts));

    private static bool Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b is not null : b is not null && a > b;

    private static int Rank(GrantMode mode) => mode switch
    {
        GrantMode.TreatingPhysician => 0,
        GrantMode.Alleged => 1,
        GrantMode.Group => 2,
        GrantMode.CareTeam => 3,
        GrantMode.Delegation => 4,
        GrantMode.Centre15 => 5,
        GrantMode.BreakGlass => 6,
        _ => 9,
    };

    /// <summary>Whether a grant designates this professional (regardless of time).</summary>
    private static bool Covers(GrantFacts g, string professionalId, RecordFacts record, ActorFacts facts) => g.Mode switch
    {
        GrantMode.Group => g.GroupId is not null && facts.Groups.Contains(g.GroupId) && !(g.Excluded?.Contains(professionalId) ?? false),
        GrantMode.CareTeam => g.HolderId == professionalId && AdmissionOf(g, record) is { } a && (a.RestrictedTo is null || a.RestrictedTo.Contains(professionalId)),
        GrantMode.Admission => false,
        GrantMode.TreatingPhysician => false,
        _ => g.HolderId == professionalId,
    };

    /// <summary>Whether a grant is in force now, including what it depends on (the admission, the delegating grant).</summary>
    private static bool IsValid(GrantFacts g, RecordFacts record, DateTimeOffset now)
    {
        if (!g.ActiveAt(now))
        {
            return false;
        }

        switch (g.Mode)
        {
            case GrantMode.CareTeam:
                return AdmissionOf(g, record) is { } a && a.ActiveAt(now);
            case GrantMode.Delegation:
                if (g.DelegatingGrantId is null)
                {
                    return false;
                }

                if (GrantModes.TreatingDelegator(g.DelegatingGrantId) is { } treating)
                {
                    return record.TreatingPhysicianId == treating;
                }

                var d = record.Grants.FirstOrDefault(x => x.Id == g.DelegatingGrantId);
                return d is not null && d.Mode is GrantMode.Alleged or GrantMode.Group or GrantMode.CareTeam && IsValid(d, record, now);
            default:
                return true;
        }
    }

    private static DateTimeOffset? EffectiveEnd(GrantFacts g, RecordFacts record)
    {
        if (g.Mode == GrantMode.CareTeam && AdmissionOf(g, record) is { } a)
        {
            return Min(g.End, a.End);
        }

        return g.End;
    }

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    private static GrantFacts? AdmissionOf(GrantFacts g, RecordFacts record)
    {
        if (g.AdmissionId is null)
        {
            return null;
        }

        foreach (var x in record.Grants)
        {
            if (x.Id == g.AdmissionId && x.Mode == GrantMode.Admission)
            {
                return x;
            }
        }

        return null;
    }
}
