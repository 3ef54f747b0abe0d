using System.Globalization;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Subscriptions;

/// <summary>The topics a professional may subscribe to (Subscription.criteria holds one of these canonicals).</summary>
public static class SubscriptionTopics
{
    /// <summary>A document was filed in a record the subscriber may read (optionally one patient: filter patient=…).</summary>
    public const string NewDocument = "urn:opendmp:topic:new-document";
    /// <summary>An alert for the subscriber (emergency admission, result needing attention): focus Communication/….</summary>
    public const string Alert = "urn:opendmp:topic:alert";
    /// <summary>A prescription the subscriber wrote was dispensed: focus MedicationDispense/….</summary>
    public const string PrescriptionExecuted = "urn:opendmp:topic:prescription-executed";

    public static IReadOnlyList<string> All { get; } = [NewDocument, Alert, PrescriptionExecuted];
}

/// <summary>Configuration section "Subscriptions".</summary>
public sealed class SubscriptionOptions
{
    /// <summary>Seconds between two delivery rounds (0 disables delivery; events still accumulate for $events).</summary>
    public double DeliverySeconds { get; set; } = 1;

    /// <summary>
    /// Seconds for which an instance trusts its knowledge of which topics have subscriptions (the
    /// write path adds events only for those). A new subscription is activated (handshake) only after
    /// this delay, so that every instance files events for it from its activation on.
    /// </summary>
    public double RefreshSeconds { get; set; } = 5;

    /// <summary>Longest wait between two delivery attempts (the backoff doubles from 1 second up to this).</summary>
    public double MaxBackoffSeconds { get; set; } = 600;

    /// <summary>Hours of failed deliveries after which a subscription is set to error (its events stay readable with $events).</summary>
    public double ErrorAfterHours { get; set; } = 24;

    /// <summary>Accept http:// endpoints on loopback (tests and local integration only; endpoints are https otherwise).</summary>
    public bool AllowHttpLoopback { get; set; }

    /// <summary>Days an event stays readable with $events (delivered or not); older ones are deleted by the sender.</summary>
    public double EventRetentionDays { get; set; } = 30;

    /// <summary>Subscriptions one professional may hold.</summary>
    public int MaxPerProfessional { get; set; } = 20;

    public IEnumerable<string> Problems()
    {
        string F(double v) => v.ToString(CultureInfo.InvariantCulture);
        if (DeliverySeconds < 0)
        {
            yield return $"Subscriptions:DeliverySeconds: must be 0 (disabled) or more, got {F(DeliverySeconds)}";
        }

        if (RefreshSeconds is <= 0 or > 300)
        {
            yield return $"Subscriptions:RefreshSeconds: must be more than 0 and at most 300, got {F(RefreshSeconds)}";
        }

        if (MaxBackoffSeconds < 1)
        {
            yield return $"Subscriptions:MaxBackoffSeconds: must be at least 1, got {F(MaxBackoffSeconds)}";
        }

        if (ErrorAfterHours <= 0)
        {
            yield return $"Subscriptions:ErrorAfterHours: must be more than 0, got {F(ErrorAfterHours)}";
        }

        if (EventRetentionDays <= 0)
        {
            yield return $"Subscriptions:EventRetentionDays: must be more than 0, got {F(EventRetentionDays)}";
        }

        if (MaxPerProfessional < 1)
        {
            yield return $"Subscriptions:MaxPerProfessional: must be at least 1, got {MaxPerProfessional}";
        }
    }
}

/// <summary>
/// Which topics have at least one live subscription, as this instance knows it (refreshed at most
/// every <see cref="SubscriptionOptions.RefreshSeconds"/>): a filing writes a new-document or
/// dispensing event only when someone may want it, so a platform without subscriptions pays nothing.
/// </summary>
public sealed class SubscriptionRegistry(SubscriptionOptions options, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile Snapshot? _snapshot;

    private sealed record Snapshot(HashSet<string> Topics, DateTimeOffset StartedAt);

    /// <summary>The topics that have at least one live subscription.</summary>
    public async ValueTask<IReadOnlySet<string>> WantedAsync(DmpDbContext db, CancellationToken ct)
    {
        var s = _snapshot;
        if (s is null || time.GetUtcNow() - s.StartedAt > TimeSpan.FromSeconds(options.RefreshSeconds))
        {
            s = await RefreshAsync(db, s, ct);
        }

        return s.Topics;
    }

    /// <summary>Forgets what this instance knows (a subscription was created or ended here).</summary>
    public void Invalidate() => _snapshot = null;

    private async Task<Snapshot> RefreshAsync(DmpDbContext db, Snapshot? seen, CancellationToken ct)
    {
        await _refresh.WaitAsync(ct);
        try
        {
            if (_snapshot is { } current && !ReferenceEquals(current, seen))
            {
                return current; // another request refreshed meanwhile
            }

            // The time the query starts: what it reads includes every subscription committed before.
            var started = time.GetUtcNow();
            var topics = await db.Subscriptions.AsNoTracking().Where(x => x.Status == "requested" || x.Status == "active").Select(x => x.Topic).Distinct().ToListAsync(ct);
            var fresh = new Snapshot(topics.ToHashSet(StringComparer.Ordinal), started);
            _snapshot = fresh;
            return fresh;
        }
        finally
        {
            _refresh.Release();
        }
    }

    public void Dispose() => _refresh.Dispose();
}

/// <summary>Wakes the delivery service as soon as the dispatcher wrote subscription events.</summary>
public sealed class SubscriptionSignal : OpenDmp.Core.Common.WakeSignal;
