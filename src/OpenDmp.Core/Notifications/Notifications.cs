using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Notifications;

/// <summary>
/// A notification for the patient, written to a database outbox in the same unit of work as the
/// access that caused it. Delivery by e-mail or SMS comes later; the patient API lists them.
/// The text names who accessed and how, never health data.
/// </summary>
public sealed class PatientNotification
{
    public required string RecordId { get; set; }
    public required string Id { get; set; }
    /// <summary>emergency-access, first-access.</summary>
    public required string Kind { get; set; }
    /// <summary>One notification per event: "emergency:{grant}", "first:{professional}".</summary>
    public required string DedupKey { get; set; }
    /// <summary>
    /// The French text as written when the notification was created (kept for notifications older
    /// than <see cref="ActorDisplay"/>); readers render the event in the reader's language from
    /// Kind, ActorDisplay and Mode.
    /// </summary>
    public required string Text { get; set; }
    /// <summary>Who accessed, as the directory names them.</summary>
    public string? ActorDisplay { get; set; }
    /// <summary>The access mode (alleged, treating-physician, care-team, break-glass, centre-15…).</summary>
    public string? Mode { get; set; }
    public string? ProfessionalId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>pending (not yet delivered), sent.</summary>
    public required string Status { get; set; }
}

/// <summary>Adds notifications to the outbox, once per event.</summary>
public static class NotificationOutbox
{
    /// <summary>Adds the notification to the unit of work unless the same event was already notified.</summary>
    public static async Task<bool> AddOnceAsync(DmpDbContext db, PatientNotification n, CancellationToken ct)
    {
        if (db.ChangeTracker.Entries<PatientNotification>().Any(x => x.Entity.RecordId == n.RecordId && x.Entity.DedupKey == n.DedupKey)
            || await db.Notifications.AnyAsync(x => x.RecordId == n.RecordId && x.DedupKey == n.DedupKey, ct))
        {
            return false;
        }

        db.Notifications.Add(n);
        return true;
    }
}
