using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Tests.Unit;

/// <summary>
/// Property-based tests of the access policy: random worlds of grants (every mode, valid, expired,
/// revoked, with groups, delegations and admissions), oppositions, patient settings, masks and
/// documents, and the rules that must hold in all of them.
/// </summary>
public class AccessPolicyProperties
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly string[] GroupIds = ["grpA", "grpB"];
    private static readonly string[] Pros = ["p0", "p1", "p2", "p3", "p4", "p5"];
    private static readonly string?[] Professions = ["10", "10", "21", "60", "70", "99", null];
    private static readonly string[] Classes = ["10", "11", "42", "43", "44", "90"];
    private static readonly string[] Types = ["11488-4", "11502-2", "60591-5", "57833-6"];
    private static readonly GrantMode[] Modes = [GrantMode.Alleged, GrantMode.Group, GrantMode.Delegation, GrantMode.CareTeam, GrantMode.Admission, GrantMode.BreakGlass, GrantMode.Centre15];
    private static readonly AccessAction[] RecordActions = [AccessAction.SearchRecord, AccessAction.ReadAudit, AccessAction.Export, AccessAction.Notify, AccessAction.DepositMessage];
    private static readonly AccessAction[] DocumentActions = [AccessAction.ReadDocument, AccessAction.CreateDocument, AccessAction.ReplaceDocument, AccessAction.EraseDocument, AccessAction.DeleteDocument, AccessAction.ReleaseDocument];
    private static readonly AccessAction[] WriteActions = [AccessAction.CreateDocument, AccessAction.ReplaceDocument, AccessAction.EraseDocument, AccessAction.DeleteDocument, AccessAction.ReleaseDocument, AccessAction.DepositMessage];

    /// <summary>One random world: a record, its grants and documents, an actor and their facts, the settings.</summary>
    public sealed record World(RecordFacts Record, Actor Actor, ActorFacts Facts, IReadOnlyList<DocumentFacts> Documents, PolicySettings Settings)
    {
        public AccessDecision Decide(AccessAction action, DocumentFacts? doc = null, GrantMode? emergency = null) =>
            AccessPolicy.Decide(new AccessRequest(Actor, action, Record, doc, Facts, Now, Settings, emergency));

        public override string ToString() =>
            $"actor={Actor.Id}/{Actor.ProfessionCode} groups=[{string.Join(',', Facts.Groups)}] status={Record.Status} treating={Record.TreatingPhysicianId} blocked=[{string.Join(',', Record.Blocked)}] settings={Record.Settings} masked-visible={Settings.MaskedVisibleToTreatingAndAuthor}\n  "
            + string.Join("\n  ", Record.Grants.Select(g => $"{g.Id} {g.Mode} {g.HolderId} {g.Start:dd}..{g.End:dd} rev={g.RevokedAt is not null} grp={g.GroupId} del={g.DelegatingGrantId} adm={g.AdmissionId}"));
    }

    public static World Build(int seed)
    {
        var r = new Random(seed);
        T Pick<T>(IReadOnlyList<T> xs) => xs[r.Next(xs.Count)];
        var professions = Pros.ToDictionary(p => p, _ => Pick(Professions));
        var grants = new List<GrantFacts>();
        var count = r.Next(0, 9);
        for (var i = 0; i < count; i++)
        {
            var mode = Pick(Modes);
            var start = Now.AddDays(r.Next(-20, 3));
            DateTimeOffset? end = r.Next(6) == 0 ? null : start.AddDays(r.Next(0, 30));
            var earlier = grants.Where(g => g.Mode != GrantMode.Admission).Select(g => g.Id).ToList();
            var admissions = grants.Where(g => g.Mode == GrantMode.Admission).Select(g => g.Id).ToList();
            grants.Add(new GrantFacts(
                "g" + i,
                mode,
                mode == GrantMode.Admission ? "org" : Pick(Pros),
                start,
                end,
                r.Next(5) == 0 ? Now.AddDays(-1) : null,
                mode == GrantMode.Group ? Pick(GroupIds) : null,
                mode == GrantMode.Delegation ? (earlier.Count > 0 && r.Next(4) > 0 ? Pick(earlier) : GrantModes.TreatingGrantId(Pick(Pros))) : null,
                mode == GrantMode.CareTeam && admissions.Count > 0 ? Pick(admissions) : null,
                mode == GrantMode.Group && r.Next(3) == 0 ? Pros.Where(_ => r.Next(3) == 0).ToHashSet() : null,
                mode == GrantMode.Admission && r.Next(3) == 0 ? Pros.Where(_ => r.Next(2) == 0).ToHashSet() : null));
        }

        var record = new RecordFacts(
            "r1",
            r.Next(6) == 0 ? RecordStatus.Closed : RecordStatus.Open,
            r.Next(3) == 0 ? null : Pick(Pros),
            new RecordSettings(r.Next(3) == 0, r.Next(3) == 0, r.Next(3) == 0, r.Next(3) == 0),
            grants,
            Pros.Where(_ => r.Next(6) == 0).ToHashSet());
        var docs = Enumerable.Range(0, r.Next(1, 8)).Select(i => new DocumentFacts(
            "d" + i, Pick(Pros), r.Next(4) == 0 ? Pick(Pros) : null, Pick(Classes), Pick(Types),
            r.Next(3) == 0, r.Next(5) == 0, r.Next(6) == 0, r.Next(5) == 0, r.Next(3) == 0 ? Pick(Pros) : null)).ToList();
        var actorId = r.Next(8) == 0 ? "r1" : r.Next(10) == 0 ? "RL-1" : Pick(Pros);
        var actor = actorId switch
        {
            "r1" => new Actor(ActorKind.Patient, "r1", "patient"),
            "RL-1" => new Actor(ActorKind.Representative, "RL-1", "representative", null, r.Next(6) == 0 ? "r2" : "r1"),
            _ => new Actor(ActorKind.Professional, actorId, actorId, professions[actorId]),
        };
        var facts = new ActorFacts(GroupIds.Where(_ => r.Next(2) == 0).ToHashSet(), r.Next(2) == 0);
        var settings = new PolicySettings { MaskedVisibleToTreatingAndAuthor = r.Next(4) > 0 };
        return new World(record, actor, facts, docs, settings);
    }

    private static Property ForAllWorlds(Func<World, bool> property) =>
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue).Select(Build)), w => property(w).Label(w.ToString()));

    private static bool IsProfessional(World w) => w.Actor.Kind == ActorKind.Professional;

    private static IEnumerable<AccessDecision> AllDecisions(World w) =>
        RecordActions.Select(a => w.Decide(a)).Concat(w.Documents.SelectMany(d => DocumentActions.Select(a => w.Decide(a, d))));

    /// <summary>Whether any grant (valid or not) designates the actor, ignoring time.</summary>
    private static bool Designated(World w) =>
        w.Record.TreatingPhysicianId == w.Actor.Id
        || w.Record.Grants.Any(g => g.Mode != GrantMode.Admission && (g.HolderId == w.Actor.Id || (g.Mode == GrantMode.Group && g.GroupId is not null && w.Facts.Groups.Contains(g.GroupId))));

    [Property(MaxTest = 1000)]
    public Property NoGrant_NoAccess() => ForAllWorlds(w =>
        !IsProfessional(w) || Designated(w) || AllDecisions(w).All(d => !d.Permitted));

    [Property(MaxTest = 1000)]
    public Property Opposition_BeatsEveryMode_EmergencyIncluded() => ForAllWorlds(w =>
        !IsProfessional(w) || !w.Record.Blocked.Contains(w.Actor.Id)
        || (AllDecisions(w).All(d => !d.Permitted)
            && !w.Decide(AccessAction.DeclareEmergency, emergency: GrantMode.BreakGlass).Permitted
            && !w.Decide(AccessAction.DeclareEmergency, emergency: GrantMode.Centre15).Permitted
            && !w.Decide(AccessAction.DeclareAccess).Permitted));

    [Property(MaxTest = 1000)]
    public Property ExpiredOrRevokedGrants_GiveNothing() => ForAllWorlds(w =>
    {
        if (!IsProfessional(w) || w.Record.TreatingPhysicianId == w.Actor.Id || w.Record.Grants.Any(g => g.ActiveAt(Now)))
        {
            return true;
        }

        return AllDecisions(w).All(d => !d.Permitted);
    });

    [Property(MaxTest = 1000)]
    public Property ClosedRecord_GivesNothingToProfessionals() => ForAllWorlds(w =>
        !IsProfessional(w) || w.Record.Status == RecordStatus.Open
        || (AllDecisions(w).All(d => !d.Permitted) && !w.Decide(AccessAction.DeclareEmergency, emergency: GrantMode.BreakGlass).Permitted));

    [Property(MaxTest = 1000)]
    public Property Matrix_LimitsEveryModeForReadsAndWrites() => ForAllWorlds(w =>
        !IsProfessional(w) || w.Documents.All(d =>
            DocumentActions.All(a => !w.Decide(a, d).Permitted || w.Settings.Matrix.Allows(w.Actor.ProfessionCode, w.Actor.Specialty, a == AccessAction.CreateDocument ? MatrixUse.Write : MatrixUse.Read, d.ClassCode, d.TypeCode))));

    [Property(MaxTest = 1000)]
    public Property OppositionToDispensingData_HidesTheDispensingFromItsPrescriber() => ForAllWorlds(w =>
        !IsProfessional(w) || !w.Record.Settings.OpposeDispensingToPrescriber
        || w.Documents.Where(d => d.PrescriberId == w.Actor.Id).All(d => !w.Decide(AccessAction.ReadDocument, d).Permitted));

    [Property(MaxTest = 1000)]
    public Property MaskedDocuments_OnlyTreatingAuthorOrEmergencyUnmasking() => ForAllWorlds(w =>
        !IsProfessional(w) || w.Documents.Where(d => d.Masked).All(d =>
        {
            var decision = w.Decide(AccessAction.ReadDocument, d);
            if (!decision.Permitted)
            {
                return true;
            }

            var emergency = decision.Mode is "break-glass" or "centre-15";
            var treatingOrAuthor = decision.Mode == "treating-physician" || d.IsOwnedBy(w.Actor.Id);
            return (emergency && !w.Record.Settings.OpposeEmergencyUnmasking) || (treatingOrAuthor && w.Settings.MaskedVisibleToTreatingAndAuthor);
        }));

    [Property(MaxTest = 1000)]
    public Property InvisibleAndDraftDocuments_NeverShownToThePatient() => ForAllWorlds(w =>
    {
        var patient = new World(w.Record, new Actor(ActorKind.Patient, "r1", "patient"), ActorFacts.Unknown, w.Documents, w.Settings);
        var scope = patient.Decide(AccessAction.SearchRecord).Scope;
        return w.Documents.Where(d => d.HiddenFromPatient || d.Draft).All(d =>
            !patient.Decide(AccessAction.ReadDocument, d).Permitted && !scope.Admits(d) && !scope.ToExpression().Compile()(AccessPolicyTests.Entry(d)));
    });

    [Property(MaxTest = 1000)]
    public Property LegalRepresentatives_SeeThePatientsViewWithoutWhatIsKeptFromThem() => ForAllWorlds(w =>
    {
        var rep = new World(w.Record, new Actor(ActorKind.Representative, "RL-1", "representative", null, "r1"), ActorFacts.Unknown, w.Documents, w.Settings);
        var patient = new World(w.Record, new Actor(ActorKind.Patient, "r1", "patient"), ActorFacts.Unknown, w.Documents, w.Settings);
        var scope = rep.Decide(AccessAction.SearchRecord).Scope;
        var sql = scope.ToExpression().Compile();
        return w.Documents.All(d =>
        {
            var expected = patient.Decide(AccessAction.ReadDocument, d).Permitted && !d.HiddenFromRepresentatives;
            return rep.Decide(AccessAction.ReadDocument, d).Permitted == expected && scope.Admits(d) == expected && sql(AccessPolicyTests.Entry(d)) == expected
                && rep.Decide(AccessAction.MaskDocument, d).Permitted == expected;
        })
        // Another record's representative gets nothing, and no representative writes or declares.
        && RecordActions.All(a => !new World(w.Record, new Actor(ActorKind.Representative, "RL-2", "other", null, "r2"), ActorFacts.Unknown, w.Documents, w.Settings).Decide(a).Permitted)
        && w.Documents.All(d => WriteActions.All(a => !rep.Decide(a, d).Permitted));
    });

    [Property(MaxTest = 1000)]
    public Property EmergencyModes_AreReadOnly() => ForAllWorlds(w =>
        WriteActions.All(a => w.Documents.All(d =>
        {
            var decision = w.Decide(a, d);
            return !decision.Permitted || decision.Mode is not ("break-glass" or "centre-15");
        })));

    [Property(MaxTest = 1000)]
    public Property EmergencyOppositions_AreHonoured() => ForAllWorlds(w =>
        !IsProfessional(w)
        || ((!w.Record.Settings.OpposeBreakGlass || !w.Decide(AccessAction.DeclareEmergency, emergency: GrantMode.BreakGlass).Permitted)
            && (!w.Record.Settings.OpposeCentre15 || !w.Decide(AccessAction.DeclareEmergency, emergency: GrantMode.Centre15).Permitted)));

    /// <summary>What a search returns (SQL expression and in-memory predicate) is exactly what reading one by one permits.</summary>
    [Property(MaxTest = 1000)]
    public Property SearchScope_AgreesWithDocumentDecisions() => ForAllWorlds(w =>
    {
        var search = w.Decide(AccessAction.SearchRecord);
        var sql = search.Scope.ToExpression().Compile();
        return w.Documents.All(d =>
        {
            var one = w.Decide(AccessAction.ReadDocument, d).Permitted;
            return search.Permitted
                ? one == search.Scope.Admits(d) && one == sql(AccessPolicyTests.Entry(d))
                : !one;
        });
    });

    [Property(MaxTest = 1000)]
    public Property EveryPermit_CarriesItsObligations() => ForAllWorlds(w =>
        AllDecisions(w).Where(d => d.Permitted).All(d =>
            d.Obligations.HasFlag(Obligations.Audit)
            && (!IsProfessional(w) || !(d.Mode is "break-glass" or "centre-15") || d.Obligations.HasFlag(Obligations.NotifyPatient))
            && (!IsProfessional(w) || w.Facts.HasAccessedBefore || d.Obligations.HasFlag(Obligations.NotifyPatient))));

    [Property(MaxTest = 1000)]
    public Property MissingClaims_AreDenied() => ForAllWorlds(w =>
    {
        var anonymous = new World(w.Record, w.Actor with { Id = string.Empty }, w.Facts, w.Documents, w.Settings);
        var noProfession = new World(w.Record, w.Actor with { ProfessionCode = null }, w.Facts, w.Documents, w.Settings);
        return AllDecisions(anonymous).All(d => !d.Permitted) && (!IsProfessional(w) || AllDecisions(noProfession).All(d => !d.Permitted));
    });
}
