using System.Text;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// No health data in logs, traces or metrics: a patient whose identity, document titles and contents
/// are marked is driven through every endpoint (as the treating physician, the patient by API and by
/// portal, and anonymously), with the markers also in every query and body; then everything the
/// server logged (every level of OpenDMP's categories, with scopes and values), traced and measured is
/// scanned for them.
/// </summary>
public abstract class NoHealthDataInTelemetryTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private const string Family = "ZQXFAMILLE";
    private const string Given = "ZQXPRENOM";
    private const string Title = "ZQXTITRE";
    private const string Content = "ZQXCONTENU";
    private readonly TelemetryCapture _capture = new();

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Telemetry:Tracing"] = "true" };

    protected override Action<ILoggingBuilder>? Logging => _capture.Install;

    [Fact]
    public async Task MarkedPatientData_DrivenThroughEveryEndpoint_NeverReachesLogsSpansOrMetrics()
    {
        var gp = await Server.AddProfessionalAsync();
        var ins = TestIds.NewIns();
        var patient = await Server.AddPatientAsync(new NewPatient(ins, OpenDmp.Core.Identity.Ins.NirSystem, Family, Given, new DateOnly(1931, 7, 23), "F", "75056"), gp);
        var docId = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(Encoding.UTF8.GetBytes("Compte rendu " + Content), "text/plain", "Note " + Title, FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var markers = new[] { ins, Family, Given, Title, Content, "1931-07-23", "19310723" };

        // Bad input that carries the markers: refused with a 4xx, and the refusal is not logged with them.
        var gpHttp = Server.Http(gp.Certificate, followRedirects: false);
        var badTitle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes(Content), "text/plain", Title, FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
        var json = FhirAssert.Json(badTitle);
        var text = (await json.ReadAsStringAsync()).Replace("\"category\"", "\"categoryX\"", StringComparison.Ordinal).Replace("urn:oid:1.2.250.1.213.1.1.4.1", "urn:oid:" + ins, StringComparison.Ordinal);
        using (var bad = await gpHttp.PostAsync("/fhir", new StringContent(text, Encoding.UTF8, "application/fhir+json")))
        {
            Assert.True((int)bad.StatusCode is >= 400 and < 500, $"{(int)bad.StatusCode}: {await bad.Content.ReadAsStringAsync()}");
        }

        using (var malformed = await gpHttp.PostAsync("/fhir", new StringContent("{\"resourceType\":\"Bundle\",\"type\":\"" + Family + "\"", Encoding.UTF8, "application/fhir+json")))
        {
            Assert.InRange((int)malformed.StatusCode, 400, 499);
        }

        var (patientApi, cookie) = await Server.LoginPatientAsync(patient);
        var portal = Server.Http(null, followRedirects: false);
        portal.DefaultRequestHeaders.Add("Cookie", cookie);
        var anonymous = Server.Http(null, followRedirects: false);

        // Every endpoint, reads first, then writes (some end the session or change the record).
        var endpoints = Server.Services.GetRequiredService<IEnumerable<EndpointDataSource>>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && !raw.Contains("{*", StringComparison.Ordinal) && !raw.Contains("_framework", StringComparison.Ordinal))
            .Select(e => (Raw: "/" + e.RoutePattern.RawText!.TrimStart('/'), Method: e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods[0] ?? "GET"))
            .Distinct()
            .OrderBy(e => e.Method == "GET" ? 0 : e.Raw.Contains("logout", StringComparison.Ordinal) || e.Raw.Contains("deconnexion", StringComparison.Ordinal) ? 2 : 1)
            .ToList();
        var query = $"?patient={patient.Id}&patient.identifier={Uri.EscapeDataString(OpenDmp.Core.Identity.Ins.NirSystem + "|" + ins)}&identifier={Uri.EscapeDataString(OpenDmp.Core.Identity.Ins.NirSystem + "|" + ins)}&family={Family}&given={Given}&birthdate=1931-07-23&title={Title}&q={Content}";
        var body = $"{{\"resourceType\":\"Parameters\",\"parameter\":[{{\"name\":\"ins\",\"valueString\":\"{ins}\"}},{{\"name\":\"family\",\"valueString\":\"{Family}\"}},{{\"name\":\"title\",\"valueString\":\"{Title}\"}},{{\"name\":\"text\",\"valueString\":\"{Content}\"}}]}}";
        var sent = 0;
        foreach (var (raw, method) in endpoints)
        {
            var path = raw.Replace("{PatientId}", patient.Id, StringComparison.Ordinal)
                .Replace("{id}", raw.Contains("/Patient/", StringComparison.Ordinal) || raw.StartsWith("/pro/patients/", StringComparison.Ordinal) ? patient.Id : docId, StringComparison.Ordinal)
                .Replace("{Id}", raw.StartsWith("/pro/patients/", StringComparison.Ordinal) ? patient.Id : docId, StringComparison.Ordinal)
                .Replace("{vid}", "1", StringComparison.Ordinal)
                .Replace("{DocumentId}", docId, StringComparison.Ordinal);
            foreach (var client in new[] { gpHttp, patientApi, portal, anonymous })
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path + query);
                if (method is "POST" or "PUT" or "PATCH")
                {
                    request.Content = new StringContent(body, Encoding.UTF8, "application/fhir+json");
                }

                using var response = await client.SendAsync(request);
                await response.Content.ReadAsByteArrayAsync();
                Assert.True((int)response.StatusCode < 500, $"{method} {path} answered {(int)response.StatusCode}");
                sent++;
            }
        }

        Assert.True(sent > 200, $"only {sent} requests sent");
        TelemetryCapture.Flush(Server.Services);
        var seen = _capture.Everything().ToList();
        Assert.True(_capture.Spans.Count > 100 && seen.Count(s => s.Where == "log") > 10, $"the capture saw too little: {_capture.Spans.Count} spans, {_capture.Logs.Count} log entries");
        var leaks = seen.Where(s => markers.Any(m => s.Text.Contains(m, StringComparison.OrdinalIgnoreCase))).Select(s => $"{s.Where}: {s.Text[..Math.Min(300, s.Text.Length)]}").Distinct(StringComparer.Ordinal).Take(10).ToList();
        Assert.True(leaks.Count == 0, "health data left the process:\n" + string.Join("\n", leaks));
    }
}

public sealed class NoHealthDataInTelemetryTests_Sqlite() : NoHealthDataInTelemetryTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class NoHealthDataInTelemetryTests_Postgres(PostgresCluster pg) : NoHealthDataInTelemetryTests(new PostgresStorage(pg, "nohealthdata"));
