using System.Security.Cryptography;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Core.Subscriptions;

/// <summary>
/// FHIR Subscriptions for practice software (R4 Subscriptions Backport IG, topic-based, rest-hook,
/// id-only): a professional subscribes to a topic (<see cref="SubscriptionTopics"/>) for what they may
/// read, and is told by an HTTP POST of a notification bundle that names the resources by id only —
/// never a title, a value or a name; reading them goes through the access policy like any read.
/// </summary>
public sealed class SubscriptionService(DmpDbContext db, RecordGuard guard, TimeProvider time, SubscriptionOptions options, SubscriptionRegistry registry)
{
    public const string BackportProfile = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/";
    public const string FilterExtension = BackportProfile + "backport-filter-criteria";
    public const string PayloadContentExtension = BackportProfile + "backport-payload-content";
    public const string MaxCountExtension = BackportProfile + "backport-max-count";
    public const string TimeoutExtension = BackportProfile + "backport-timeout";
    /// <summary>The signing key, in the creation response only.</summary>
    public const string SecretExtension = "urn:opendmp:extension:subscription-signing-secret";

    /// <summary>Creates a subscription for a professional (status requested: the handshake activates it); the answer carries the signing key, once.</summary>
    public async Task<Subscription> CreateAsync(Subscription s, Actor actor, string channel, CancellationToken ct)
    {
        if (actor.Kind != ActorKind.Professional)
        {
            throw new DmpException(ErrorKind.Forbidden, "subscriptions are for professionals' software");
        }

        var topic = s.Criteria;
        if (topic is null || !SubscriptionTopics.All.Contains(topic))
        {
            throw DmpException.Invalid($"Subscription.criteria must be one of the topics {string.Join(", ", SubscriptionTopics.All)}; got '{topic}'", "Subscription.criteria");
        }

        if (s.Channel?.Type != Subscription.SubscriptionChannelType.RestHook)
        {
            throw DmpException.Invalid("Subscription.channel.type must be rest-hook (software that cannot receive calls reads Subscription/[id]/$events)", "Subscription.channel.type");
        }

        var endpoint = CheckEndpoint(s.Channel.Endpoint, options);
        if (s.Channel.Payload is { } payload && payload is not ("application/fhir+json" or "application/json"))
        {
            throw DmpException.Invalid($"Subscription.channel.payload must be application/fhir+json, got '{payload}'", "Subscription.channel.payload");
        }

        var content = s.Channel.PayloadElement?.GetExtensionValue<Code>(PayloadContentExtension)?.Value ?? "id-only";
        if (content != "id-only")
        {
            throw DmpException.Invalid($"only id-only notifications are offered (a notification never carries health data); got payload content '{content}'", "Subscription.channel.payload");
        }

        if (s.Channel.Header.Any())
        {
            throw DmpException.Invalid("Subscription.channel.header is not supported: deliveries are authenticated by the X-OpenDMP-Signature header (HMAC-SHA256 with the key returned on creation)", "Subscription.channel.header");
        }

        if (s.Reason?.Length > 500)
        {
            throw DmpException.Invalid($"Subscription.reason must be at most 500 characters, got {s.Reason.Length}", "Subscription.reason");
        }

        var maxCount = s.Channel.GetExtensionValue<PositiveInt>(MaxCountExtension)?.Value ?? 20;
        var timeout = s.Channel.GetExtensionValue<UnsignedInt>(TimeoutExtension)?.Value ?? 10;
        if (maxCount is < 1 or > 100)
        {
            throw DmpException.Invalid($"backport-max-count must be between 1 and 100, got {maxCount}", "Subscription.channel.extension");
        }

        if (timeout is < 1 or > 60)
        {
            throw DmpException.Invalid($"backport-timeout must be between 1 and 60 seconds, got {timeout}", "Subscription.channel.extension");
        }

        var id = Ids.New();
        var recordFilter = await RecordFilterAsync(s, topic, id, actor, channel, ct);
        var held = await db.Subscriptions.CountAsync(x => x.OwnerId == actor.Id && (x.Status == "requested" || x.Status == "active" || x.Status == "error"), ct);
        if (held >= options.MaxPerProfessional)
        {
            throw new DmpException(ErrorKind.Conflict, $"a professional may hold at most {options.MaxPerProfessional} subscriptions (you have {held}): delete one first");
        }

        var now = time.GetUtcNow();
        var entity = new FhirSubscription
        {
            Id = id,
            OwnerId = actor.Id,
            Topic = topic,
            RecordFilter = recordFilter,
            Endpoint = endpoint,
            Secret = RandomNumberGenerator.GetBytes(32),
            Status = "requested",
            Reason = s.Reason,
            MaxCount = maxCount,
            TimeoutSeconds = timeout,
            CreatedAt = now,
            End = s.EndElement?.Value,
        };
        db.Subscriptions.Add(entity);
        await db.SaveChangesAsync(ct);
        registry.Invalidate();
        var resource = ToResource(entity);
        resource.Extension.Add(new Extension(SecretExtension, new Base64Binary(entity.Secret)));
        return resource;
    }

