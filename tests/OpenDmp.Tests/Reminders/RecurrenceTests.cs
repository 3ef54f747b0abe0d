using OpenDmp.Core.Reminders;

namespace OpenDmp.Tests.Reminders;

/// <summary>Reminder dates in French time, the iCalendar writer and the vaccination schedule's dates.</summary>
public class RecurrenceTests
{
    private static Reminder Daily(DateTime local, string repeat = Repeats.Daily, int interval = 1) => new()
    {
        RecordId = "r",
        Id = "x",
        Kind = ReminderKinds.Medication,
        Title = "t",
        StartsAt = Recurrence.FromLocal(local),
        Repeat = repeat,
        Interval = interval,
        Source = "patient",
        CreatedBy = "p",
    };

    [Fact]
    public void ADailyReminder_KeepsItsLocalHour_AcrossTheDaylightSavingChanges()
    {
        var r = Daily(new DateTime(2027, 3, 25, 8, 0, 0));
        var occurrences = Recurrence.Between(r, r.StartsAt, r.StartsAt.AddDays(9.5), 100).ToList();
        Assert.Equal(10, occurrences.Count);
        Assert.All(occurrences, o => Assert.Equal(8, Recurrence.ToLocal(o).Hour));
        // 07:00 UTC in winter time, 06:00 UTC from 28 March (summer time).
        Assert.Equal(7, occurrences[0].UtcDateTime.Hour);
        Assert.Equal(6, occurrences[5].UtcDateTime.Hour);
        var autumn = Daily(new DateTime(2027, 10, 29, 21, 15, 0));
        Assert.All(Recurrence.Between(autumn, autumn.StartsAt, autumn.StartsAt.AddDays(5), 10), o => Assert.Equal(new TimeOnly(21, 15), TimeOnly.FromDateTime(Recurrence.ToLocal(o))));
    }

    [Fact]
    public void ATimeSkippedInSpring_MovesOneHourLater_AndTheEndIsKept()
    {
        Assert.Equal(new DateTime(2027, 3, 28, 3, 30, 0), Recurrence.ToLocal(Recurrence.FromLocal(new DateTime(2027, 3, 28, 2, 30, 0))));
        var r = Daily(new DateTime(2027, 1, 1, 9, 0, 0), Repeats.Weekly);
        r.Until = Recurrence.FromLocal(new DateTime(2027, 1, 22, 23, 59, 59));
        Assert.Equal(4, Recurrence.Between(r, r.StartsAt, r.StartsAt.AddYears(1), 100).Count());
        Assert.Null(Recurrence.NextFrom(r, r.Until.Value));
        var decennial = Daily(new DateTime(2025, 5, 10, 9, 0, 0), Repeats.Yearly, 10);
        Assert.Equal(new DateTime(2035, 5, 10, 9, 0, 0), Recurrence.ToLocal(Recurrence.NextFrom(decennial, new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero))!.Value));
        var once = Daily(new DateTime(2027, 1, 1, 9, 0, 0), Repeats.None);
        Assert.Null(Recurrence.NextFrom(once, once.StartsAt.AddSeconds(1)));
    }

    [Fact]
    public void ICalendar_EscapesText_AndFoldsLongLines_WithoutCuttingACharacter()
    {
        var r = Daily(new DateTime(2027, 1, 1, 9, 0, 0));
        r.Title = string.Concat(Enumerable.Repeat("Hémoglobine glyquée; contrôle, à jeun\\ ", 6));
        r.Details = "ligne 1\nligne 2";
        var ics = ICalendar.Write([r], new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        var lines = ics.Split("\r\n");
        Assert.All(lines, l => Assert.True(System.Text.Encoding.UTF8.GetByteCount(l) <= 75, l));
        Assert.Equal("END:VCALENDAR", lines[^2]);
        Assert.Equal(string.Empty, lines[^1]);
        // Unfolded (RFC 5545 §3.1), the summary is the escaped title.
        var unfolded = ics.Replace("\r\n ", string.Empty, StringComparison.Ordinal);
        Assert.Contains("SUMMARY:" + ICalendar.Escape(r.Title) + "\r\n", unfolded, StringComparison.Ordinal);
        Assert.Contains("Hémoglobine glyquée\\; contrôle\\, à jeun\\\\", unfolded, StringComparison.Ordinal);
        Assert.Contains("DESCRIPTION:ligne 1\\nligne 2\r\n", unfolded, StringComparison.Ordinal);
        Assert.Contains("DTSTAMP:20261130T120000Z", unfolded, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSchedule_IsShippedWithItsSource_AndDatesFollowTheAge()
    {
        var schedule = VaccinationSchedule.Load();
        Assert.Equal("2025", schedule.Version);
        Assert.StartsWith("https://sante.gouv.fr/", schedule.Url, StringComparison.Ordinal);
        Assert.Equal(schedule.Items.Count, schedule.Items.Select(i => i.Code).Distinct().Count());
        var now = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

        // A baby born today: everything ahead, the first at two months.
        var baby = schedule.Ahead(new DateOnly(2026, 11, 30), now);
        Assert.Equal(schedule.Items.Count, baby.Count);
        Assert.Equal("2m-hexa", baby[0].Item.Code);
        Assert.Equal(new DateTime(2027, 1, 30, 9, 0, 0), Recurrence.ToLocal(baby[0].Due));

        // Born 10 May 1960 (66): the next decennial booster at 75, the next autumn's flu vaccine, RSV at 75; the shingles vaccine (at 65) has passed.
        var senior = schedule.Ahead(new DateOnly(1960, 5, 10), now).ToDictionary(x => x.Item.Code, x => DateOnly.FromDateTime(Recurrence.ToLocal(x.Due)));
        Assert.Equal(new DateOnly(2035, 5, 10), senior["65y-dtp"]);
        Assert.Equal(new DateOnly(2027, 10, 15), senior["65y-grippe"]);
        Assert.Equal(new DateOnly(2035, 5, 10), senior["75y-vrs"]);
        Assert.False(senior.ContainsKey("65y-zona"));
        Assert.False(senior.ContainsKey("25y-dtcap"));
    }
}
