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
    /// <summary>For a reminder: when the reminded event takes place.</summary>
    public DateTimeOffset? DueAt { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>E-mail delivery: pending (not yet delivered), sent, not-emailed (the patient did not choose it).</summary>
    public required string Status { get; set; }
    /// <summary>SMS delivery: pending, sent, not-chosen (not chosen or no number), expired (too old to be useful by SMS).</summary>
    public string SmsStatus { get; set; } = NotificationStatus.Pending;
}

/// <summary>Wakes the SMS sender when notifications were added (it also looks every few seconds).</summary>
public sealed class NotificationSignal : OpenDmp.Core.Common.WakeSignal;

/// <summary>The delivery states of a notification on one channel.</summary>
public static class NotificationStatus
{
    public const string Pending = "pending";
    public const string Sent = "sent";
    public const string NotEmailed = "not-emailed";
    public const string NotChosen = "not-chosen";
    public const string Expired = "expired";
}

/// <summary>What the patient may be told of, and how.</summary>
public static class NotificationEvents
{
    public const string FirstAccess = "first-access";
    public const string EmergencyAccess = "emergency-access";
    public const string NewDocument = "new-document";
    public const string Reminder = "reminder";
    /// <summary>Identity vigilance merged a duplicate identity with the patient's (or undid it): always e-mailed when there is an address.</summary>
    public const string IdentityMerge = "identity-merge";
    public const string IdentityUnmerge = "identity-unmerge";

    public const string Email = "email";
    public const string Sms = "sms";

    public static readonly IReadOnlyList<string> All = [EmergencyAccess, FirstAccess, NewDocument, Reminder];
    public static readonly IReadOnlyList<string> Channels = [Email, Sms];

    /// <summary>An emergency access, or a merge of identities, is always e-mailed when the patient has an address (the patient is told of every one).</summary>
    public static bool Mandatory(string kind, string channel) => (kind is EmergencyAccess or IdentityMerge or IdentityUnmerge) && channel == Email;

    /// <summary>What a new account starts with: first accesses and reminders by e-mail.</summary>
    public static readonly IReadOnlyList<(string Event, string Channel)> Defaults = [(FirstAccess, Email), (Reminder, Email)];
}

/// <summary>One (event, channel) pair the patient chose: e.g. new documents by SMS. Absent means not chosen.</summary>
public sealed class NotificationChoice
{
    public required string RecordId { get; set; }
    public required string Event { get; set; }
    public required string Channel { get; set; }
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
