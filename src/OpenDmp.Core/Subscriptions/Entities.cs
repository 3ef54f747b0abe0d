namespace OpenDmp.Core.Subscriptions;

/// <summary>
/// A professional's FHIR Subscription (R4 Subscriptions Backport, topic-based, rest-hook, id-only):
/// what it listens to, where it is delivered and how far delivery has gone. Not patient data: it
/// names a professional, an endpoint and at most one record to filter on.
/// </summary>
public sealed class FhirSubscription
{
    public required string Id { get; set; }
    /// <summary>The professional who created it; only they see it, and only what they may read reaches it.</summary>
    public required string OwnerId { get; set; }
    /// <summary>One of <see cref="SubscriptionTopics"/>' canonicals.</summary>
    public required string Topic { get; set; }
    /// <summary>The record a new-document subscription is limited to (filter patient=…), or null for every record the owner may read.</summary>
    public string? RecordFilter { get; set; }
    public required string Endpoint { get; set; }
    /// <summary>The HMAC-SHA256 key of the signature header, given to the owner once, on creation.</summary>
    public required byte[] Secret { get; set; }
    /// <summary>requested (waiting for the handshake), active, error (delivery failing for too long), off.</summary>
    public required string Status { get; set; }
    /// <summary>Why the software subscribes (Subscription.reason, as sent; at most 500 characters).</summary>
    public string? Reason { get; set; }
    /// <summary>Events numbered so far (events-since-subscription-start).</summary>
    public long EventCount { get; set; }
    /// <summary>The last event number the endpoint acknowledged (2xx).</summary>
    public long DeliveredThrough { get; set; }
    /// <summary>Consecutive failed deliveries (reset by a success).</summary>
    public int Attempts { get; set; }
    public DateTimeOffset? NextAttemptAt { get; set; }
    public string? LastError { get; set; }
    /// <summary>When the current run of failures began (null while deliveries succeed).</summary>
    public DateTimeOffset? FailingSince { get; set; }
    /// <summary>Events per notification (backport-max-count), 1…100.</summary>
    public int MaxCount { get; set; } = 20;
    /// <summary>Seconds the endpoint has to answer (backport-timeout), 1…60.</summary>
    public int TimeoutSeconds { get; set; } = 10;
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? End { get; set; }
}

/// <summary>One numbered event of a subscription: which resource it is about, as an id only.</summary>
public sealed class SubscriptionEvent
{
    public required string SubscriptionId { get; set; }
    public long Number { get; set; }
    /// <summary>The focus as a relative reference (DocumentReference/…, Communication/…, MedicationDispense/…).</summary>
    public required string Focus { get; set; }
    public required string RecordId { get; set; }
    /// <summary>The record event it comes from (one subscription event per record event and subscription).</summary>
    public required string SourceId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