    /// <summary>The endpoint, checked: absolute https (or http on loopback when allowed), no user info, no fragment.</summary>
    public static string CheckEndpoint(string? endpoint, SubscriptionOptions options)
    {
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw DmpException.Invalid($"Subscription.channel.endpoint must be an absolute URL, got '{endpoint}'", "Subscription.channel.endpoint");
        }

        var loopbackHttp = uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback && options.AllowHttpLoopback;
        if (uri.Scheme != Uri.UriSchemeHttps && !loopbackHttp)
        {
            throw DmpException.Invalid("Subscription.channel.endpoint must use https", "Subscription.channel.endpoint");
        }

        // The platform posts to this address: not to its own network by an address literal (a name
        // is resolved by the platform's resolver, whose view the operator controls).
        if (!options.AllowHttpLoopback && (uri.IsLoopback || (System.Net.IPAddress.TryParse(uri.IdnHost, out var ip) && IsInternal(ip))))
        {
            throw DmpException.Invalid("Subscription.channel.endpoint must not be a loopback, private or link-local address", "Subscription.channel.endpoint");
        }

        if (uri.UserInfo.Length > 0 || uri.Fragment.Length > 0 || endpoint!.Length > 1024)
        {
            throw DmpException.Invalid("Subscription.channel.endpoint must not carry user information or a fragment, and must be at most 1,024 characters", "Subscription.channel.endpoint");
        }

