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
