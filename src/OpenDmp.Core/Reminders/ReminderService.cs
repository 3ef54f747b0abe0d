using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Reminders;

/// <summary>
/// What the patient (or a legal representative) enters for a reminder: a local French date and
/// time, how it repeats and until when, and how long before it the patient wants to be told.
/// </summary>
public sealed record ReminderInput(string Kind, string Title, DateOnly Date, TimeOnly Time, string Repeat = Repeats.None, DateOnly? Until = null, int LeadMinutes = 0, string? Place = null, string? Details = null);

/// <summary>A reminder's occurrence in the agenda.</summary>
public sealed record AgendaItem(Reminder Reminder, DateTimeOffset At);

/// <summary>
/// The patient's agenda and reminders (mission M9): each call decided by the policy (the patient's
/// own space: the patient or a legal representative, never a professional) and audited; due
/// reminders become notifications delivered on the channels the patient chose.
/// </summary>
public sealed class ReminderService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RecordGuard guard, VaccinationSchedule schedule, NotificationSignal signal)
{
    public const int MaxPerRecord = 200;

    /// <summary>How long before an occurrence one may be reminded: at the time, 1 hour, 1 day, 1 week.</summary>
    public static readonly IReadOnlyList<int> Leads = [0, 60, 1440, 10080];

    public VaccinationSchedule Schedule => schedule;

