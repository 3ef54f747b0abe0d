using OpenDmp.Core.Common;

namespace OpenDmp.Core.Records;

/// <summary>Commands that change a record's lifecycle.</summary>
public enum RecordCommand
{
    Open,
    Close,
    Reopen,
}

/// <summary>
/// The record lifecycle (M1): none → open (with consent) → closed → open (reopen) … A closed
/// record keeps its data (retention rules apply) but gives nothing to professionals.
/// </summary>
public static class RecordStateMachine
{
    /// <summary>Returns the next status, or throws a 409 that says why the transition is impossible.</summary>
    public static RecordStatus Next(RecordStatus? current, RecordCommand command) => (current, command) switch
    {
        (null, RecordCommand.Open) => RecordStatus.Open,
        (RecordStatus.Open, RecordCommand.Close) => RecordStatus.Closed,
        (RecordStatus.Closed, RecordCommand.Reopen) => RecordStatus.Open,
        (null, _) => throw new DmpException(ErrorKind.Conflict, "this patient has no record: open one first"),
        (RecordStatus.Open, RecordCommand.Open) => throw new DmpException(ErrorKind.Conflict, "the record is already open"),
        (RecordStatus.Open, RecordCommand.Reopen) => throw new DmpException(ErrorKind.Conflict, "the record is open: only a closed record can be reopened"),
        (RecordStatus.Closed, RecordCommand.Close) => throw new DmpException(ErrorKind.Conflict, "the record is already closed"),
        (RecordStatus.Closed, RecordCommand.Open) => throw new DmpException(ErrorKind.Conflict, "the record exists and is closed: reopen it instead"),
        (RecordStatus.Merged, _) => throw new DmpException(ErrorKind.Conflict, "this identity was merged into another (identity vigilance): its record is the survivor's; undo the merge first"),
        _ => throw new DmpException(ErrorKind.Conflict, "impossible record transition"),
    };
}
