using System.Net.Http.Headers;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Messaging;

/// <summary>Configuration section Sms: the SMS gateway (an outside operator reached over HTTPS).</summary>
public sealed class SmsOptions
{
    /// <summary>The gateway's endpoint; SMS are off without it.</summary>
    public string? GatewayUrl { get; set; }
    /// <summary>Sent as a bearer token.</summary>
    public string? Token { get; set; }
    /// <summary>The sender name shown on the phone (at most 11 characters).</summary>
    public string Sender { get; set; } = "OpenDMP";
    public double Seconds { get; set; } = 10;
    /// <summary>A notification older than this is not sent by SMS any more (it stays in the patient space).</summary>
    public double MaxAgeHours { get; set; } = 24;

    /// <summary>What is wrong with this configuration, as "Sms:Name: why" lines.</summary>
    public IEnumerable<string> Problems()
    {
        if (!string.IsNullOrEmpty(GatewayUrl))
        {
            // Plain http only to a gateway on this machine (a local relay); anything else goes over TLS.
            if (!Uri.TryCreate(GatewayUrl, UriKind.Absolute, out var uri) || !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
            {
                yield return $"Sms:GatewayUrl: must be an https URL (http only on loopback), got '{GatewayUrl}'";
            }
        }

        if (Sender.Length is 0 or > 11 || !Sender.All(char.IsAsciiLetterOrDigit))
        {
            yield return $"Sms:Sender: 1 to 11 letters or digits, got '{Sender}'";
        }

        if (Seconds < 0 || MaxAgeHours <= 0)
        {
            yield return "Sms:Seconds must be 0 (off) or more and Sms:MaxAgeHours more than 0";
        }
    }
}

/// <summary>
/// The SMS gateway (an outside service): one POST per message
/// <c>{"to":"+336…","from":"OpenDMP","text":"…","reference":"…"}</c> with a bearer token; a 2xx is
/// an acceptance.
/// </summary>
public sealed class SmsGateway(SmsOptions options) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(10) }) { Timeout = TimeSpan.FromSeconds(20) };

    /// <summary>Whether a gateway is configured.</summary>
    public bool Enabled => !string.IsNullOrEmpty(options.GatewayUrl);

    /// <summary>Sends one message; returns the gateway's HTTP status.</summary>
    public async Task<int> SendAsync(string to, string text, string reference, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, options.GatewayUrl)
        {
            Content = JsonContent.Create(new { to, from = options.Sender, text, reference }),
        };
        if (!string.IsNullOrEmpty(options.Token))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        }

        using var response = await _http.SendAsync(request, ct);
        return (int)response.StatusCode;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// Sends the patients' notifications by SMS to the mobile number of their account, for the events
/// they chose by SMS, in their language, through the configured gateway: one POST per message
/// <c>{"to":"+336…","from":"OpenDMP","text":"…","reference":"notification id"}</c> with a bearer
/// token; a 2xx is an acceptance. At least once: a notification is marked sent after the gateway
/// accepted it, and its id is the reference the gateway may use to drop a repeat. One instance sends
/// at a time (lease "notification-sms"). The text never holds health data.
/// </summary>
public sealed partial class SmsNotificationService(IServiceProvider services, SmsOptions options, SmsGateway gateway, JobLeader leader, NotificationSignal signal, ILogger<SmsNotificationService> logger) : BackgroundService
{
    private const int BatchSize = 200;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => string.IsNullOrEmpty(options.GatewayUrl) || options.Seconds <= 0
        ? Task.CompletedTask
        : leader.LeadAsync("notification-sms", TimeSpan.FromSeconds(options.Seconds), signal, async ct => await DeliverAsync(ct), ex => LogFailed(logger, ex.GetType().Name, ex), stoppingToken);

    /// <summary>One round; returns how many SMS the gateway accepted.</summary>
    public async Task<int> DeliverAsync(CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var delivery = scope.ServiceProvider.GetRequiredService<NotificationDelivery>();
        var due = await delivery.DueAsync(NotificationEvents.Sms, BatchSize, TimeSpan.FromHours(options.MaxAgeHours), ct);
        var sent = 0;
        foreach (var item in due)
        {
            var text = Portal.Ui.Notification(item.Notification, Portal.Ui.Culture(item.Language)) + " — OpenDMP";
            var status = await gateway.SendAsync(item.To, text, item.Notification.Id, ct);
            if (status is not (>= 200 and < 300))
            {
                // Kept pending, in order: the next round tries again from here.
                LogRefused(logger, status);
                break;
            }

            await delivery.SentAsync(item.Notification, NotificationEvents.Sms, ct);
            sent++;
        }

        if (sent > 0)
        {
            LogSent(logger, sent);
        }

        return sent;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} notification(s) sent by SMS")]
    private static partial void LogSent(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The SMS gateway refused a message (HTTP {Status}); retrying later")]
    private static partial void LogRefused(ILogger logger, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SMS delivery failed ({ExceptionType}); retrying later")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
