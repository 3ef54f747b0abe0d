using System.Text;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// Every endpoint × malformed parameters and bodies, as a professional with a grant and as the
/// patient: never a 5xx, and every FHIR error an OperationOutcome with a correlation id.
/// </summary>
public abstract class BadInputSuiteTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static readonly string[] Values =
    [
        string.Empty, " ", "9999", "ge9999-12-31", "le0001-01-01", "xx2026", "2026-13-45", "0001-01-01T00:00:00+14:00", "\u0000", "a|b|c|d", "|", ",,,", "-1",
        "99999999999999999999", "1e309", new string('a', 3000), "é\u00e9\u2028", "<script>alert(1)</script>", "Patient/", "Patient/../../x", "urn:oid:", "https://evil.example/fhir/Patient/x",
    ];

    private static readonly string[] Bodies =
    [
        "{}", "[]", "null", "{\"resourceType\":\"Parameters\"}", "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{}]}",
        "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"fullUrl\":\"x\",\"resource\":{\"resourceType\":\"List\"},\"request\":{\"method\":\"POST\",\"url\":\"List\"}},{\"fullUrl\":\"x\",\"resource\":{\"resourceType\":\"List\"},\"request\":{\"method\":\"POST\",\"url\":\"List\"}}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"end\",\"valueDateTime\":\"9999-12-31T23:59:59+14:00\"},{\"name\":\"mode\",\"valueCode\":\"alleged\"},{\"name\":\"confirm\",\"valueBoolean\":true}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"mode\",\"valueInteger\":1},{\"name\":\"confirm\",\"valueString\":\"yes\"},{\"name\":\"practitioner\",\"valueBoolean\":true}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"operation\",\"part\":[{\"name\":\"type\",\"valueCode\":\"delete\"}]}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"bundle\",\"resource\":{\"resourceType\":\"Bundle\",\"type\":\"transaction\"}},{\"name\":\"recipient\",\"valueString\":\"x\"}]}",
        "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"permanent\",\"valueBoolean\":true},{\"name\":\"end\",\"valueDate\":\"0001-01-01\"}]}",
        Hostile.DeepJson(200), "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"reason\",\"valueString\":\"a\\u0000b\"},{\"name\":\"mode\",\"valueCode\":\"break-glass\"}]}", "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":{\"resourceType\":\"DocumentReference\",\"content\":[{\"attachment\":{\"size\":99999999999999999999}}]},\"request\":{\"method\":\"POST\",\"url\":\"DocumentReference\"}}]}",
    ];

    private static readonly Dictionary<string, IReadOnlySet<string>> SearchParams = new(StringComparer.Ordinal)
    {
        ["/fhir/DocumentReference"] = DocumentQueries.DocumentSearchParams,
        ["/fhir/List"] = DocumentQueries.ListSearchParams,
        ["/fhir/Observation"] = ObservationQueries.SearchParamNames,
        ["/fhir/AuditEvent"] = AuditQueries.SearchParamNames,
        ["/fhir/Patient"] = PatientQueries.SearchParamNames,
        ["/fhir/Practitioner"] = DirectoryQueries.PractitionerParams,
        ["/fhir/Organization"] = DirectoryQueries.OrganizationParams,
        ["/fhir/Consent"] = new HashSet<string> { "patient" },
        ["/fhir/Communication"] = new HashSet<string> { "patient" },
        ["/fhir/$message-status"] = new HashSet<string> { "message" },
    };

    private int _requests;
    private readonly List<string> _problems = [];

    /// <summary>One request; a 5xx is a failure, and so is a FHIR error without an OperationOutcome carrying a correlation id (except Kestrel's own refusal of a NUL in a path, before any application code).</summary>
    private async Task ProbeAsync(HttpClient http, HttpMethod method, string url, string? body = null)
    {
        using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/fhir+json") };
        using var response = await http.SendAsync(request);
        _requests++;
        var text = await response.Content.ReadAsStringAsync();
        if ((int)response.StatusCode >= 500)
        {
            _problems.Add($"{method} {url[..Math.Min(url.Length, 160)]} → {(int)response.StatusCode}: {text[..Math.Min(200, text.Length)]}");
        }
        else if ((int)response.StatusCode >= 400 && url.StartsWith("/fhir", StringComparison.Ordinal) && !url.Contains("%00/", StringComparison.Ordinal) && !url.EndsWith("%00", StringComparison.Ordinal) && (response.Content.Headers.ContentType?.MediaType != "application/fhir+json" || !text.Contains("\"id\":", StringComparison.Ordinal)))
        {
            _problems.Add($"{method} {url[..Math.Min(url.Length, 160)]} → {(int)response.StatusCode} without an OperationOutcome carrying a correlation id");
        }
    }

    [Fact]
    public async Task EveryEndpoint_TimesMalformedInput_GivesNo5xx()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var doc = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(Encoding.UTF8.GetBytes("note"), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var pro = Server.Http(gp.Certificate, followRedirects: false);
        var (bearer, _) = await Server.LoginPatientAsync(patient);

        foreach (var (path, names) in SearchParams)
        {
            foreach (var name in names.Append("_format").Append("unknown"))
            {
                foreach (var value in Values)
                {
                    var query = (name is "patient" or "subject" ? string.Empty : $"patient={patient.Id}&") + $"{Uri.EscapeDataString(name)}={Uri.EscapeDataString(value)}";
                    await ProbeAsync(pro, HttpMethod.Get, path + "?" + query);
                    if (path is "/fhir/DocumentReference" or "/fhir/AuditEvent")
                    {
                        await ProbeAsync(bearer, HttpMethod.Get, path + "?" + query);
                    }
                }
            }
        }

        var routes = Server.Services.GetRequiredService<IEnumerable<EndpointDataSource>>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } r && r.TrimStart('/').StartsWith("fhir", StringComparison.Ordinal) && !r.Contains("{*", StringComparison.Ordinal))
            .Select(e => ("/" + e.RoutePattern.RawText!.TrimStart('/'), e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods[0] ?? "GET")).Distinct().ToList();
        foreach (var (route, method) in routes)
        {
            foreach (var id in new[] { patient.Id, doc, "x", new string('z', 2000), "..%2F..%2Fetc", "%C3%A9", "%00" })
            {
                var url = route.Replace("{id}", id, StringComparison.Ordinal);
                if (method == "GET")
                {
                    await ProbeAsync(pro, HttpMethod.Get, url);
                    await ProbeAsync(bearer, HttpMethod.Get, url);
                    continue;
                }

                foreach (var body in id == patient.Id || id == doc ? Bodies : Bodies.Take(2))
                {
                    await ProbeAsync(pro, new HttpMethod(method), url, body);
                    await ProbeAsync(bearer, new HttpMethod(method), url, body);
                }
            }
        }

        // The patient sign-in endpoints (JSON, not FHIR).
        foreach (var body in new[] { "{\"ins\":\"1\\u0000\",\"password\":\"x\",\"totp\":\"1\"}", "{\"ins\":null}", "[]", "{\"ins\":1e999}", new string('{', 3000) })
        {
            foreach (var path in new[] { "/patient/login", "/patient/activate" })
            {
                using var r = await Server.Http(null).PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
                _requests++;
                if ((int)r.StatusCode >= 500)
                {
                    _problems.Add($"POST {path} {body[..Math.Min(40, body.Length)]} → {(int)r.StatusCode}");
                }
            }
        }

        // The patient's export (JSON, not FHIR) and the research extracts' Bulk Data side (their own token).
        foreach (var body in new[] { "{\"passphrase\":null}", "{\"passphrase\":\"x\",\"from\":\"nope\"}", "{\"types\":[1,2]}", "[]", "{\"passphrase\":\"correct horse battery\",\"from\":\"2026-12-31\",\"to\":\"2020-01-01\"}", "{\"passphrase\":\"a\u0000bcdefghijklmnop\"}", new string('[', 3000) })
        {
            using var r = await bearer.PostAsync("/patient/export", new StringContent(body, Encoding.UTF8, "application/json"));
            _requests++;
            if ((int)r.StatusCode is >= 500 or < 400)
            {
                _problems.Add($"POST /patient/export {body[..Math.Min(40, body.Length)]} → {(int)r.StatusCode}");
            }
        }

        var warehouse = Server.Http(null);
        warehouse.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-a-token");
        foreach (var url in new[] { "/research/extracts/x", "/research/extracts/" + new string('z', 2000), "/research/extracts/x/..%2F..%2Fetc", "/research/extracts/x/Patient.ndjson", "/research/extracts/%00" })
        {
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Delete })
            {
                using var r = await warehouse.SendAsync(new HttpRequestMessage(method, url));
                _requests++;
                if ((int)r.StatusCode is >= 500 or < 400)
                {
                    _problems.Add($"{method} {url[..Math.Min(60, url.Length)]} → {(int)r.StatusCode}");
                }
            }
        }

        Assert.True(_problems.Count == 0, $"{_problems.Count} of {_requests} requests failed the rule:\n" + string.Join("\n", _problems.Take(40)));
        Assert.True(_requests > 2000, $"only {_requests} requests");
    }
}

public sealed class BadInputSuiteTests_Sqlite() : BadInputSuiteTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class BadInputSuiteTests_Postgres(PostgresCluster pg) : BadInputSuiteTests(new PostgresStorage(pg, "badinput"));