        return uri.AbsoluteUri;
    }

    private static bool IsInternal(System.Net.IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        if (System.Net.IPAddress.IsLoopback(ip) || ip.IsIPv6LinkLocal || ip.IsIPv6SiteLocal || ip.IsIPv6UniqueLocal || ip.Equals(System.Net.IPAddress.Any) || ip.Equals(System.Net.IPAddress.IPv6Any))
        {
            return true;
        }

        var b = ip.GetAddressBytes();
        return b.Length == 4 && (b[0] == 10 || (b[0] == 172 && b[1] >= 16 && b[1] <= 31) || (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) || b[0] == 127 || b[0] == 0 || (b[0] == 100 && b[1] >= 64 && b[1] <= 127));
    }

    /// <summary>The one patient a new-document subscription is limited to (filter patient=…), which the professional must be allowed to read now.</summary>
    private async Task<string?> RecordFilterAsync(Subscription s, string topic, string id, Actor actor, string channel, CancellationToken ct)
    {
        var filters = s.CriteriaElement?.Extension.Where(e => e.Url == FilterExtension).Select(e => (e.Value as FhirString)?.Value ?? string.Empty).ToList() ?? [];
        if (filters.Count == 0)
        {
            return null;
        }

        if (topic != SubscriptionTopics.NewDocument || filters.Count > 1)
        {
            throw DmpException.Invalid("a filter is accepted only on the new-document topic, and only one: patient=[id]", "Subscription.criteria.extension");
        }

        var query = filters[0];
        var q = query.IndexOf('?', StringComparison.Ordinal) is var i and >= 0 ? query[(i + 1)..] : query;
        var parts = q.Split('=', 2);
        if (parts.Length != 2 || parts[0] is not ("patient" or "subject"))
        {
            throw DmpException.Invalid($"the filter must be patient=[id] (or DocumentReference?patient=[id]), got '{query}'", "Subscription.criteria.extension");
        }

        var recordId = Documents.References.LogicalId(parts[1], "Patient") ?? parts[1];
        var facts = await guard.FactsAsync(recordId, ct);
        if (facts is null)
        {
            await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Create, "not-found", channel, "Subscription", id), ct);
            throw DmpException.NotFound($"Patient/{recordId} does not exist");
        }

        // Audited in the record's chain: the professional asked to follow this record.
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Create, "Subscription", id, channel, auditPermit: true, ct);
        return recordId;
    }

    /// <summary>One of the professional's subscriptions (another's answers 404).</summary>
    public async Task<FhirSubscription> OwnAsync(string id, Actor actor, CancellationToken ct) =>
        await db.Subscriptions.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id && x.OwnerId == actor.Id && actor.Kind == ActorKind.Professional, ct)
        ?? throw DmpException.NotFound($"Subscription/{id} does not exist");

    /// <summary>The professional's subscriptions that are not deleted.</summary>
    public async Task<List<Subscription>> ListAsync(Actor actor, CancellationToken ct) =>
        (await db.Subscriptions.AsNoTracking().Where(x => x.OwnerId == actor.Id && x.Status != "off").OrderBy(x => x.CreatedAt).ToListAsync(ct)).Select(ToResource).ToList();

    /// <summary>Ends a subscription: off, its undelivered events dropped.</summary>
    public async Task DeleteAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var s = await OwnAsync(id, actor, ct);
        await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Delete, "success", channel, "Subscription", id), ct);
        await db.Subscriptions.Where(x => x.Id == s.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.Status, "off").SetProperty(x => x.End, time.GetUtcNow()), ct);
        await db.SubscriptionEvents.Where(x => x.SubscriptionId == s.Id).ExecuteDeleteAsync(ct);
        registry.Invalidate();
    }

    /// <summary>The R4 Subscription resource (without its signing key).</summary>
    public static Subscription ToResource(FhirSubscription x)
    {
        var s = new Subscription
        {
            Id = x.Id,
            Status = x.Status switch
            {
                "active" => Subscription.SubscriptionStatus.Active,
                "error" => Subscription.SubscriptionStatus.Error,
                "off" => Subscription.SubscriptionStatus.Off,
                _ => Subscription.SubscriptionStatus.Requested,
            },
            Reason = x.Reason ?? "OpenDMP notifications (" + x.Topic + ")",
            Criteria = x.Topic,
            Error = x.LastError,
            EndElement = x.End is { } end ? new Instant(end) : null,
            Channel = new Subscription.ChannelComponent
            {
                Type = Subscription.SubscriptionChannelType.RestHook,
                Endpoint = x.Endpoint,
                Payload = "application/fhir+json",
            },
        };
        s.Meta = new Meta { Profile = [BackportProfile + "backport-subscription"] };
        if (x.RecordFilter is not null)
        {
            s.CriteriaElement.Extension.Add(new Extension(FilterExtension, new FhirString("DocumentReference?patient=Patient/" + x.RecordFilter)));
        }

        s.Channel.PayloadElement!.Extension.Add(new Extension(PayloadContentExtension, new Code("id-only")));
        s.Channel.Extension.Add(new Extension(MaxCountExtension, new PositiveInt(x.MaxCount)));
        s.Channel.Extension.Add(new Extension(TimeoutExtension, new UnsignedInt(x.TimeoutSeconds)));
        return s;
    }

    /// <summary>
    /// Subscription/[id]/$events: the numbered events in a range, as the notification bundle a
    /// delivery would carry (type query-event), for software that cannot receive calls or missed some.
    /// </summary>
    public async Task<Bundle> EventsAsync(string id, long? since, long? until, Actor actor, string channel, string baseUrl, CancellationToken ct)
    {
        var s = await OwnAsync(id, actor, ct);
        var from = since ?? Math.Max(0, s.EventCount - 100);
        var to = until ?? s.EventCount;
        if (from < 0 || to < from)
        {
            throw DmpException.Invalid("eventsSinceNumber and eventsUntilNumber must be a range of event numbers (since ≤ until)", "eventsSinceNumber");
        }

        var events = await db.SubscriptionEvents.AsNoTracking()
            .Where(e => e.SubscriptionId == id && e.Number >= from && e.Number <= to)
            .OrderBy(e => e.Number).Take(1000).ToListAsync(ct);

        // Each record whose events are listed again has it in its chain (the system chain when none is).
        var records = events.Select(e => (string?)e.RecordId).Distinct().DefaultIfEmpty(null);
        foreach (var recordId in records)
        {
            await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Read, "success", channel, "Subscription", id, Detail: "$events"), ct);
        }

        return Notification(s, events, "query-event", baseUrl, time.GetUtcNow());
    }

    /// <summary>Subscription/[id]/$status: a searchset with the status parameters.</summary>
    public async Task<Bundle> StatusAsync(string id, Actor actor, string baseUrl, CancellationToken ct)
    {
        var s = await OwnAsync(id, actor, ct);
        var status = Status(s, [], "query-status", baseUrl);
        return new Bundle
        {
            Type = Bundle.BundleType.Searchset,
            Total = 1,
            Entry = [new Bundle.EntryComponent { FullUrl = "urn:uuid:" + Guid.NewGuid(), Resource = status, Search = new Bundle.SearchComponent { Mode = Bundle.SearchEntryMode.Match } }],
        };
    }

    /// <summary>
    /// The notification bundle (history, backport-subscription-notification-r4): first the status
    /// parameters, then one entry per focus, by URL only (id-only: no resource).
    /// </summary>
    public static Bundle Notification(FhirSubscription s, IReadOnlyList<SubscriptionEvent> events, string type, string baseUrl, DateTimeOffset now)
    {
        var statusId = Guid.NewGuid().ToString();
        var bundle = new Bundle
        {
            Id = Guid.NewGuid().ToString(),
            Meta = new Meta { Profile = [BackportProfile + "backport-subscription-notification-r4"] },
            Type = Bundle.BundleType.History,
            TimestampElement = new Instant(now),
        };
        bundle.Entry.Add(new Bundle.EntryComponent
        {
            FullUrl = "urn:uuid:" + statusId,
            Resource = Status(s, events, type, baseUrl),
            Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.GET, Url = $"{baseUrl}/Subscription/{s.Id}/$status" },
            Response = new Bundle.ResponseComponent { Status = "200" },
        });
        foreach (var e in events.DistinctBy(e => e.Focus))
        {
            bundle.Entry.Add(new Bundle.EntryComponent
            {
                FullUrl = $"{baseUrl}/{e.Focus}",
                Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.GET, Url = e.Focus },
                Response = new Bundle.ResponseComponent { Status = "200" },
            });
        }

        return bundle;
    }

    private static Parameters Status(FhirSubscription s, IReadOnlyList<SubscriptionEvent> events, string type, string baseUrl)
    {
        var p = new Parameters { Id = Guid.NewGuid().ToString(), Meta = new Meta { Profile = [BackportProfile + "backport-subscription-status-r4"] } };
        p.Add("subscription", new ResourceReference($"{baseUrl}/Subscription/{s.Id}"));
        p.Add("topic", new Canonical(s.Topic));
        p.Add("status", new Code(s.Status));
        p.Add("type", new Code(type));
        p.Add("events-since-subscription-start", new FhirString(s.EventCount.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        foreach (var e in events)
        {
            p.Parameter.Add(new Parameters.ParameterComponent
            {
                Name = "notification-event",
                Part =
                [
                    new Parameters.ParameterComponent { Name = "event-number", Value = new FhirString(e.Number.ToString(System.Globalization.CultureInfo.InvariantCulture)) },
                    new Parameters.ParameterComponent { Name = "timestamp", Value = new Instant(e.CreatedAt) },
                    new Parameters.ParameterComponent { Name = "focus", Value = new ResourceReference($"{baseUrl}/{e.Focus}") },
                ],
            });
        }

        if (s.LastError is not null)
        {
            p.Add("error", new CodeableConcept { Text = s.LastError });
        }

        return p;
    }
}
