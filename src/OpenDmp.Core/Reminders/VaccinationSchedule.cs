using System.Text.Json;

namespace OpenDmp.Core.Reminders;

/// <summary>One vaccination of the schedule: at what age, what, and whether it comes back.</summary>
public sealed record ScheduleItem(string Code, int AgeMonths, string Fr, string En, int? RepeatYears, bool Autumn)
{
    public string Label(bool english) => english ? En : Fr;

    /// <summary>
    /// When it falls for someone born on <paramref name="birth"/>: the day the age is reached (a
    /// seasonal vaccination: the first 15 October from then on), at 09:00 French time.
    /// </summary>
    public DateTimeOffset DueFor(DateOnly birth)
    {
        var day = birth.AddMonths(AgeMonths);
        if (Autumn)
        {
            var october = new DateOnly(day.Year, 10, 15);
            day = october >= day ? october : october.AddYears(1);
        }

        return Recurrence.FromLocal(day.ToDateTime(new TimeOnly(9, 0)));
    }
}

/// <summary>
/// The French vaccination schedule, shipped as data with its source
/// (<c>Reminders/vaccination-schedule-2025.json</c>): what a patient may add to their agenda as
/// reminders. Updating it is replacing that file when the ministry publishes a new schedule.
/// </summary>
public sealed class VaccinationSchedule
{
    private VaccinationSchedule(string title, string publisher, string url, string version, IReadOnlyList<ScheduleItem> items)
    {
        Title = title;
        Publisher = publisher;
        Url = url;
        Version = version;
        Items = items;
    }

    public string Title { get; }
    public string Publisher { get; }
    public string Url { get; }
    public string Version { get; }
    public IReadOnlyList<ScheduleItem> Items { get; }

    public static VaccinationSchedule Load()
    {
        using var stream = typeof(VaccinationSchedule).Assembly.GetManifestResourceStream("reminders/vaccination-schedule.json")
            ?? throw new InvalidOperationException("the vaccination schedule is not embedded");
        using var doc = JsonDocument.Parse(stream);
        var root = doc.RootElement;
        var items = root.GetProperty("items").EnumerateArray().Select(i => new ScheduleItem(
            i.GetProperty("code").GetString()!,
            i.GetProperty("ageMonths").GetInt32(),
            i.GetProperty("fr").GetString()!,
            i.GetProperty("en").GetString()!,
            i.TryGetProperty("repeatYears", out var r) ? r.GetInt32() : null,
            i.TryGetProperty("autumn", out var a) && a.GetBoolean())).ToList();
        return new VaccinationSchedule(root.GetProperty("title").GetString()!, root.GetProperty("publisher").GetString()!, root.GetProperty("url").GetString()!, root.GetProperty("version").GetString()!, items);
    }

    /// <summary>
    /// The vaccinations still ahead for someone born on <paramref name="birth"/>, with their dates:
    /// those due from <paramref name="now"/> on, and a repeated one (every 10 years, every autumn)
    /// at its next date when its first has passed.
    /// </summary>
    public IReadOnlyList<(ScheduleItem Item, DateTimeOffset Due)> Ahead(DateOnly birth, DateTimeOffset now)
    {
        var ahead = new List<(ScheduleItem, DateTimeOffset)>();
        foreach (var item in Items)
        {
            var due = item.DueFor(birth);
            if (due < now && item.RepeatYears is { } every)
            {
                var local = Recurrence.ToLocal(due);
                var years = (int)Math.Ceiling((now - due).TotalDays / 365.25 / every) * every;
                due = Recurrence.FromLocal(local.AddYears(years));
                if (due < now)
                {
                    due = Recurrence.FromLocal(local.AddYears(years + every));
                }
            }

            if (due >= now)
            {
                ahead.Add((item, due));
            }
        }

        return ahead.OrderBy(x => x.Item2).ToList();
    }
}
