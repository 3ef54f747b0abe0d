using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Tests.Access;

/// <summary>Declarations are decided by the policy from its facts (group membership, the establishment's admission), not by the handler after a permit.</summary>
public class DeclarationPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static readonly Actor Doctor = new(ActorKind.Professional, "doc", "doc", "10");

    private static RecordFacts Record(params GrantFacts[] grants) => new("r1", RecordStatus.Open, "gp", RecordSettings.Default, grants, new HashSet<string>());

    private static GrantFacts Admission(string organization, int endDays = 5) =>
        new("adm", GrantMode.Admission, organization, Now.AddDays(-1), Now.AddDays(endDays), null, null, null, null, null, null);

    private static AccessDecision Decide(AccessAction action, RecordFacts record, ActorFacts facts, DeclarationFacts? declaration = null) =>
        AccessPolicy.Decide(new AccessRequest(Doctor, action, record, null, facts, Now, PolicySettings.Default, null, declaration));

    [Fact]
    public void GroupDeclaration_NeedsMembershipOfTheNamedGroup()
    {
        var member = new ActorFacts(new HashSet<string> { "msp1" }, false);
        Assert.True(Decide(AccessAction.DeclareAccess, Record(), member, new DeclarationFacts(GrantMode.Group, "msp1")).Permitted);
        var refused = Decide(AccessAction.DeclareAccess, Record(), member, new DeclarationFacts(GrantMode.Group, "msp2"));
        Assert.False(refused.Permitted);
        Assert.Contains("not a member", refused.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CareTeamDeclaration_NeedsAnAdmissionInForceByTheProfessionalsEstablishment()
    {
        var atHospital = new ActorFacts(new HashSet<string>(), false, "hosp");
        Assert.True(Decide(AccessAction.DeclareAccess, Record(Admission("hosp")), atHospital, new DeclarationFacts(GrantMode.CareTeam)).Permitted);
        Assert.False(Decide(AccessAction.DeclareAccess, Record(Admission("other")), atHospital, new DeclarationFacts(GrantMode.CareTeam)).Permitted);
        Assert.False(Decide(AccessAction.DeclareAccess, Record(Admission("hosp", endDays: -1)), atHospital, new DeclarationFacts(GrantMode.CareTeam)).Permitted);
        Assert.False(Decide(AccessAction.DeclareAccess, Record(Admission("hosp")), ActorFacts.Unknown, new DeclarationFacts(GrantMode.CareTeam)).Permitted);
    }

    [Fact]
    public void AdmissionDeclaration_NeedsAnEstablishment()
    {
        Assert.True(Decide(AccessAction.DeclareAdmission, Record(), new ActorFacts(new HashSet<string>(), false, "hosp")).Permitted);
        var refused = Decide(AccessAction.DeclareAdmission, Record(), ActorFacts.Unknown);
        Assert.False(refused.Permitted);
        Assert.Contains("establishment", refused.Reason, StringComparison.Ordinal);
    }
}
