namespace OpenDmp.Core.Reminders;

/// <summary>
/// Occurrences of a reminder in metropolitan French time: the n-th occurrence is the first one's
/// local date and hour moved by n days, weeks, months or years, then converted to UTC (so a daily
/// 08:00 medication stays at 08:00 across daylight-saving changes).
/// </summary>
public static class Recurrence
{
    public static readonly TimeZoneInfo Paris = TimeZoneInfo.FindSystemTimeZoneById("Europe/Paris");

    /// <summary>The UTC instant of a local French date and time (a time skipped by the spring change moves one hour later).</summary>
    public static DateTimeOffset FromLocal(DateTime local)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (Paris.IsInvalidTime(local))
        {
            local = local.AddHours(1);
        }

        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(local, Paris), TimeSpan.Zero);
    }

    public static DateTime ToLocal(DateTimeOffset instant) => TimeZoneInfo.ConvertTime(instant, Paris).DateTime;

    /// <summary>The n-th occurrence (0 is the first), or null when the repeat does not reach it.</summary>
    public static DateTimeOffset? Occurrence(Reminder r, int n)
    {
        if (n == 0)
        {
            return r.StartsAt;
        }

        var local = ToLocal(r.StartsAt);
        DateTime? moved = r.Repeat switch
        {
            Repeats.Daily => local.AddDays((double)n * r.Interval),
            Repeats.Weekly => local.AddDays(7.0 * n * r.Interval),
            Repeats.Monthly => local.AddMonths(n * r.Interval),
            Repeats.Yearly => local.AddYears(n * r.Interval),
            _ => null,
        };
        if (moved is null)
        {
            return null;
        }

        var at = FromLocal(moved.Value);
        return r.Until is { } until && at > until ? null : at;
    }

    /// <summary>The first occurrence at or after <paramref name="from"/>, or null.</summary>
    public static DateTimeOffset? NextFrom(Reminder r, DateTimeOffset from)
    {
        if (r.StartsAt >= from)
        {
            return r.StartsAt;
        }

        if (r.Repeat == Repeats.None)
        {
            return null;
        }

        // Jump close to the target by the repeat's average period, then walk (at most a few steps).
        var days = r.Interval * r.Repeat switch { Repeats.Daily => 1.0, Repeats.Weekly => 7.0, Repeats.Monthly => 30.44, _ => 365.25 };
        var n = Math.Max(0, (int)((from - r.StartsAt).TotalDays / days) - 2);
        for (var i = 0; i < 10; i++, n++)
        {
            var at = Occurrence(r, n);
            if (at is null)
            {
                return null;
            }

            if (at >= from)
            {
                return at;
            }
        }

        return null;
    }

    /// <summary>The occurrences in [from, to), at most <paramref name="max"/>.</summary>
    public static IEnumerable<DateTimeOffset> Between(Reminder r, DateTimeOffset from, DateTimeOffset to, int max)
    {
        var at = NextFrom(r, from);
        var count = 0;
        while (at is { } a && a < to && count < max)
        {
            yield return a;
            count++;
            at = NextFrom(r, a.AddSeconds(1));
        }
    }
}
