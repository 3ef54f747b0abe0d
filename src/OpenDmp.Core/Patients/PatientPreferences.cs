using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Patients;

/// <summary>A view of the documents list saved by the patient or a legal representative (a name and the list's filters).</summary>
public sealed class SavedView
{
    public required string Id { get; set; }
    public required string RecordId { get; set; }
    /// <summary>Who saved it: the record id for the patient, the representative's id otherwise (each sees their own views).</summary>
    public required string OwnerId { get; set; }
    public required string Name { get; set; }
    /// <summary>The filters as a query string of the documents page (q, type, ordre, vue).</summary>
    public required string Query { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// How the patient wants to be told: the e-mail address, the mobile number, the language of the
/// messages (fr or en), and the chosen (event, channel) pairs as "event:channel" (e.g.
/// "new-document:sms"). An emergency access is always e-mailed.
/// </summary>
public sealed record NotificationSettings(string? Email, string? Phone, string Language, IReadOnlySet<string> Choices)
{
    public static string Key(string @event, string channel) => @event + ":" + channel;

    public bool Chosen(string @event, string channel) => NotificationEvents.Mandatory(@event, channel) || Choices.Contains(Key(@event, channel));
}

/// <summary>
/// The patient's own preferences in the patient space: saved views of the documents list and the
/// notification settings. Each call is decided by the policy (ManageConsent: the patient's own
/// settings) and audited.
/// </summary>
public sealed class PatientPreferences(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RecordGuard guard)
{
    /// <summary>The filters a saved view may hold (those of the documents page).</summary>
    public static readonly IReadOnlySet<string> ViewKeys = new HashSet<string>(StringComparer.Ordinal) { "q", "type", "ordre", "vue" };

    public async Task<IReadOnlyList<SavedView>> ViewsAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Read, "SavedView", auditPermit: false, channel, ct);
        return await db.SavedViews.AsNoTracking().Where(x => x.RecordId == recordId && x.OwnerId == actor.Id).OrderBy(x => x.Name).ToListAsync(ct);
    }

    public async Task<SavedView> SaveViewAsync(string name, IReadOnlyDictionary<string, string?> filters, Actor actor, string channel, CancellationToken ct)
    {
        name = name?.Trim() ?? string.Empty;
        if (name.Length is 0 or > 80)
        {
            throw DmpException.Invalid("a saved view needs a name of 1 to 80 characters", "name");
        }

        var unknown = filters.Keys.FirstOrDefault(k => !ViewKeys.Contains(k));
        if (unknown is not null)
        {
            throw DmpException.Invalid($"'{unknown}' is not a filter of the documents list ({string.Join(", ", ViewKeys)})", unknown);
        }

        var query = string.Join('&', filters.Where(f => !string.IsNullOrEmpty(f.Value)).OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => Uri.EscapeDataString(f.Key) + "=" + Uri.EscapeDataString(f.Value!)));
        if (query.Length > 1000)
        {
            throw DmpException.Invalid("the view's filters are too long", "q");
        }

