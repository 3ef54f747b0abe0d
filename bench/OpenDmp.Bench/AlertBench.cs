using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 15's benchmark: what the alert pipeline adds to ITI-65 ingest, and the event-to-alert
/// delay. Structured lab reports (CR-BIO, one INR result) are filed by the load's clients in
/// alternating rounds: a share of them with INR 6.2 (fires the inr-high rule: an event is written
/// with the filing, the dispatcher then decides and writes the treating physician's alert), the
/// others with INR 2.1 (the same document, parsed the same way, firing nothing); a round ends when
/// its alerts are written. The delay is read from the database afterwards:
/// each alert's creation time minus its event's (both the server's clock).
/// </summary>
internal static class AlertBench
{
    private const int Rounds = 4;

    public static async Task RunAsync(HttpClient http, string gpRpps, IReadOnlyList<string> patients, int reports, double share, int clients, Func<IServiceProvider> services)
    {
        var sp = services();
        async Task<bool> PendingAsync()
        {
            using var scope = sp.CreateScope();
            return await scope.ServiceProvider.GetRequiredService<DmpDbContext>().RecordEvents.AnyAsync(e => e.ProcessedAt == null);
        }

        // The treating physician's software subscribes to its alerts (rest-hook on loopback): the
        // delivery delay is measured from each event's commit to the notification's arrival.
        using var receiver = new System.Net.HttpListener();
        var hookPort = BenchSupport.FreePort();
        receiver.Prefixes.Add($"http://127.0.0.1:{hookPort}/hook/");
        receiver.Start();
        var arrivals = new System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var receiving = Task.Run(async () =>
        {
            while (receiver.IsListening)
            {
                System.Net.HttpListenerContext ctx;
                try
                {
                    ctx = await receiver.GetContextAsync();
                }
                catch (Exception ex) when (ex is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                var at = DateTimeOffset.UtcNow;
                using (var reader = new StreamReader(ctx.Request.InputStream))
                {
                    var bundle = FhirJson.Parse<Hl7.Fhir.Model.Bundle>(await reader.ReadToEndAsync());
                    foreach (var e in bundle.Entry.Skip(1))
                    {
                        arrivals.TryAdd(e.FullUrl![(e.FullUrl!.LastIndexOf('/') + 1)..], at);
                    }
                }

                ctx.Response.StatusCode = 200;
                ctx.Response.Close();
            }
        });
        var subscription = new Hl7.Fhir.Model.Subscription
        {
            Status = Hl7.Fhir.Model.Subscription.SubscriptionStatus.Requested,
            Reason = "bench",
            Criteria = OpenDmp.Core.Subscriptions.SubscriptionTopics.Alert,
            Channel = new Hl7.Fhir.Model.Subscription.ChannelComponent { Type = Hl7.Fhir.Model.Subscription.SubscriptionChannelType.RestHook, Endpoint = $"http://127.0.0.1:{hookPort}/hook/", Payload = "application/fhir+json" },
        };
        string subscriptionId;
        using (var created = await http.PostAsync("/fhir/Subscription", new StringContent(FhirJson.Serialize(subscription), Encoding.UTF8, "application/fhir+json")))
        {
            var body = await created.Content.ReadAsStringAsync();
            if (!created.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"subscription refused: {(int)created.StatusCode} {body}");
            }

            subscriptionId = FhirJson.Parse<Hl7.Fhir.Model.Subscription>(body).Id!;
        }

        while (true)
        {
            using var scope = sp.CreateScope();
            if (await scope.ServiceProvider.GetRequiredService<DmpDbContext>().Subscriptions.AnyAsync(x => x.Id == subscriptionId && x.Status == "active"))
            {
                break;
            }

            await Task.Delay(200);
        }

        var perRound = Math.Max(clients, reports / (2 * Rounds));
        var picker = new Random(7);
        var rates = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
        var latencies = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
        var n = 0;
        for (var round = 0; round < Rounds; round++)
        {
            foreach (var firing in round % 2 == 0 ? new[] { true, false } : [false, true])
            {
                // Built before timing: the client's serialisation is not the server's cost.
                var bundles = Enumerable.Range(0, perRound).Select(_ =>
                {
                    var patient = patients[1 + (n++ % (patients.Count - 1))];
                    var cda = LabReport(firing && picker.NextDouble() < share ? "6.2" : "2.1");
                    return FhirJson.Serialize(SubmissionBuilder.Build("Patient/" + patient, gpRpps, "Claire Martin", [new DocumentToSubmit(cda, "text/xml", "Compte rendu de biologie", TypeCode: "11502-2", FormatCode: "urn:ihe:lab:xd-lab:2008")]));
                }).ToList();
                var next = -1;
                var watch = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < bundles.Count)
                    {
                        var t = Stopwatch.GetTimestamp();
                        using var response = await http.PostAsync("/fhir", new StringContent(bundles[i], Encoding.UTF8, "application/fhir+json"));
                        var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                        if (!response.IsSuccessStatusCode)
                        {
                            throw new InvalidOperationException($"lab report filing failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                        }

                        lock (latencies)
                        {
                            latencies[firing].Add(ms);
                        }
                    }
                }));
                // A round ends when its documents are filed and their alerts written: the pipeline's
                // work is counted where it is caused, not left to slow the next round.
                while (await PendingAsync())
                {
                    await Task.Delay(10);
                }

                rates[firing].Add(bundles.Count / watch.Elapsed.TotalSeconds);
            }
        }

        double Mean(List<double> l) => l.Average();
        var on = Mean(rates[true]);
        var off = Mean(rates[false]);
        latencies[true].Sort();
        latencies[false].Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lab reports, {share:P0} of them firing an alert: {on:F0} documents/s, alerts written included (filing p95 {BenchSupport.P(latencies[true], 95):F1} ms); firing none: {off:F0} documents/s (p95 {BenchSupport.P(latencies[false], 95):F1} ms); the alert pipeline adds {(off / on - 1) * 100:F1} % to ingest time ({Rounds} alternated rounds of {perRound} each, {clients} clients)"));

        // Event → alert.
        var deadline = Stopwatch.StartNew();
        List<double> delays;
        while (true)
        {
            using var scope = sp.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
            if (!await db.RecordEvents.AnyAsync(e => e.ProcessedAt == null) || deadline.Elapsed > TimeSpan.FromMinutes(2))
            {
                var pairs = await db.ProfessionalAlerts.AsNoTracking()
                    .Join(db.RecordEvents.AsNoTracking(), a => new { a.RecordId, Id = a.EventId }, e => new { e.RecordId, e.Id }, (a, e) => new { Alert = a.CreatedAt, Event = e.CreatedAt })
                    .ToListAsync();
                delays = pairs.Select(p => (p.Alert - p.Event).TotalMilliseconds).Order().ToList();
                break;
            }

            await Task.Delay(200);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"event to alert (committed, shown in /pro): {delays.Count} alerts; p50 {BenchSupport.P(delays, 50):F0} ms, p95 {BenchSupport.P(delays, 95):F0} ms, max {(delays.Count == 0 ? double.NaN : delays[^1]):F0} ms"));

        // Event → rest-hook delivery (the alert subscription's notification received).
        List<(string Alert, DateTimeOffset Event)> events;
        using (var scope = sp.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
            events = (await db.ProfessionalAlerts.AsNoTracking()
                .Join(db.RecordEvents.AsNoTracking(), a => new { a.RecordId, Id = a.EventId }, e => new { e.RecordId, e.Id }, (a, e) => new { a.Id, e.CreatedAt })
                .ToListAsync()).Select(x => (x.Id, x.CreatedAt)).ToList();
        }

        var waited = Stopwatch.StartNew();
        while (events.Any(e => !arrivals.ContainsKey(e.Alert)) && waited.Elapsed < TimeSpan.FromMinutes(2))
        {
            await Task.Delay(100);
        }

        var delivered = events.Where(e => arrivals.ContainsKey(e.Alert)).Select(e => (arrivals[e.Alert] - e.Event).TotalMilliseconds).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"event to rest-hook delivery (alert subscription, HMAC-signed POST received): {delivered.Count} of {events.Count} alerts; p50 {BenchSupport.P(delivered, 50):F0} ms, p95 {BenchSupport.P(delivered, 95):F0} ms, max {(delivered.Count == 0 ? double.NaN : delivered[^1]):F0} ms"));
        receiver.Stop();
        await receiving;
    }

    private static byte[] LabReport(string inr) => Encoding.UTF8.GetBytes($"""
        <?xml version="1.0" encoding="UTF-8"?>
        <ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
          <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
          <title>Compte rendu de biologie</title>
          <component><structuredBody><component><section>
            <code code="18723-7" codeSystem="2.16.840.1.113883.6.1" displayName="Hématologie"/><title>Hémostase</title>
            <entry><observation classCode="OBS" moodCode="EVN"><code code="6301-6" codeSystem="2.16.840.1.113883.6.1" displayName="INR"/>
              <statusCode code="completed"/><effectiveTime value="20261130080000+0100"/><value xsi:type="REAL" value="{inr}"/></observation></entry>
          </section></component></structuredBody></component>
        </ClinicalDocument>
        """);
}
