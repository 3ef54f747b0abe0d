using OpenDmp.Core.Common;

namespace OpenDmp.Tests.Alerts;

/// <summary>The dispatcher's pacing: a lone wake is served at once, wakes in quick succession are gathered.</summary>
public sealed class RoundPacerTests
{
    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void AWakeAfterAQuietPeriod_StartsAtOnce_OneSoonAfter_WaitsTheRestOfTheSpacing()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        var pacer = new RoundPacer(TimeSpan.FromMilliseconds(300), time);

        Assert.Equal(TimeSpan.Zero, pacer.Next());

        // 100 ms later: waits 200 ms, and the round counts as started then.
        time.Now += TimeSpan.FromMilliseconds(100);
        Assert.Equal(TimeSpan.FromMilliseconds(200), pacer.Next());

        // Right after that round (which started at +300 ms): a full spacing from it.
        time.Now += TimeSpan.FromMilliseconds(250);
        Assert.Equal(TimeSpan.FromMilliseconds(250), pacer.Next());

        // Quiet for a second: at once again.
        time.Now += TimeSpan.FromSeconds(1);
        Assert.Equal(TimeSpan.Zero, pacer.Next());
    }

    [Fact]
    public void NoSpacing_NeverWaits()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch);
        var pacer = new RoundPacer(TimeSpan.Zero, time);
        Assert.Equal(TimeSpan.Zero, pacer.Next());
        Assert.Equal(TimeSpan.Zero, pacer.Next());
    }
}