        var recordId = await RequireAsync(actor, AuditAction.Update, "SavedView", auditPermit: false, channel, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (await db.SavedViews.CountAsync(x => x.RecordId == recordId && x.OwnerId == actor.Id, ct) >= 50)
        {
            throw new DmpException(ErrorKind.Conflict, "at most 50 saved views: delete one first");
        }

        var existing = await db.SavedViews.FirstOrDefaultAsync(x => x.RecordId == recordId && x.OwnerId == actor.Id && x.Name == name, ct);
        if (existing is null)
        {
            existing = new SavedView { Id = Ids.New(), RecordId = recordId, OwnerId = actor.Id, Name = name, Query = query, CreatedAt = time.GetUtcNow() };
            db.SavedViews.Add(existing);
        }
        else
        {
            existing.Query = query;
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Update, "success", channel, "SavedView", existing.Id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return existing;
    }

    public async Task DeleteViewAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Delete, "SavedView", auditPermit: false, channel, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var view = await db.SavedViews.FirstOrDefaultAsync(x => x.RecordId == recordId && x.OwnerId == actor.Id && x.Id == id, ct)
            ?? throw new DmpException(ErrorKind.NotFound, "no such saved view");
        db.SavedViews.Remove(view);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Delete, "success", channel, "SavedView", id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The patient's notification settings (the patient's account; a representative is not notified).</summary>
    public async Task<NotificationSettings> NotificationSettingsAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireAsync(actor, AuditAction.Read, "NotificationSettings", auditPermit: false, channel, ct);
        var account = await db.PatientAccounts.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == recordId, ct)
            ?? throw new DmpException(ErrorKind.NotFound, "this patient has no account");
        var choices = await db.NotificationChoices.AsNoTracking().Where(x => x.RecordId == recordId).Select(x => new { x.Event, x.Channel }).ToListAsync(ct);
        return new NotificationSettings(account.Email, account.Phone, account.Language,
            choices.Select(x => NotificationSettings.Key(x.Event, x.Channel)).ToHashSet(StringComparer.Ordinal));
    }

    public async Task SetNotificationSettingsAsync(NotificationSettings settings, Actor actor, string channel, CancellationToken ct)
    {
        if (actor.Kind != ActorKind.Patient)
        {
            throw new DmpException(ErrorKind.Forbidden, "only the patient changes where the patient's notifications go");
        }

        var email = EmailAddress.Optional(settings.Email, "email");
        var phone = PhoneNumber.Optional(settings.Phone, "phone");
        if (settings.Language is not ("fr" or "en"))
        {
            throw DmpException.Invalid($"the language of the messages is fr or en, got '{settings.Language}'", "language");
        }

        var chosen = new List<NotificationChoice>();
        foreach (var key in settings.Choices.Order(StringComparer.Ordinal))
        {
            var parts = key.Split(':');
            if (parts.Length != 2 || !NotificationEvents.All.Contains(parts[0]) || !NotificationEvents.Channels.Contains(parts[1]))
            {
                throw DmpException.Invalid($"'{key}' is not a notification choice (event:channel, events {string.Join(", ", NotificationEvents.All)}, channels {string.Join(", ", NotificationEvents.Channels)})", "choices");
            }

            if (!NotificationEvents.Mandatory(parts[0], parts[1]))
            {
                chosen.Add(new NotificationChoice { RecordId = string.Empty, Event = parts[0], Channel = parts[1] });
            }
        }

        if (phone is null && chosen.Any(c => c.Channel == NotificationEvents.Sms))
        {
            throw DmpException.Invalid("SMS notifications need a mobile phone number", "phone");
        }

        var recordId = await RequireAsync(actor, AuditAction.Update, "NotificationSettings", auditPermit: false, channel, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var account = await db.PatientAccounts.FirstOrDefaultAsync(x => x.RecordId == recordId, ct)
            ?? throw new DmpException(ErrorKind.NotFound, "this patient has no account");
        account.Email = email;
        account.Phone = phone;
        account.Language = settings.Language;
        await db.NotificationChoices.Where(x => x.RecordId == recordId).ExecuteDeleteAsync(ct);
        foreach (var c in chosen)
        {
            c.RecordId = recordId;
            db.NotificationChoices.Add(c);
        }

        // The audit detail names the choices (events and channels), never the address or the number.
        var detail = chosen.Count == 0 ? "no optional notification" : string.Join(", ", chosen.Select(c => NotificationSettings.Key(c.Event, c.Channel)));
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Update, "success", channel, "NotificationSettings", null, Detail: detail), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    private async Task<string> RequireAsync(Actor actor, AuditAction verb, string objectType, bool auditPermit, string channel, CancellationToken ct)
    {
        var recordId = actor.OwnRecordId ?? throw new DmpException(ErrorKind.Forbidden, "only the patient or a legal representative has preferences here");
        var facts = await guard.RequireFactsAsync(recordId, actor, verb, objectType, channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), verb, objectType, null, channel, auditPermit, ct);
        return recordId;
    }
}
