using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;

namespace OpenDmp.Tests.Unit;

/// <summary>Table-driven tests of the access policy over one hand-written world.</summary>
public class AccessPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private static Actor Pro(string id, string? profession = "10") => new(ActorKind.Professional, id, id, profession);

    private static readonly Actor Patient = new(ActorKind.Patient, "r1", "patient");

    private static readonly Actor Parent = new(ActorKind.Representative, "RL-1", "parent", null, "r1");

    private static GrantFacts G(string id, GrantMode mode, string holder, int startDays = -1, int? endDays = 10, bool revoked = false, string? group = null, string? delegating = null, string? admission = null, string[]? excluded = null, string[]? restricted = null) =>
        new(id, mode, holder, Now.AddDays(startDays), endDays is null ? null : Now.AddDays(endDays.Value), revoked ? Now.AddHours(-1) : null, group, delegating, admission,
            excluded?.ToHashSet(), restricted?.ToHashSet());

    private static readonly List<GrantFacts> Grants =
    [
        G("a-ph", GrantMode.Alleged, "ph"),
        G("a-card", GrantMode.Alleged, "card"),
        G("a-old", GrantMode.Alleged, "old", -40, -10),
        G("a-rev", GrantMode.Alleged, "rev", revoked: true),
        G("a-blk", GrantMode.Alleged, "blk"),
        G("a-nurse-hidden", GrantMode.Alleged, "nurse"),
        G("grp", GrantMode.Group, "gm1", group: "msp1", excluded: ["gm3"]),
        G("del", GrantMode.Delegation, "bio", delegating: "a-card"),
        G("del-bad", GrantMode.Delegation, "bio2", delegating: "a-old"),
        G("del-tp", GrantMode.Delegation, "bio3", delegating: GrantModes.TreatingGrantId("gp")),
        G("adm", GrantMode.Admission, "hosp"),
        G("ct1", GrantMode.CareTeam, "hdoc", admission: "adm"),
        G("adm2", GrantMode.Admission, "hosp2", restricted: ["hdoc3"]),
        G("ct2", GrantMode.CareTeam, "hdoc2", admission: "adm2"),
        G("ct3", GrantMode.CareTeam, "hdoc3", admission: "adm2"),
        G("adm-old", GrantMode.Admission, "hosp3", -20, -1),
        G("ct4", GrantMode.CareTeam, "hdoc4", admission: "adm-old"),
        G("bg", GrantMode.BreakGlass, "er", 0, 1),
        G("c15", GrantMode.Centre15, "samu", 0, 1),
    ];

    private static RecordFacts Record(RecordStatus status = RecordStatus.Open, RecordSettings? settings = null) =>
        new("r1", status, "gp", settings ?? RecordSettings.Default, Grants, new HashSet<string> { "blk" });

    private static readonly DocumentFacts Summary = new("d-summary", "card", "card", "11", "60591-5");
    private static readonly DocumentFacts Report = new("d-report", "card", "card", "10", "11488-4");
    private static readonly DocumentFacts Biology = new("d-bio", "x", "x", "10", "11502-2");
    private static readonly DocumentFacts MaskedByCard = new("d-masked", "card", "card", "10", "11488-4", Masked: true);
    private static readonly DocumentFacts MaskedOther = new("d-masked2", "x", "x", "10", "11488-4", Masked: true);
    private static readonly DocumentFacts Hidden = new("d-hidden", "card", "card", "10", "11488-4", HiddenFromPatient: true);
    private static readonly DocumentFacts Draft = new("d-draft", "card", "card", "10", "11488-4", Draft: true);
    private static readonly DocumentFacts MinorsSecret = new("d-secret", "card", "card", "10", "11488-4", HiddenFromRepresentatives: true);
    private static readonly DocumentFacts ByPatient = new("d-patient", null, "r1", "90", "EXPPAT_3");

    private static AccessDecision Decide(Actor actor, AccessAction action, RecordFacts? record = null, DocumentFacts? doc = null, PolicySettings? settings = null, ActorFacts? facts = null, GrantMode? emergency = null) =>
        AccessPolicy.Decide(new AccessRequest(actor, action, record ?? Record(), doc, facts ?? new ActorFacts(new HashSet<string>(), true), Now, settings ?? PolicySettings.Default, emergency));

    public static TheoryData<string, Actor, AccessAction, DocumentFacts?, bool> Cases() => new()
    {
        { "treating physician reads a masked document", Pro("gp"), AccessAction.ReadDocument, MaskedOther, true },
        { "treating physician writes", Pro("gp"), AccessAction.CreateDocument, Report, true },
        { "author under alleged consent reads own masked document", Pro("card"), AccessAction.ReadDocument, MaskedByCard, true },
        { "alleged consent does not see others' masked documents", Pro("card"), AccessAction.ReadDocument, MaskedOther, false },
        { "pharmacist reads a summary", Pro("ph", "21"), AccessAction.ReadDocument, Summary, true },
        { "pharmacist reads a biology report", Pro("ph", "21"), AccessAction.ReadDocument, Biology, true },
        { "pharmacist may not read a consultation report", Pro("ph", "21"), AccessAction.ReadDocument, Report, false },
        { "pharmacist may not deposit a consultation report", Pro("ph", "21"), AccessAction.CreateDocument, Report, false },
        { "pharmacist deposits a biology report", Pro("ph", "21"), AccessAction.CreateDocument, Biology, true },
        { "unknown profession sees nothing", Pro("nurse", "99"), AccessAction.SearchRecord, null, false },
        { "expired grant gives nothing", Pro("old"), AccessAction.SearchRecord, null, false },
        { "revoked grant gives nothing", Pro("rev"), AccessAction.SearchRecord, null, false },
        { "no grant, no access", Pro("stranger"), AccessAction.SearchRecord, null, false },
        { "no grant, no write", Pro("stranger"), AccessAction.CreateDocument, Report, false },
        { "opposition beats a valid grant", Pro("blk"), AccessAction.SearchRecord, null, false },
        { "delegation under a valid grant", Pro("bio"), AccessAction.ReadDocument, Report, true },
        { "delegation under an expired grant gives nothing", Pro("bio2"), AccessAction.SearchRecord, null, false },
        { "delegation from the treating physician", Pro("bio3"), AccessAction.SearchRecord, null, true },
        { "care team member during the stay", Pro("hdoc"), AccessAction.ReadDocument, Report, true },
        { "care team member not among the doctors the patient named", Pro("hdoc2"), AccessAction.SearchRecord, null, false },
        { "care team member among the named doctors", Pro("hdoc3"), AccessAction.SearchRecord, null, true },
        { "care team after the stay", Pro("hdoc4"), AccessAction.SearchRecord, null, false },
        { "break-glass reads", Pro("er"), AccessAction.ReadDocument, Report, true },
        { "break-glass reads masked documents (no opposition to unmasking)", Pro("er"), AccessAction.ReadDocument, MaskedOther, true },
        { "break-glass is read-only", Pro("er"), AccessAction.CreateDocument, Report, false },
        { "centre 15 reads", Pro("samu"), AccessAction.ReadDocument, Report, true },
        { "author may erase own document", Pro("card"), AccessAction.EraseDocument, Report, true },
        { "non-author without treating may not erase", Pro("bio"), AccessAction.EraseDocument, Report, false },
        { "author releases own hidden document", Pro("card"), AccessAction.ReleaseDocument, Hidden, true },
        { "professionals do not manage consent", Pro("gp"), AccessAction.ManageConsent, null, false },
        { "the treating physician does not mask another's document", Pro("gp"), AccessAction.MaskDocument, Report, false },
        { "the author masks their document at the patient's request", Pro("card"), AccessAction.MaskDocument, Report, true },
        { "a professional without authorship does not mask", Pro("bio"), AccessAction.MaskDocument, Report, false },
        { "break-glass does not mask", Pro("er"), AccessAction.MaskDocument, Report, false },
        { "identity search", Pro("stranger", "21"), AccessAction.FindPatient, null, true },
        { "missing profession claim", Pro("gp", null), AccessAction.SearchRecord, null, false },
        { "missing identity", new Actor(ActorKind.Professional, "", "?", "10"), AccessAction.SearchRecord, null, false },
        { "patient searches own record", Patient, AccessAction.SearchRecord, null, true },
        { "patient reads a masked document of theirs", Patient, AccessAction.ReadDocument, MaskedOther, true },
        { "patient may not read a document invisible to them", Patient, AccessAction.ReadDocument, Hidden, false },
        { "patient may not read a draft", Patient, AccessAction.ReadDocument, Draft, false },
        { "patient manages consent", Patient, AccessAction.ManageConsent, null, true },
        { "patient masks a document", Patient, AccessAction.MaskDocument, Report, true },
        { "patient cannot mask a document not released to them", Patient, AccessAction.MaskDocument, Hidden, false },
        { "patient of another record", new Actor(ActorKind.Patient, "r2", "other"), AccessAction.SearchRecord, null, false },
        { "patient cannot write through the professional API", Patient, AccessAction.CreateDocument, Report, false },
        { "patient reads a document kept from the legal representatives", Patient, AccessAction.ReadDocument, MinorsSecret, true },
        { "legal representative searches the record", Parent, AccessAction.SearchRecord, null, true },
        { "legal representative reads a document", Parent, AccessAction.ReadDocument, Report, true },
        { "legal representative may not read a document kept from representatives", Parent, AccessAction.ReadDocument, MinorsSecret, false },
        { "legal representative may not mask a document kept from representatives", Parent, AccessAction.MaskDocument, MinorsSecret, false },
        { "legal representative may not read a document invisible to the patient", Parent, AccessAction.ReadDocument, Hidden, false },
        { "legal representative may not read a draft", Parent, AccessAction.ReadDocument, Draft, false },
        { "legal representative manages consent", Parent, AccessAction.ManageConsent, null, true },
        { "legal representative reads the audit trail", Parent, AccessAction.ReadAudit, null, true },
        { "legal representative cannot write", Parent, AccessAction.CreateDocument, Report, false },
        { "legal representative of another record", new Actor(ActorKind.Representative, "RL-2", "other", null, "r2"), AccessAction.SearchRecord, null, false },
        { "representative without a record", new Actor(ActorKind.Representative, "RL-3", "other"), AccessAction.SearchRecord, null, false },
        { "patient deposits a class 90 document", Patient, AccessAction.CreateDocument, ByPatient, true },
        { "legal representative may not deposit for the patient", Parent, AccessAction.CreateDocument, ByPatient, false },
        { "patient of another record may not deposit", new Actor(ActorKind.Patient, "r2", "other"), AccessAction.CreateDocument, ByPatient, false },
        { "patient writes the personal space", Patient, AccessAction.EditPersonalSpace, null, true },
        { "legal representative may not write the personal space", Parent, AccessAction.EditPersonalSpace, null, false },
        { "professionals do not write the personal space", Pro("gp"), AccessAction.EditPersonalSpace, null, false },
        { "patient closes or reopens the own record", Patient, AccessAction.ManageRecord, null, true },
        { "legal representative may not close the record", Parent, AccessAction.ManageRecord, null, false },
        { "professionals do not close records", Pro("gp"), AccessAction.ManageRecord, null, false },
    };

    [Fact]
    public void ClosedRecord_TakesNoPatientContribution_ButCanBeReopenedByThePatient()
    {
        var closed = Record(RecordStatus.Closed);
        Assert.False(Decide(Patient, AccessAction.CreateDocument, closed, ByPatient).Permitted);
        Assert.False(Decide(Patient, AccessAction.EditPersonalSpace, closed).Permitted);
        Assert.Equal(Denial.Closed, Decide(Patient, AccessAction.EditPersonalSpace, closed).Denial);
        Assert.True(Decide(Patient, AccessAction.ManageRecord, closed).Permitted);
        Assert.True(Decide(Patient, AccessAction.SearchRecord, closed).Permitted);
        Assert.False(Decide(Pro("gp"), AccessAction.SearchRecord, closed).Permitted);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_Table(string name, Actor actor, AccessAction action, DocumentFacts? doc, bool permitted)
    {
        var decision = Decide(actor, action, doc: doc);
        Assert.True(permitted == decision.Permitted, $"{name}: expected {(permitted ? "permit" : "deny")}, got {decision.Reason}");
        Assert.False(string.IsNullOrEmpty(decision.Reason));
    }

    [Fact]
    public void GroupGrant_CoversMembers_ExceptExcluded()
    {
        var inGroup = new ActorFacts(new HashSet<string> { "msp1" }, true);
        Assert.True(Decide(Pro("gm2", "60"), AccessAction.SearchRecord, facts: inGroup).Permitted);
        Assert.Equal("group", Decide(Pro("gm2", "60"), AccessAction.SearchRecord, facts: inGroup).Mode);
        Assert.False(Decide(Pro("gm3"), AccessAction.SearchRecord, facts: inGroup).Permitted);
        Assert.False(Decide(Pro("gm2", "60"), AccessAction.SearchRecord).Permitted);
    }

    [Fact]
    public void MaskedVisibility_IsASetting_TestedBothWays()
    {
        var hidden = new PolicySettings { MaskedVisibleToTreatingAndAuthor = false };
        Assert.True(Decide(Pro("gp"), AccessAction.ReadDocument, doc: MaskedOther).Permitted);
        Assert.False(Decide(Pro("gp"), AccessAction.ReadDocument, doc: MaskedOther, settings: hidden).Permitted);
        Assert.True(Decide(Pro("card"), AccessAction.ReadDocument, doc: MaskedByCard).Permitted);
        Assert.False(Decide(Pro("card"), AccessAction.ReadDocument, doc: MaskedByCard, settings: hidden).Permitted);
        Assert.Equal(Denial.Hidden, Decide(Pro("card"), AccessAction.ReadDocument, doc: MaskedByCard, settings: hidden).Denial);
    }

    [Fact]
    public void EmergencyUnmasking_CanBeOpposed()
    {
        var opposed = Record(settings: new RecordSettings(OpposeEmergencyUnmasking: true));
        Assert.False(Decide(Pro("er"), AccessAction.ReadDocument, opposed, MaskedOther).Permitted);
        Assert.True(Decide(Pro("er"), AccessAction.ReadDocument, opposed, Report).Permitted);
    }

    [Theory]
    [InlineData(true, false, GrantMode.BreakGlass, false)]
    [InlineData(true, false, GrantMode.Centre15, true)]
    [InlineData(false, true, GrantMode.Centre15, false)]
    [InlineData(false, true, GrantMode.BreakGlass, true)]
    [InlineData(false, false, GrantMode.BreakGlass, true)]
    public void EmergencyOppositions_AreTwoSeparateSettings(bool opposeBreakGlass, bool opposeCentre15, GrantMode mode, bool permitted)
    {
        var record = Record(settings: new RecordSettings(opposeBreakGlass, opposeCentre15));
        var d = Decide(Pro("x"), AccessAction.DeclareEmergency, record, emergency: mode);
        Assert.Equal(permitted, d.Permitted);
        if (!permitted)
        {
            Assert.Equal(Denial.EmergencyOpposed, d.Denial);
        }
    }

    [Fact]
    public void Opposition_BeatsEmergencyDeclaration() =>
        Assert.Equal(Denial.Blocked, Decide(Pro("blk"), AccessAction.DeclareEmergency, emergency: GrantMode.BreakGlass).Denial);

    [Fact]
    public void ClosedRecord_GivesNothingToProfessionals_ButThePatientStillReads()
    {
        var closed = Record(RecordStatus.Closed);
        Assert.Equal(Denial.Closed, Decide(Pro("gp"), AccessAction.ReadDocument, closed, Report).Denial);
        Assert.Equal(Denial.Closed, Decide(Pro("er"), AccessAction.ReadDocument, closed, Report).Denial);
        Assert.True(Decide(Patient, AccessAction.ReadDocument, closed, Report).Permitted);
    }

    [Fact]
    public void Obligations_EmergencyAndFirstAccess_NotifyThePatient()
    {
        var first = new ActorFacts(new HashSet<string>(), false);
        Assert.Equal(Obligations.Audit, Decide(Pro("gp"), AccessAction.SearchRecord).Obligations);
        Assert.Equal(Obligations.Audit | Obligations.NotifyPatient, Decide(Pro("gp"), AccessAction.SearchRecord, facts: first).Obligations);
        Assert.Equal(Obligations.Audit | Obligations.NotifyPatient, Decide(Pro("er"), AccessAction.SearchRecord).Obligations);
        Assert.Equal("bg", Decide(Pro("er"), AccessAction.SearchRecord).GrantId);
    }

    [Fact]
    public void Status_ValidExpiredForbiddenNone()
    {
        var facts = ActorFacts.Unknown;
        Assert.Equal(AccessStatus.Valid, AccessPolicy.StatusOf("card", Record(), facts, Now).Status);
        Assert.Equal(AccessStatus.Expired, AccessPolicy.StatusOf("old", Record(), facts, Now).Status);
        Assert.Equal(AccessStatus.Expired, AccessPolicy.StatusOf("rev", Record(), facts, Now).Status);
        Assert.Equal(AccessStatus.Forbidden, AccessPolicy.StatusOf("blk", Record(), facts, Now).Status);
        Assert.Equal(AccessStatus.None, AccessPolicy.StatusOf("stranger", Record(), facts, Now).Status);
        Assert.Equal(GrantMode.TreatingPhysician, AccessPolicy.StatusOf("gp", Record(), facts, Now).Standing!.Mode);
    }

    [Fact]
    public void Matrix_IsConfigurable()
    {
        var only = new PolicySettings { Matrix = new AccessMatrix(new Dictionary<string, string[]> { ["10"] = ["class:11"] }) };
        Assert.True(Decide(Pro("gp"), AccessAction.ReadDocument, doc: Summary, settings: only).Permitted);
        Assert.False(Decide(Pro("gp"), AccessAction.ReadDocument, doc: Report, settings: only).Permitted);
        Assert.Throws<ArgumentException>(() => new AccessMatrix(new Dictionary<string, string[]> { ["10"] = ["everything"] }));
    }

    [Fact]
    public void Matrix_ReadsAndWritesSeparately_AndBySpecialtyWhereARuleDistinguishesIt()
    {
        var matrix = new AccessMatrix(new Dictionary<string, string[]>
        {
            ["10"] = ["*"],
            ["10/SM04"] = ["read:*", "write:class:11"],
            ["60"] = ["write:class:11"],
            ["21"] = ["read:class:11", "write:type:60593-1"],
        });
        Assert.True(matrix.Allows("10", "SM54", MatrixUse.Write, "10", "11488-4"));
        Assert.True(matrix.Allows("10", "SM04", MatrixUse.Read, "10", "11488-4"));
        Assert.False(matrix.Allows("10", "SM04", MatrixUse.Write, "10", "11488-4"));
        Assert.True(matrix.Allows("10", "SM04", MatrixUse.Write, "11", "60591-5"));
        Assert.False(matrix.Allows("60", null, MatrixUse.Read, "11", "60591-5"));
        Assert.True(matrix.Allows("21", null, MatrixUse.Write, "43", "60593-1"));
        Assert.False(matrix.Allows("21", null, MatrixUse.Read, "43", "60593-1"));
        Assert.False(matrix.Allows("70", null, MatrixUse.Read, "11", "60591-5"));

        // Through the policy: a nurse deposits what she may not read; a cardiologist reads all and deposits summaries only.
        var settings = new PolicySettings { Matrix = matrix };
        var nurse = Pro("nurse", "60");
        Assert.True(Decide(nurse, AccessAction.CreateDocument, doc: Summary, settings: settings).Permitted);
        Assert.Equal(Denial.Matrix, Decide(nurse, AccessAction.SearchRecord, settings: settings).Denial);
        var cardiologist = new Actor(ActorKind.Professional, "card", "card", "10", Specialty: "SM04");
        Assert.True(Decide(cardiologist, AccessAction.ReadDocument, doc: Report, settings: settings).Permitted);
        Assert.True(Decide(cardiologist, AccessAction.CreateDocument, doc: Summary, settings: settings).Permitted);
        Assert.Equal(Denial.Matrix, Decide(cardiologist, AccessAction.CreateDocument, doc: Report, settings: settings).Denial);
        Assert.True(Decide(Pro("card"), AccessAction.CreateDocument, doc: Report, settings: settings).Permitted);
        Assert.Throws<ArgumentException>(() => new AccessMatrix(new Dictionary<string, string[]> { ["10/"] = ["*"] }));
        Assert.Throws<ArgumentException>(() => new AccessMatrix(new Dictionary<string, string[]> { ["10"] = ["read:"] }));
    }

    [Fact]
    public void Scope_AsSql_MatchesThePredicate()
    {
        var scope = Decide(Pro("ph", "21"), AccessAction.SearchRecord).Scope;
        var compiled = scope.ToExpression().Compile();
        foreach (var d in new[] { Summary, Report, Biology, MaskedByCard, MaskedOther, Hidden, Draft })
        {
            Assert.Equal(scope.Admits(d), compiled(Entry(d)));
        }
    }

    internal static DocumentEntry Entry(DocumentFacts d) => new()
    {
        RecordId = "r1",
        Id = d.DocumentId,
        MasterIdentifier = d.DocumentId,
        Status = "current",
        TypeCode = d.TypeCode ?? string.Empty,
        ClassCode = d.ClassCode,
        ContentType = "text/plain",
        Sha1 = string.Empty,
        ContentKey = d.DocumentId,
        ResourceJson = "{}",
        AuthorProfessionalId = d.AuthorProfessionalId,
        SubmitterId = d.SubmitterId,
        PrescriberId = d.PrescriberId,
        Masked = d.Masked,
        HiddenFromPatient = d.HiddenFromPatient,
        Draft = d.Draft,
        HiddenFromRepresentatives = d.HiddenFromRepresentatives,
    };
}
