using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Subscriptions;

/// <summary>What one delivery attempt sends: the subscription and, unless it is a handshake, its next events.</summary>
public sealed record DeliveryWork(FhirSubscription Subscription, IReadOnlyList<SubscriptionEvent> Events, bool Handshake);

/// <summary>
/// The delivery state of subscriptions (the sender is the server's delivery service): what is due,
/// and what an attempt changed. At least once: events stay until the endpoint acknowledges them with
/// a 2xx, a failure is retried with a doubling backoff, and after <see cref="SubscriptionOptions.ErrorAfterHours"/>
/// of failures the subscription is set to error (its events stay readable with $events).
/// </summary>
public sealed class SubscriptionDelivery(DmpDbContext db, WriteGate gate, TimeProvider time, SubscriptionOptions options)
{
    /// <summary>The subscriptions with something to send now, and what.</summary>
    public async Task<List<DeliveryWork>> DueAsync(int max, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // A new subscription waits until every instance knows its topic is wanted (RefreshSeconds).
        var handshakeBefore = now - TimeSpan.FromSeconds(options.RefreshSeconds + 1);
        var due = await db.Subscriptions.AsNoTracking()
            .Where(s => (s.NextAttemptAt == null || s.NextAttemptAt <= now)
                && ((s.Status == "requested" && s.CreatedAt <= handshakeBefore) || (s.Status == "active" && s.EventCount > s.DeliveredThrough)))
            .OrderBy(s => s.NextAttemptAt).Take(max).ToListAsync(ct);
        var work = new List<DeliveryWork>(due.Count);
        foreach (var s in due)
        {
            if (s.Status == "requested")
            {
                work.Add(new DeliveryWork(s, [], Handshake: true));
                continue;
            }

            var events = await db.SubscriptionEvents.AsNoTracking()
                .Where(e => e.SubscriptionId == s.Id && e.Number > s.DeliveredThrough)
                .OrderBy(e => e.Number).Take(s.MaxCount).ToListAsync(ct);
            work.Add(new DeliveryWork(s, events, Handshake: false));
        }

        return work;
    }

    /// <summary>Deletes events older than the retention (ids only, kept for $events); run every few minutes, each run deletes what aged meanwhile.</summary>
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var before = time.GetUtcNow() - TimeSpan.FromDays(options.EventRetentionDays);
        await using var scope = await gate.EnterBookkeepingAsync(db, ct);
        var deleted = await db.SubscriptionEvents.Where(e => e.CreatedAt < before).ExecuteDeleteAsync(ct);
        await scope.CommitAsync(ct);
        return deleted;
    }

    /// <summary>The endpoint acknowledged: a handshake activates, a notification moves the delivered mark.</summary>
    public async Task SucceededAsync(DeliveryWork work, CancellationToken ct)
    {
        var id = work.Subscription.Id;
        await using var scope = await gate.EnterBookkeepingAsync(db, ct);
        if (work.Handshake)
        {
            await db.Subscriptions.Where(s => s.Id == id && s.Status == "requested").ExecuteUpdateAsync(u => u
                .SetProperty(s => s.Status, "active").SetProperty(s => s.Attempts, 0).SetProperty(s => s.NextAttemptAt, (DateTimeOffset?)null)
                .SetProperty(s => s.LastError, (string?)null).SetProperty(s => s.FailingSince, (DateTimeOffset?)null), ct);
            await scope.CommitAsync(ct);
            return;
        }

        var through = work.Events[^1].Number;
        await db.Subscriptions.Where(s => s.Id == id && s.DeliveredThrough < through).ExecuteUpdateAsync(u => u
            .SetProperty(s => s.DeliveredThrough, through).SetProperty(s => s.Attempts, 0).SetProperty(s => s.NextAttemptAt, (DateTimeOffset?)null)
            .SetProperty(s => s.LastError, (string?)null).SetProperty(s => s.FailingSince, (DateTimeOffset?)null), ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The attempt failed: retry after 1, 2, 4 … seconds (up to MaxBackoffSeconds); in error after ErrorAfterHours of failures.</summary>
    public async Task FailedAsync(DeliveryWork work, string error, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var s = work.Subscription;
        var attempts = s.Attempts + 1;
        var wait = TimeSpan.FromSeconds(Math.Min(options.MaxBackoffSeconds, Math.Pow(2, Math.Min(attempts - 1, 30))));
        var since = s.FailingSince ?? now;
        var status = now - since > TimeSpan.FromHours(options.ErrorAfterHours) ? "error" : s.Status;
        await using var scope = await gate.EnterBookkeepingAsync(db, ct);
        await db.Subscriptions.Where(x => x.Id == s.Id && x.Status == s.Status).ExecuteUpdateAsync(u => u
            .SetProperty(x => x.Attempts, attempts).SetProperty(x => x.NextAttemptAt, now + wait)
            .SetProperty(x => x.LastError, error.Length > 300 ? error[..300] : error)
            .SetProperty(x => x.FailingSince, since).SetProperty(x => x.Status, status), ct);
        await scope.CommitAsync(ct);
    }
}
