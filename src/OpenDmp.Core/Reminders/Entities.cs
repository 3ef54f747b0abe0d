namespace OpenDmp.Core.Reminders;

/// <summary>
/// A reminder in the patient's agenda: an appointment, a medication time, a check-up or a
/// vaccination (entered by the patient or a legal representative, or taken from the vaccination
/// schedule). Times are written in metropolitan French time and stored in UTC; a repeated reminder
/// keeps its local hour across daylight-saving changes.
/// </summary>
public sealed class Reminder
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    /// <summary>appointment, medication, check-up, vaccination.</summary>
    public required string Kind { get; set; }
    public required string Title { get; set; }
    /// <summary>Where to go: the professional or establishment and their contact details.</summary>
    public string? Place { get; set; }
    /// <summary>What to bring or do: the dosage of a medication, the modalities of a vaccination.</summary>
    public string? Details { get; set; }
    /// <summary>The first occurrence.</summary>
    public DateTimeOffset StartsAt { get; set; }
    /// <summary>none, daily, weekly, monthly, yearly.</summary>
    public required string Repeat { get; set; }
    /// <summary>Every how many days, weeks, months or years (1 by default; 10 for a decennial booster).</summary>
    public int Interval { get; set; } = 1;
    /// <summary>No occurrence after this instant (repeated reminders).</summary>
    public DateTimeOffset? Until { get; set; }
    /// <summary>How long before an occurrence the patient is reminded, in minutes.</summary>
    public int LeadMinutes { get; set; }
    /// <summary>The next occurrence to remind of, or null when none is left.</summary>
    public DateTimeOffset? NextOccurrence { get; set; }
    /// <summary>When the next reminder is due (NextOccurrence − lead); the dispatcher's index.</summary>
    public DateTimeOffset? NextNotifyAt { get; set; }
    /// <summary>patient, or schedule:{item} for a vaccination of the schedule.</summary>
    public required string Source { get; set; }
    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public static class ReminderKinds
{
    public const string Appointment = "appointment";
    public const string Medication = "medication";
    public const string CheckUp = "check-up";
    public const string Vaccination = "vaccination";

    public static readonly IReadOnlyList<string> All = [Appointment, Medication, CheckUp, Vaccination];
}

public static class Repeats
{
    public const string None = "none";
    public const string Daily = "daily";
    public const string Weekly = "weekly";
    public const string Monthly = "monthly";
    public const string Yearly = "yearly";

    public static readonly IReadOnlyList<string> All = [None, Daily, Weekly, Monthly, Yearly];
}

/// <summary>Configuration section Reminders.</summary>
public sealed class ReminderOptions
{
    /// <summary>Seconds between two looks for due reminders (0 disables the job).</summary>
    public double DispatchSeconds { get; set; } = 30;

    public IEnumerable<string> Problems()
    {
        if (DispatchSeconds < 0)
        {
            yield return $"Reminders:DispatchSeconds: must be 0 (off) or more, got {DispatchSeconds}";
        }
    }
}
