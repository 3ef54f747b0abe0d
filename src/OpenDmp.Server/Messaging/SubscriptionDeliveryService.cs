using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OpenDmp.Core.Subscriptions;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Delivers subscription notifications (rest-hook, id-only) on one instance at a time (lease
/// "subscriptions"), as soon as the dispatcher wakes it and at least every
/// Subscriptions:DeliverySeconds: a handshake first (it activates the subscription), then the events
/// in order, Subscription.channel's max-count at a time. Every POST is signed: header
/// <c>X-OpenDMP-Signature: t=[unix seconds],v1=[hex HMAC-SHA256 of "t.body" with the subscription's key]</c>.
/// Redirects are not followed. A 2xx acknowledges; anything else is retried with backoff.
/// </summary>
public sealed partial class SubscriptionDeliveryService(IServiceProvider services, SubscriptionOptions options, SubscriptionSignal signal, OpenDmp.Core.Storage.JobLeader leader, TimeProvider time, ILogger<SubscriptionDeliveryService> logger) : BackgroundService
{
    public const string SignatureHeader = "X-OpenDMP-Signature";
    private const int Batch = 50;
    private const int Parallelism = 4;

    private DateTimeOffset? _purgedAt;

    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        ConnectTimeout = TimeSpan.FromSeconds(10),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        MaxResponseHeadersLength = 16,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.DeliverySeconds <= 0
        ? Task.CompletedTask
        : leader.LeadAsync("subscriptions", TimeSpan.FromSeconds(options.DeliverySeconds), signal, RoundAsync, ex => LogFailed(logger, ex.GetType().Name, ex), stoppingToken);

    /// <summary>One round: every subscription with something due gets one attempt (several at once).</summary>
    public async Task RoundAsync(CancellationToken ct)
    {
        List<DeliveryWork> due;
        using (var scope = services.CreateScope())
        {
            var delivery = scope.ServiceProvider.GetRequiredService<SubscriptionDelivery>();
            if (_purgedAt is null || time.GetUtcNow() - _purgedAt > TimeSpan.FromMinutes(10))
            {
                await delivery.PurgeAsync(ct);
                _purgedAt = time.GetUtcNow();
            }

            due = await delivery.DueAsync(Batch, ct);
        }

        var baseUrl = Fhir.FhirResults.BaseUrl(services);
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (work, token) =>
        {
            var error = await SendAsync(work, baseUrl, token);
            using var scope = services.CreateScope();
            var delivery = scope.ServiceProvider.GetRequiredService<SubscriptionDelivery>();
            if (error is null)
            {
                await delivery.SucceededAsync(work, token);
                OpenDmp.Core.Common.DmpTelemetry.SubscriptionNotifications.Add(1, new KeyValuePair<string, object?>("outcome", "delivered"));
            }
            else
            {
                await delivery.FailedAsync(work, error, token);
                OpenDmp.Core.Common.DmpTelemetry.SubscriptionNotifications.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
                LogAttemptFailed(logger, work.Subscription.Id, error);
            }
        });
    }

    /// <summary>One POST; null when the endpoint acknowledged, else what went wrong (for the subscription's error).</summary>
    private async Task<string?> SendAsync(DeliveryWork work, string baseUrl, CancellationToken ct)
    {
        var s = work.Subscription;
        var bundle = SubscriptionService.Notification(s, work.Events, work.Handshake ? "handshake" : "event-notification", baseUrl, time.GetUtcNow());
        var body = Encoding.UTF8.GetBytes(OpenDmp.Core.Fhir.FhirJson.Serialize(bundle));
        using var request = new HttpRequestMessage(HttpMethod.Post, s.Endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/fhir+json") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation(SignatureHeader, Sign(s.Secret, time.GetUtcNow().ToUnixTimeSeconds(), body));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(s.TimeoutSeconds));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            return response.IsSuccessStatusCode ? null : $"the endpoint answered {(int)response.StatusCode}";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"no answer within {s.TimeoutSeconds} s";
        }
        catch (HttpRequestException ex)
        {
            return "could not reach the endpoint (" + (ex.HttpRequestError == HttpRequestError.Unknown ? ex.Message : ex.HttpRequestError.ToString()) + ")";
        }
    }

    /// <summary>The signature header's value: t=[unix seconds],v1=[hex HMAC-SHA256 of "t." + body].</summary>
    public static string Sign(byte[] key, long unixSeconds, byte[] body)
    {
        var t = unixSeconds.ToString(CultureInfo.InvariantCulture);
        var prefix = Encoding.ASCII.GetBytes(t + ".");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed, prefix.Length);
        return $"t={t},v1={Convert.ToHexStringLower(HMACSHA256.HashData(key, signed))}";
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Subscription delivery failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Notification to subscription {SubscriptionId} not acknowledged: {Error}")]
    private static partial void LogAttemptFailed(ILogger logger, string subscriptionId, string error);
}
