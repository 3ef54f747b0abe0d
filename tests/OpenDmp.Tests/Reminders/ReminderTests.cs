using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Reminders;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Reminders;

/// <summary>
/// The patient's agenda and reminders (issue 15) on the real server: reminders entered by the
/// patient repeat in French time and are exported as iCalendar; the vaccination schedule adds what
/// is ahead for the patient's age; a due reminder becomes a notification delivered by SMS (a
/// gateway stand-in on loopback) in the patient's language, once per occurrence; a professional
/// cannot read the agenda.
/// </summary>
public abstract class ReminderTests(IStorageUnderTest storage) : ServerTestBase(storage), IDisposable
{
    private readonly HookReceiver _gateway = new();

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Sms:GatewayUrl"] = _gateway.Url,
        ["Sms:Seconds"] = "0.2",
        // The test drives the dispatcher's clock itself (a reminder is due days ahead).
        ["Reminders:DispatchSeconds"] = "0",
    };

    public void Dispose()
    {
        _gateway.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task<Actor> PatientAsync(TestPatient patient, string language, params string[] choices)
    {
        await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>().IssueActivationAsync(patient.Id, null, Actor.Operator, Channels.Admin, default));
        var me = new Actor(ActorKind.Patient, patient.Id, "patient");
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<PatientPreferences>().SetNotificationSettingsAsync(new NotificationSettings(null, "06 11 22 33 44", language, choices.ToHashSet()), me, Channels.Portal, default);
            return 0;
        });
        return me;
    }

    private Task<T> WithRemindersAsync<T>(Func<ReminderService, Task<T>> f) => Server.WithScopeAsync(sp => f(sp.GetRequiredService<ReminderService>()));

    private static DateOnly ParisToday() => DateOnly.FromDateTime(Recurrence.ToLocal(DateTimeOffset.UtcNow));

    [Fact]
    public async Task Reminders_Repeat_Export_AndAreRemindedOncePerOccurrence_BySms()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var me = await PatientAsync(patient, "en", "reminder:sms");
        var start = ParisToday().AddDays(2);
        var medication = await WithRemindersAsync(r => r.AddAsync(new ReminderInput(ReminderKinds.Medication, "Metformin 500 mg", start, new TimeOnly(8, 0), Repeats.Daily, start.AddDays(2), 0, Details: "1 tablet with breakfast"), me, Channels.Portal, default));
        var appointment = await WithRemindersAsync(r => r.AddAsync(new ReminderInput(ReminderKinds.Appointment, "Cardiologist, Dr Bernard", start.AddDays(1), new TimeOnly(14, 30), LeadMinutes: 1440, Place: "12 rue de la Paix, 75002 Paris; 01 23 45 67 89"), me, Channels.Portal, default));

        // The agenda: three daily 08:00 occurrences (Paris time) and the appointment, in order.
        var upcoming = await WithRemindersAsync(async r => r.Upcoming(await r.ListAsync(me, Channels.Portal, default), 30, 50));
        Assert.Equal(["Metformin 500 mg", "Metformin 500 mg", "Cardiologist, Dr Bernard", "Metformin 500 mg"], upcoming.Select(x => x.Reminder.Title));
        Assert.All(upcoming.Where(x => x.Reminder.Id == medication.Id), x => Assert.Equal(new TimeOnly(8, 0), TimeOnly.FromDateTime(Recurrence.ToLocal(x.At))));

        // The iCalendar export.
        var ics = await WithRemindersAsync(r => r.CalendarAsync(me, Channels.Portal, default));
        Assert.StartsWith("BEGIN:VCALENDAR\r\n", ics, StringComparison.Ordinal);
        Assert.Contains("TZID:Europe/Paris", ics, StringComparison.Ordinal);
        Assert.Contains($"DTSTART;TZID=Europe/Paris:{start:yyyyMMdd}T080000\r\n", ics, StringComparison.Ordinal);
        Assert.Contains("RRULE:FREQ=DAILY;UNTIL=", ics, StringComparison.Ordinal);
        Assert.Contains("SUMMARY:Cardiologist\\, Dr Bernard\r\n", ics, StringComparison.Ordinal);
        Assert.Contains("LOCATION:12 rue de la Paix\\, 75002 Paris\\; 01 23 45 67 89\r\n", ics, StringComparison.Ordinal);
        Assert.Contains("TRIGGER:-PT1440M", ics, StringComparison.Ordinal);
        Assert.All(ics.Split("\r\n"), line => Assert.True(System.Text.Encoding.UTF8.GetByteCount(line) <= 75, line));

        // Nothing is due yet; at the appointment's eve, that reminder and the medication's occurrences until then are.
        Assert.Equal(0, await WithRemindersAsync(r => r.DispatchDueAsync(DateTimeOffset.UtcNow, 100, default)));
        var eve = Recurrence.FromLocal(start.AddDays(1).ToDateTime(new TimeOnly(14, 30))).AddDays(-1);
        Assert.Equal(2, await WithRemindersAsync(r => r.DispatchDueAsync(eve, 100, default)));
        // Once per occurrence: the same instant again writes nothing.
        Assert.Equal(0, await WithRemindersAsync(r => r.DispatchDueAsync(eve, 100, default)));
        await Wait.UntilAsync(() => Task.FromResult(_gateway.Accepted.Count >= 2));
        var texts = _gateway.Accepted.Select(a => JsonDocument.Parse(a.Body).RootElement.GetProperty("text").GetString()!).ToList();
        Assert.Contains($"Reminder: Cardiologist, Dr Bernard, on {start.AddDays(1):yyyy-MM-dd} at 14:30. — OpenDMP", texts);
        Assert.Contains($"Reminder: Metformin 500 mg, on {start:yyyy-MM-dd} at 08:00. — OpenDMP", texts);
        // The medication moved to its next occurrence; the one-off appointment is finished.
        var after = await WithRemindersAsync(r => r.ListAsync(me, Channels.Portal, default));
        Assert.Equal(Recurrence.FromLocal(start.AddDays(1).ToDateTime(new TimeOnly(8, 0))), after.Single(x => x.Id == medication.Id).NextOccurrence);
        Assert.Null(after.Single(x => x.Id == appointment.Id).NextNotifyAt);
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(x => x.RecordId == patient.Id && x.Detail == "reminder due")));

        // Deleted: gone from the agenda and the export.
        await WithRemindersAsync(async r => { await r.DeleteAsync(appointment.Id, me, Channels.Portal, default); return 0; });
        Assert.DoesNotContain("Cardiologist", await WithRemindersAsync(r => r.CalendarAsync(me, Channels.Portal, default)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadReminders_AreRefusedWithTheReason_AndProfessionalsCannotReadTheAgenda()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var me = await PatientAsync(patient, "fr");
        var tomorrow = ParisToday().AddDays(1);
        async Task<string> RefusedAsync(ReminderInput input) =>
            (await Assert.ThrowsAsync<DmpException>(() => WithRemindersAsync(r => r.AddAsync(input, me, Channels.Portal, default)))).Message;

        Assert.Contains("in the past", await RefusedAsync(new(ReminderKinds.Appointment, "Dentiste", ParisToday().AddDays(-1), new TimeOnly(9, 0))), StringComparison.Ordinal);
        Assert.Contains("title", await RefusedAsync(new(ReminderKinds.Appointment, " ", tomorrow, new TimeOnly(9, 0))), StringComparison.Ordinal);
        Assert.Contains("kind", await RefusedAsync(new("party", "Fête", tomorrow, new TimeOnly(9, 0))), StringComparison.Ordinal);
        Assert.Contains("28th", await RefusedAsync(new(ReminderKinds.Medication, "Vitamine D", new DateOnly(2027, 1, 31), new TimeOnly(9, 0), Repeats.Monthly)), StringComparison.Ordinal);
        Assert.Contains("minutes before", await RefusedAsync(new(ReminderKinds.Appointment, "Kiné", tomorrow, new TimeOnly(9, 0), LeadMinutes: 7)), StringComparison.Ordinal);
        Assert.Contains("end date", await RefusedAsync(new(ReminderKinds.Appointment, "Kiné", tomorrow, new TimeOnly(9, 0), Until: tomorrow.AddDays(3))), StringComparison.Ordinal);
        Assert.Empty(await WithRemindersAsync(r => r.ListAsync(me, Channels.Portal, default)));

        // The agenda is the patient's: the treating physician cannot read it.
        var doctor = new Actor(ActorKind.Professional, gp.Id, gp.Display);
        var refused = await Assert.ThrowsAsync<DmpException>(() => WithRemindersAsync(r => r.ListAsync(doctor, Channels.Api, default)));
        Assert.Equal(ErrorKind.Forbidden, refused.Kind);
    }

    [Fact]
    public async Task VaccinationSchedule_AddsWhatIsAheadForTheAge_Once()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var me = await PatientAsync(patient, "fr");
        var ahead = await WithRemindersAsync(r => r.ScheduleAheadAsync(me, Channels.Portal, default));
        Assert.NotEmpty(ahead);
        Assert.All(ahead, v => Assert.False(v.Followed));
        Assert.True(ahead.Zip(ahead.Skip(1)).All(p => p.First.Due <= p.Second.Due));
        var added = await WithRemindersAsync(r => r.FollowScheduleAsync(me, Channels.Portal, default));
        Assert.Equal(ahead.Count, added);
        Assert.Equal(0, await WithRemindersAsync(r => r.FollowScheduleAsync(me, Channels.Portal, default)));
        var reminders = await WithRemindersAsync(r => r.ListAsync(me, Channels.Portal, default));
        Assert.All(reminders, x =>
        {
            Assert.Equal(ReminderKinds.Vaccination, x.Kind);
            Assert.StartsWith("schedule:", x.Source, StringComparison.Ordinal);
            Assert.Equal(10080, x.LeadMinutes);
            Assert.Contains("Calendrier des vaccinations 2025", x.Details, StringComparison.Ordinal);
        });
        Assert.All(await WithRemindersAsync(r => r.ScheduleAheadAsync(me, Channels.Portal, default)), v => Assert.True(v.Followed));
    }
}

public sealed class ReminderTests_Sqlite() : ReminderTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ReminderTests_Postgres(PostgresCluster pg) : ReminderTests(new PostgresStorage(pg, "reminders"));
