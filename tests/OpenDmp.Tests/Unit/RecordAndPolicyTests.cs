using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Records;

namespace OpenDmp.Tests.Unit;

public class RecordStateMachineTests
{
    [Theory]
    [InlineData(null, RecordCommand.Open, RecordStatus.Open)]
    [InlineData(RecordStatus.Open, RecordCommand.Close, RecordStatus.Closed)]
    [InlineData(RecordStatus.Closed, RecordCommand.Reopen, RecordStatus.Open)]
    public void Next_AllowedTransition_GivesNewStatus(RecordStatus? from, RecordCommand command, RecordStatus expected) =>
        Assert.Equal(expected, RecordStateMachine.Next(from, command));

    [Theory]
    [InlineData(null, RecordCommand.Close, "no record")]
    [InlineData(null, RecordCommand.Reopen, "no record")]
    [InlineData(RecordStatus.Open, RecordCommand.Open, "already open")]
    [InlineData(RecordStatus.Open, RecordCommand.Reopen, "only a closed record")]
    [InlineData(RecordStatus.Closed, RecordCommand.Close, "already closed")]
    [InlineData(RecordStatus.Closed, RecordCommand.Open, "reopen it")]
    public void Next_ForbiddenTransition_IsConflictWithReason(RecordStatus? from, RecordCommand command, string reason)
    {
        var ex = Assert.Throws<DmpException>(() => RecordStateMachine.Next(from, command));
        Assert.Equal(ErrorKind.Conflict, ex.Kind);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }
}

public class AccessPolicyTests
{
    private static readonly Actor Gp = new(ActorKind.Professional, "gp", "GP", "10");
    private static readonly Actor Author = new(ActorKind.Professional, "author", "Author", "10");
    private static readonly Actor Other = new(ActorKind.Professional, "other", "Other", "21");
    private static readonly RecordFacts OpenRecord = new("r1", RecordStatus.Open, "gp");
    private static readonly RecordFacts ClosedRecord = new("r1", RecordStatus.Closed, "gp");
    private static readonly DocumentFacts Doc = new("d1", "author", "author");

    public static TheoryData<string, Actor, AccessAction, RecordFacts?, DocumentFacts?, bool> Cases() => new()
    {
        { "treating physician searches", Gp, AccessAction.SearchRecord, OpenRecord, null, true },
        { "treating physician creates", Gp, AccessAction.CreateDocument, OpenRecord, null, true },
        { "treating physician reads any document", Gp, AccessAction.ReadDocument, OpenRecord, Doc, true },
        { "treating physician deletes", Gp, AccessAction.DeleteDocument, OpenRecord, Doc, true },
        { "author reads own document", Author, AccessAction.ReadDocument, OpenRecord, Doc, true },
        { "author replaces own document", Author, AccessAction.ReplaceDocument, OpenRecord, Doc, true },
        { "author erases own document", Author, AccessAction.EraseDocument, OpenRecord, Doc, true },
        { "author cannot delete", Author, AccessAction.DeleteDocument, OpenRecord, Doc, false },
        { "author cannot create in someone else's record", Author, AccessAction.CreateDocument, OpenRecord, null, false },
        { "other cannot read", Other, AccessAction.ReadDocument, OpenRecord, Doc, false },
        { "other cannot create", Other, AccessAction.CreateDocument, OpenRecord, null, false },
        { "closed record: treating physician cannot read", Gp, AccessAction.ReadDocument, ClosedRecord, Doc, false },
        { "closed record: author cannot read", Author, AccessAction.ReadDocument, ClosedRecord, Doc, false },
        { "no record facts", Gp, AccessAction.SearchRecord, null, null, false },
        { "missing actor id", new Actor(ActorKind.Professional, "", "?"), AccessAction.SearchRecord, OpenRecord, null, false },
        { "patient not yet supported", new Actor(ActorKind.Patient, "p", "P"), AccessAction.SearchRecord, OpenRecord, null, false },
        { "professionals do not manage records", Gp, AccessAction.ManageRecord, OpenRecord, null, false },
        { "identity search by a professional", Other, AccessAction.FindPatient, null, null, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_Table(string name, Actor actor, AccessAction action, RecordFacts? record, DocumentFacts? doc, bool permitted)
    {
        var decision = AccessPolicy.Decide(new AccessRequest(actor, action, record, doc));
        Assert.True(permitted == decision.Permitted, $"{name}: expected {(permitted ? "permit" : "deny")}, got {decision.Reason}");
        Assert.False(string.IsNullOrEmpty(decision.Reason));
    }

    [Fact]
    public void Decide_SearchByAuthor_IsLimitedToOwnDocuments()
    {
        var d = AccessPolicy.Decide(new AccessRequest(Author, AccessAction.SearchRecord, OpenRecord));
        Assert.True(d.Permitted);
        Assert.Equal(DocumentScope.OwnDocuments, d.Scope);
        Assert.Equal(DocumentScope.All, AccessPolicy.Decide(new AccessRequest(Gp, AccessAction.SearchRecord, OpenRecord)).Scope);
    }
}