    public async Task<IReadOnlyList<Reminder>> ListAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Read, channel, ct);
        return await db.Reminders.AsNoTracking().Where(x => x.RecordId == recordId).OrderBy(x => x.NextOccurrence ?? x.StartsAt).ToListAsync(ct);
    }

    /// <summary>The occurrences of these reminders from now to <paramref name="days"/> ahead, in order, at most <paramref name="max"/> (no query: from a list already read).</summary>
    public IReadOnlyList<AgendaItem> Upcoming(IEnumerable<Reminder> reminders, int days, int max)
    {
        var now = time.GetUtcNow();
        return reminders.SelectMany(r => Recurrence.Between(r, now, now.AddDays(days), max).Select(at => new AgendaItem(r, at)))
            .OrderBy(x => x.At).Take(max).ToList();
    }

    public async Task<Reminder> AddAsync(ReminderInput input, Actor actor, string channel, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var reminder = Validate(input, now);
        reminder.CreatedBy = actor.Id;
        var recordId = await RequireAsync(actor, AuditAction.Create, channel, ct);
        reminder.RecordId = recordId;
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (await db.Reminders.CountAsync(x => x.RecordId == recordId, ct) >= MaxPerRecord)
        {
            throw new DmpException(ErrorKind.Conflict, $"at most {MaxPerRecord} reminders: delete one first");
        }

        db.Reminders.Add(reminder);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "Reminder", reminder.Id, Detail: reminder.Kind), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return reminder;
    }

    public async Task DeleteAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Delete, channel, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var reminder = await db.Reminders.FirstOrDefaultAsync(x => x.RecordId == recordId && x.Id == id, ct)
            ?? throw new DmpException(ErrorKind.NotFound, "no such reminder");
        db.Reminders.Remove(reminder);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Delete, "success", channel, "Reminder", id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The schedule's vaccinations still ahead for the patient, each with whether it is already in the agenda.</summary>
    public async Task<IReadOnlyList<(ScheduleItem Item, DateTimeOffset Due, bool Followed)>> ScheduleAheadAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Read, channel, ct);
        var birth = await db.Patients.AsNoTracking().Where(p => p.RecordId == recordId).Select(p => p.BirthDate).FirstAsync(ct);
        var followed = (await db.Reminders.AsNoTracking().Where(x => x.RecordId == recordId && x.Source.StartsWith("schedule:")).Select(x => x.Source).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        return schedule.Ahead(birth, time.GetUtcNow()).Select(x => (x.Item, x.Due, followed.Contains("schedule:" + x.Item.Code))).ToList();
    }

    /// <summary>
    /// Adds the schedule's vaccinations still ahead to the agenda (those not there yet), titled in the
    /// language of the patient's messages, reminded a week before; returns how many were added.
    /// </summary>
    public async Task<int> FollowScheduleAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Create, channel, ct);
        var now = time.GetUtcNow();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var birth = await db.Patients.AsNoTracking().Where(p => p.RecordId == recordId).Select(p => p.BirthDate).FirstAsync(ct);
        var english = await db.PatientAccounts.AsNoTracking().AnyAsync(a => a.RecordId == recordId && a.Language == "en", ct);
        var followed = (await db.Reminders.AsNoTracking().Where(x => x.RecordId == recordId && x.Source.StartsWith("schedule:")).Select(x => x.Source).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        var count = await db.Reminders.CountAsync(x => x.RecordId == recordId, ct);
        var added = 0;
        foreach (var (item, due) in schedule.Ahead(birth, now))
        {
            if (followed.Contains("schedule:" + item.Code) || count + added >= MaxPerRecord)
            {
                continue;
            }

            var reminder = new Reminder
            {
                RecordId = recordId,
                Id = Ids.New(),
                Kind = ReminderKinds.Vaccination,
                Title = item.Label(english),
                Details = english
                    ? $"French vaccination schedule {schedule.Version}: check with your physician, midwife or pharmacist."
                    : $"Calendrier des vaccinations {schedule.Version} : à vérifier avec votre médecin, votre sage-femme ou votre pharmacien.",
                StartsAt = due,
                Repeat = item.RepeatYears is null ? Repeats.None : Repeats.Yearly,
                Interval = item.RepeatYears ?? 1,
                LeadMinutes = 10080,
                Source = "schedule:" + item.Code,
                CreatedBy = actor.Id,
                CreatedAt = now,
            };
            PlanNext(reminder, now);
            db.Reminders.Add(reminder);
            added++;
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "Reminder", null, Detail: $"vaccination schedule {schedule.Version}: {added} added"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return added;
    }

    /// <summary>The agenda as an iCalendar file (RFC 5545).</summary>
    public async Task<string> CalendarAsync(Actor actor, string channel, CancellationToken ct) =>
        ICalendar.Write(await ListAsync(actor, channel, ct), time.GetUtcNow());

    /// <summary>
    /// The reminders due at <paramref name="now"/> (the job's clock) become notifications, each in
    /// its record's transaction and trail; each reminder moves to its next occurrence (occurrences
    /// missed while the job was stopped are not all sent: the next one to come is). Returns how
    /// many notifications were written.
    /// </summary>
    public async Task<int> DispatchDueAsync(DateTimeOffset now, int batchSize, CancellationToken ct)
    {
        var due = await db.Reminders.AsNoTracking().Where(x => x.NextNotifyAt != null && x.NextNotifyAt <= now)
            .OrderBy(x => x.NextNotifyAt).Take(batchSize).Select(x => new { x.RecordId, x.Id }).ToListAsync(ct);
        var written = 0;
        foreach (var d in due)
        {
            db.ChangeTracker.Clear();
            await using var scope = await gate.EnterAsync(db, d.RecordId, ct);
            var r = await db.Reminders.FirstOrDefaultAsync(x => x.RecordId == d.RecordId && x.Id == d.Id, ct);
            if (r?.NextOccurrence is not { } occurrence || r.NextNotifyAt > now)
            {
                continue;
            }

            var notification = new PatientNotification
            {
                RecordId = r.RecordId,
                Id = Ids.New(),
                Kind = NotificationEvents.Reminder,
                DedupKey = $"reminder:{r.Id}:{occurrence.UtcTicks}",
                Text = r.Title,
                DueAt = occurrence,
                CreatedAt = now,
                Status = NotificationStatus.Pending,
            };
            if (await NotificationOutbox.AddOnceAsync(db, notification, ct))
            {
                await audit.AppendAsync(db, new AuditItem(r.RecordId, Actor.Operator, AuditAction.Create, "success", Channels.Messaging, "Communication", notification.Id, Detail: "reminder due"), ct);
                written++;
            }

            var lead = TimeSpan.FromMinutes(r.LeadMinutes);
            var after = occurrence.AddSeconds(1);
            var next = Recurrence.NextFrom(r, after > now + lead ? after : now + lead + TimeSpan.FromSeconds(1));
            r.NextOccurrence = next;
            r.NextNotifyAt = next - lead;
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        if (written > 0)
        {
            signal.Wake();
        }

        return written;
    }

    /// <summary>Checks what the person entered; a clear message names the field at fault.</summary>
    public static Reminder Validate(ReminderInput input, DateTimeOffset now)
    {
        if (!ReminderKinds.All.Contains(input.Kind))
        {
            throw DmpException.Invalid($"the kind of reminder is one of {string.Join(", ", ReminderKinds.All)}, got '{input.Kind}'", "kind");
        }

        var title = input.Title?.Trim() ?? string.Empty;
        if (title.Length is 0 or > 120 || title.Any(char.IsControl))
        {
            throw DmpException.Invalid("a reminder needs a title of 1 to 120 characters on one line", "title");
        }

        if (!Repeats.All.Contains(input.Repeat))
        {
            throw DmpException.Invalid($"repeat is one of {string.Join(", ", Repeats.All)}, got '{input.Repeat}'", "repeat");
        }

        // The file export and the agenda agree on every date: no monthly reminder on the 29th to 31st, no yearly one on 29 February.
        if ((input.Repeat == Repeats.Monthly && input.Date.Day > 28) || (input.Repeat == Repeats.Yearly && input.Date is { Month: 2, Day: 29 }))
        {
            throw DmpException.Invalid("a monthly reminder falls on the 1st to the 28th, a yearly one not on 29 February", "date");
        }

        if (!Leads.Contains(input.LeadMinutes))
        {
            throw DmpException.Invalid($"the reminder comes {string.Join(", ", Leads)} minutes before, got {input.LeadMinutes}", "lead");
        }

        var place = Optional(input.Place, 200, "place");
        var details = Optional(input.Details, 500, "details");
        var reminder = new Reminder
        {
            RecordId = string.Empty,
            Id = Ids.New(),
            Kind = input.Kind,
            Title = title,
            Place = place,
            Details = details,
            StartsAt = Recurrence.FromLocal(input.Date.ToDateTime(input.Time)),
            Repeat = input.Repeat,
            LeadMinutes = input.LeadMinutes,
            Source = "patient",
            CreatedBy = string.Empty,
            CreatedAt = now,
        };
        if (input.Until is { } until)
        {
            if (input.Repeat == Repeats.None || until < input.Date)
            {
                throw DmpException.Invalid("an end date belongs to a repeated reminder and comes after its first date", "until");
            }

            reminder.Until = Recurrence.FromLocal(until.ToDateTime(new TimeOnly(23, 59, 59)));
        }

        PlanNext(reminder, now);
        if (reminder.NextOccurrence is null)
        {
            throw DmpException.Invalid("the reminder's date is in the past", "date");
        }

        return reminder;
    }

    private static void PlanNext(Reminder r, DateTimeOffset now)
    {
        var lead = TimeSpan.FromMinutes(r.LeadMinutes);
        // The first occurrence still to come; one whose reminder time has passed is reminded at once.
        r.NextOccurrence = Recurrence.NextFrom(r, now);
        r.NextNotifyAt = r.NextOccurrence - lead;
    }

    private static string? Optional(string? value, int max, string field)
    {
        var v = value?.Trim();
        if (string.IsNullOrEmpty(v))
        {
            return null;
        }

        if (v.Length > max)
        {
            throw DmpException.Invalid($"{field} is at most {max} characters", field);
        }

        return v;
    }

    private async Task<string> RequireAsync(Actor actor, AuditAction verb, string channel, CancellationToken ct)
    {
        var recordId = actor.OwnRecordId ?? throw new DmpException(ErrorKind.Forbidden, "only the patient or a legal representative keeps the patient's agenda");
        var facts = await guard.RequireFactsAsync(recordId, actor, verb, "Reminder", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), verb, "Reminder", null, channel, auditPermit: verb == AuditAction.Read, ct);
        return recordId;
    }
}
