using System.Globalization;
using System.Text;

namespace OpenDmp.Core.Reminders;

/// <summary>
/// The agenda as an iCalendar file (RFC 5545): one VEVENT per reminder in French time (with the
/// Europe/Paris VTIMEZONE), its repeat as an RRULE, its advance notice as a VALARM. Text values
/// are escaped and lines folded at 75 octets, CRLF-terminated.
/// </summary>
public static class ICalendar
{
    private const string TimeZone = """
        BEGIN:VTIMEZONE
        TZID:Europe/Paris
        BEGIN:DAYLIGHT
        TZOFFSETFROM:+0100
        TZOFFSETTO:+0200
        TZNAME:CEST
        DTSTART:19700329T020000
        RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
        END:DAYLIGHT
        BEGIN:STANDARD
        TZOFFSETFROM:+0200
        TZOFFSETTO:+0100
        TZNAME:CET
        DTSTART:19701025T030000
        RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
        END:STANDARD
        END:VTIMEZONE
        """;

    public static string Write(IEnumerable<Reminder> reminders, DateTimeOffset now)
    {
        var sb = new StringBuilder();
        void Line(string line) => Fold(sb, line);
        Line("BEGIN:VCALENDAR");
        Line("VERSION:2.0");
        Line("PRODID:-//OpenDMP//Agenda du patient//FR");
        Line("CALSCALE:GREGORIAN");
        Line("METHOD:PUBLISH");
        foreach (var l in TimeZone.Split('\n'))
        {
            Line(l.TrimEnd('\r'));
        }

        var stamp = Utc(now);
        foreach (var r in reminders)
        {
            Line("BEGIN:VEVENT");
            Line($"UID:{r.Id}@opendmp");
            Line("DTSTAMP:" + stamp);
            Line("DTSTART;TZID=Europe/Paris:" + Recurrence.ToLocal(r.StartsAt).ToString("yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture));
            // An appointment or a check-up lasts an hour in the calendar; a medication time or a vaccination is a moment.
            Line("DURATION:" + (r.Kind is ReminderKinds.Appointment or ReminderKinds.CheckUp ? "PT1H" : "PT15M"));
            if (r.Repeat != Repeats.None)
            {
                var rule = "RRULE:FREQ=" + r.Repeat.ToUpperInvariant() + (r.Interval > 1 ? ";INTERVAL=" + r.Interval.ToString(CultureInfo.InvariantCulture) : string.Empty);
                Line(r.Until is { } until ? rule + ";UNTIL=" + Utc(until) : rule);
            }

            Line("SUMMARY:" + Escape(r.Title));
            Line("CATEGORIES:" + Escape(r.Kind.ToUpperInvariant()));
            if (r.Place is not null)
            {
                Line("LOCATION:" + Escape(r.Place));
            }

            if (r.Details is not null)
            {
                Line("DESCRIPTION:" + Escape(r.Details));
            }

            Line("BEGIN:VALARM");
            Line("ACTION:DISPLAY");
            Line("DESCRIPTION:" + Escape(r.Title));
            Line("TRIGGER:" + (r.LeadMinutes == 0 ? "PT0M" : "-PT" + r.LeadMinutes.ToString(CultureInfo.InvariantCulture) + "M"));
            Line("END:VALARM");
            Line("END:VEVENT");
        }

        Line("END:VCALENDAR");
        return sb.ToString();
    }

    private static string Utc(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>TEXT escaping (RFC 5545 §3.3.11): backslash, semicolon, comma, newline.</summary>
    public static string Escape(string text) => text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(";", "\\;", StringComparison.Ordinal)
        .Replace(",", "\\,", StringComparison.Ordinal).Replace("\r\n", "\\n", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\n", StringComparison.Ordinal);

    /// <summary>Writes a content line folded at 75 octets (continuations start with a space), never inside a UTF-8 sequence.</summary>
    private static void Fold(StringBuilder sb, string line)
    {
        var octets = 0;
        var limit = 75;
        foreach (var rune in line.EnumerateRunes())
        {
            var size = rune.Utf8SequenceLength;
            if (octets + size > limit)
            {
                sb.Append("\r\n ");
                octets = 0;
                limit = 74;
            }

            sb.Append(rune.ToString());
            octets += size;
        }

        sb.Append("\r\n");
    }
}
