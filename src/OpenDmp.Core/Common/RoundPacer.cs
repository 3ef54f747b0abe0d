namespace OpenDmp.Core.Common;

/// <summary>
/// Paces a background loop woken by a <see cref="WakeSignal"/>: a round that would start less than
/// <c>spacing</c> after the previous one waits the rest, so that under load the work of many wakes is
/// done together; a round after a quiet period starts at once. Used by one loop at a time.
/// </summary>
public sealed class RoundPacer(TimeSpan spacing, TimeProvider time)
{
    private DateTimeOffset? _last;

    /// <summary>How long the round about to start must wait; the round is counted as started after that wait.</summary>
    public TimeSpan Next()
    {
        var now = time.GetUtcNow();
        var wait = _last is { } last && now - last < spacing ? spacing - (now - last) : TimeSpan.Zero;
        _last = now + wait;
        return wait;
    }
}
