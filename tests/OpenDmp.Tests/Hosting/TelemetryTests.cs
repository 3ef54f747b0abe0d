using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// OpenTelemetry: requests are traced under their route (never their path or query), OpenDMP's own
/// instruments count what happened, and the Prometheus endpoint answers only the monitoring
/// networks with the monitoring token.
/// </summary>
public sealed class TelemetryTests() : ServerTestBase(new SqliteStorage())
{
    private const string Token = "scrape-token-5521";
    private readonly TelemetryCapture _capture = new();

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Telemetry:Tracing"] = "true",
        ["Telemetry:PrometheusBearerToken"] = Token,
    };

    protected override Action<ILoggingBuilder>? Logging => _capture.Install;

    [Fact]
    public async Task FilingAndReading_AreTracedByRoute_AndCountedByOpenDmpsInstruments()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        TelemetryCapture.Flush(Server.Services);
        var filedBefore = Math.Max(0, _capture.Sum("opendmp.documents.filed"));
        var permitsBefore = Math.Max(0, _capture.Sum("opendmp.policy.decisions", "outcome", "permit"));
        var deniesBefore = Math.Max(0, _capture.Sum("opendmp.policy.decisions", "outcome", "deny"));
        var auditBefore = Math.Max(0, _capture.Sum("opendmp.audit.appends"));

        await Server.SubmitAsync(gp, patient,
            new DocumentToSubmit(Encoding.UTF8.GetBytes("a"), "text/plain", "Note A", FormatCode: "urn:ihe:iti:xds-sd:text:2008"),
            new DocumentToSubmit(Encoding.UTF8.GetBytes("b"), "text/plain", "Note B", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        using (var search = await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}&status=current"))
        {
            Assert.Equal(HttpStatusCode.OK, search.StatusCode);
        }

        var stranger = await Server.AddProfessionalAsync("10", "SM54", "Sans", "Droit");
        using (var refused = await Server.Http(stranger.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        TelemetryCapture.Flush(Server.Services);
        Assert.True(_capture.Sum("opendmp.documents.filed") - filedBefore >= 2, "two documents filed are counted");
        Assert.True(_capture.Sum("opendmp.policy.decisions", "outcome", "permit") > permitsBefore, "permits are counted");
        Assert.True(_capture.Sum("opendmp.policy.decisions", "outcome", "deny") > deniesBefore, "the refusal is counted");
        Assert.True(_capture.Sum("opendmp.audit.appends") - auditBefore >= 3, "the audit entries of the filing and the search are counted");
        // ASP.NET Core records a request's duration once the response has left: wait for the last one.
        HashSet<string> names = [];
        await Wait.UntilAsync(() =>
        {
            TelemetryCapture.Flush(Server.Services);
            names = _capture.Metrics.Snapshot().Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
            return Task.FromResult(names.Contains("http.server.request.duration"));
        }, TimeSpan.FromSeconds(10));
        foreach (var expected in new[] { "opendmp.deposit.queue", "opendmp.notifications.backlog", "http.server.request.duration" })
        {
            Assert.Contains(expected, names);
        }

        // Spans: named by route; the path and the query (which may carry an INS or a document id) never leave.
        // (Activity listeners are process-wide: the spans of this test's server are those of its port.)
        var port = new Uri(Server.BaseUrl).Port;
        var server = _capture.Spans.Snapshot().Where(s => s.Kind == System.Diagnostics.ActivityKind.Server && Equals(s.GetTagItem("server.port"), port)).ToList();
        var filing = server.SingleOrDefault(s => Equals(s.GetTagItem("http.request.method"), "POST") && Equals(s.GetTagItem("http.route"), "/fhir/"));
        Assert.True(filing is not null, "no span of the filing among: " + string.Join("; ", server.Select(s => s.DisplayName + " " + string.Join(",", s.TagObjects.Select(t => t.Key + "=" + t.Value)))));
        Assert.Equal("/fhir/", filing!.GetTagItem("url.path"));
        Assert.Equal(200, filing.GetTagItem("http.response.status_code"));
        var searched = server.First(s => Equals(s.GetTagItem("http.route"), "/fhir/DocumentReference") && Equals(s.GetTagItem("http.response.status_code"), 200));
        Assert.Equal("/fhir/DocumentReference", searched.GetTagItem("url.path"));
        Assert.Null(searched.GetTagItem("url.query"));
        Assert.DoesNotContain(server, s => s.TagObjects.Any(t => Convert.ToString(t.Value, System.Globalization.CultureInfo.InvariantCulture)!.Contains(patient.Id, StringComparison.Ordinal)));
        Assert.DoesNotContain(server, s => Equals(s.GetTagItem("http.route"), "/health/ready") || Equals(s.GetTagItem("url.path"), "/metrics"));
    }

    [Fact]
    public async Task Prometheus_AnswersTheMonitoringTokenOnly_FromTheAllowedNetworks()
    {
        var http = Server.Http(null);
        using (var anonymous = await http.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Contains("monitoring token", await anonymous.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Token + "x") } })
        using (var refused = await http.SendAsync(wrong))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using (var scrape = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Token) } })
        using (var scraped = await http.SendAsync(scrape))
        {
            var text = await scraped.Content.ReadAsStringAsync();
            Assert.True(scraped.StatusCode == HttpStatusCode.OK, text);
            // (OpenDMP's gauges are always there; its counters once something was counted.)
            Assert.Contains("opendmp_notifications_backlog", text, StringComparison.Ordinal);
            Assert.Contains("http_server_request_duration", text, StringComparison.Ordinal);
        }

        // A deployment whose monitoring network is elsewhere refuses this machine, token or not.
        await using var elsewhere = await RunningServer.StartAsync(null, new Dictionary<string, string?> { ["Telemetry:PrometheusAllowedNetworks"] = "10.20.0.0/16" });
        using var far = await elsewhere.Http(null).GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Forbidden, far.StatusCode);
        Assert.Contains("monitoring networks", await far.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
