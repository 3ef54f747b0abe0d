using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Notifications;

/// <summary>A notification to send on one channel: to this address or number, in this language (fr or en).</summary>
public sealed record NotificationWork(PatientNotification Notification, string To, string Language);

/// <summary>
/// The patients' notification outbox, per channel (e-mail, SMS): which pending notifications go
/// out, settled by the patient's choices at delivery time, and their delivery recorded in the
/// record's trail. The senders (e-mail, SMS gateway) only format and transmit.
/// </summary>
public sealed class NotificationDelivery(DmpDbContext db, RecordGuard guard, WriteGate gate, TimeProvider time)
{
    /// <summary>
    /// The oldest pending notifications on <paramref name="channel"/>, up to <paramref name="batchSize"/>:
    /// those the patient did not choose on that channel, or with no address (number) to send to, are
    /// settled as not sent; those older than <paramref name="maxAge"/> expire; the rest are returned,
    /// oldest first.
    /// </summary>
    public async Task<List<NotificationWork>> DueAsync(string channel, int batchSize, TimeSpan? maxAge, CancellationToken ct)
    {
        var sms = channel == NotificationEvents.Sms;
        var pending = sms ? db.Notifications.Where(n => n.SmsStatus == NotificationStatus.Pending) : db.Notifications.Where(n => n.Status == NotificationStatus.Pending);
        var batch = await pending.AsNoTracking().OrderBy(n => n.CreatedAt).Take(batchSize).ToListAsync(ct);
        if (batch.Count == 0)
        {
            return [];
        }

        var recordIds = batch.Select(n => n.RecordId).Distinct().ToList();
        var accounts = (await db.PatientAccounts.AsNoTracking().Where(a => recordIds.Contains(a.RecordId))
            .Select(a => new { a.RecordId, To = sms ? a.Phone : a.Email, a.Language }).ToListAsync(ct))
            .Where(a => a.To is not null).ToDictionary(a => a.RecordId, StringComparer.Ordinal);
        var chosen = (await db.NotificationChoices.AsNoTracking().Where(c => recordIds.Contains(c.RecordId) && c.Channel == channel)
            .Select(c => new { c.RecordId, c.Event }).ToListAsync(ct)).Select(c => (c.RecordId, c.Event)).ToHashSet();
        var oldest = maxAge is { } age ? time.GetUtcNow() - age : DateTimeOffset.MinValue;
        var due = new List<NotificationWork>();
        var settled = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var n in batch)
        {
            string? outcome = null;
            if (!accounts.TryGetValue(n.RecordId, out var account)
                || !(NotificationEvents.Mandatory(n.Kind, channel) || chosen.Contains((n.RecordId, n.Kind))))
            {
                outcome = sms ? NotificationStatus.NotChosen : NotificationStatus.NotEmailed;
            }
            else if (n.CreatedAt < oldest)
            {
                outcome = NotificationStatus.Expired;
            }

            if (outcome is null)
            {
                due.Add(new NotificationWork(n, account!.To!, account.Language));
            }
            else
            {
                (settled.TryGetValue(outcome, out var ids) ? ids : settled[outcome] = []).Add(n.Id);
            }
        }

        foreach (var (outcome, ids) in settled)
        {
            await SetAsync(db.Notifications.Where(x => recordIds.Contains(x.RecordId) && ids.Contains(x.Id)), sms, outcome, ct);
        }

        return due;
    }

    /// <summary>How many notifications wait on a channel (for the backlog metric).</summary>
    public Task<int> BacklogAsync(string channel, CancellationToken ct) => channel == NotificationEvents.Sms
        ? db.Notifications.CountAsync(n => n.SmsStatus == NotificationStatus.Pending, ct)
        : db.Notifications.CountAsync(n => n.Status == NotificationStatus.Pending, ct);

    /// <summary>Records that the channel's server accepted the notification, in the record's trail too (it fulfils a permit's obligation).</summary>
    public async Task SentAsync(PatientNotification n, string channel, CancellationToken ct)
    {
        var sms = channel == NotificationEvents.Sms;
        await SetAsync(db.Notifications.Where(x => x.RecordId == n.RecordId && x.Id == n.Id), sms, NotificationStatus.Sent, ct);
        await guard.AuditAsync(new AuditItem(n.RecordId, Actor.Operator, AuditAction.Notify, "success", Channels.Messaging, "Communication", n.Id, Detail: sms ? "sent by SMS" : "sent by e-mail"), ct);
    }

    /// <summary>A delivery mark: bookkeeping, under SQLite's single writer (see <see cref="WriteGate.EnterBookkeepingAsync"/>).</summary>
    private async Task SetAsync(IQueryable<PatientNotification> rows, bool sms, string outcome, CancellationToken ct)
    {
        await using var scope = await gate.EnterBookkeepingAsync(db, ct);
        if (sms)
        {
            await rows.ExecuteUpdateAsync(u => u.SetProperty(x => x.SmsStatus, outcome), ct);
        }
        else
        {
            await rows.ExecuteUpdateAsync(u => u.SetProperty(x => x.Status, outcome), ct);
        }

        await scope.CommitAsync(ct);
    }
}
