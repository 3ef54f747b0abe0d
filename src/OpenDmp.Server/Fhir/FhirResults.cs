using System.Buffers;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Server.Fhir;

/// <summary>Writing FHIR JSON responses: resources, search bundles, OperationOutcomes.</summary>
public static class FhirResults
{
    public const string ContentType = "application/fhir+json; charset=utf-8";

    /// <summary>The FHIR base of absolute URLs in answers: the configured public URL (Server:PublicBaseUrl), else the server's first address — never the client's Host header.</summary>
    public static string BaseUrl(HttpRequest request) => BaseUrl(request.HttpContext.RequestServices);

    /// <summary>The same, for background services (notifications name resources by absolute URL).</summary>
    public static string BaseUrl(IServiceProvider services)
    {
        var options = services.GetRequiredService<OpenDmp.Core.Fhir.ServerOptions>();
        if (options.FhirBase is { } configured)
        {
            return configured;
        }

        var first = services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        return (first ?? "https://localhost").TrimEnd('/') + "/fhir";
    }

    /// <summary>Stored DocumentReferences point to their content as "Binary/{id}"; clients get the absolute URL.</summary>
    public static string Absolutize(string json, string baseUrl) =>
        json.Replace("\"url\":\"Binary/", "\"url\":\"" + baseUrl + "/Binary/", StringComparison.Ordinal);

    public static IResult Resource(string json, HttpRequest request, int status = 200, string? versionId = null, string? location = null) =>
        new RawFhirResult(Absolutize(json, BaseUrl(request)), status, versionId, location);

    /// <summary>A FHIR JSON text as it is (reference data: no Binary URLs to make absolute).</summary>
    public static IResult Json(string json, string? versionId = null) => new RawFhirResult(json, 200, versionId, null);

    public static IResult Resource(Base resource, int status = 200) => new RawFhirResult(FhirJson.Serialize(resource), status, null, null);

    public static IResult Outcome(int status, OperationOutcome.IssueType code, string message, string? expression = null, string? correlationId = null)
    {
        var oo = new OperationOutcome();
        var issue = new OperationOutcome.IssueComponent
        {
            Severity = status >= 500 ? OperationOutcome.IssueSeverity.Fatal : OperationOutcome.IssueSeverity.Error,
            Code = code,
            Diagnostics = message,
        };
        if (expression is not null)
        {
            issue.Expression = [expression];
        }

        oo.Issue.Add(issue);
        if (correlationId is not null)
        {
            oo.Id = correlationId;
        }

        return Resource(oo, status);
    }

    /// <summary>A searchset Bundle built around the stored JSON of each hit (no re-serialisation).</summary>
    public static IResult SearchSet(SearchPage page, HttpRequest request)
    {
        var baseUrl = BaseUrl(request);
        var buffer = new ArrayBufferWriter<byte>(4096 + (page.Hits.Sum(h => h.Json.Length) * 11 / 10));
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("resourceType", "Bundle");
            w.WriteString("id", Guid.NewGuid().ToString());
            w.WriteStartObject("meta");
            w.WriteString("lastUpdated", DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WriteString("type", "searchset");
            if (page.Total is { } total)
            {
                w.WriteNumber("total", total);
            }

            w.WriteStartArray("link");
            WriteLink(w, "self", PageUrl(request, baseUrl, page.Offset, page.Count));
            // _count=0 asks for no entry (a count at most): there is no next page to follow.
            if (page.HasMore && page.Count > 0)
            {
                WriteLink(w, "next", PageUrl(request, baseUrl, page.Offset + page.Count, page.Count));
            }

            if (page.Offset > 0)
            {
                WriteLink(w, "previous", PageUrl(request, baseUrl, Math.Max(0, page.Offset - page.Count), page.Count));
            }

            w.WriteEndArray();
            var hasEntries = page.Hits.Count > 0 || page.Notice is not null;
            if (hasEntries)
            {
                // FHIR JSON has no empty arrays: no hits, no "entry".
                w.WriteStartArray("entry");
            }

            if (page.Notice is { } notice)
            {
                var oo = new OperationOutcome { Id = "notice" };
                oo.Issue.Add(new OperationOutcome.IssueComponent { Severity = OperationOutcome.IssueSeverity.Information, Code = OperationOutcome.IssueType.Informational, Diagnostics = notice });
                w.WriteStartObject();
                w.WritePropertyName("resource");
                w.WriteRawValue(FhirJson.Serialize(oo), skipInputValidation: true);
                w.WriteStartObject("search");
                w.WriteString("mode", "outcome");
                w.WriteEndObject();
                w.WriteEndObject();
            }

            foreach (var hit in page.Hits)
            {
                w.WriteStartObject();
                w.WriteString("fullUrl", $"{baseUrl}/{hit.ResourceType}/{hit.Id}");
                w.WritePropertyName("resource");
                w.WriteRawValue(Absolutize(hit.Json, baseUrl), skipInputValidation: true);
                w.WriteStartObject("search");
                w.WriteString("mode", "match");
                if (hit.DistanceKm is { } km)
                {
                    // The distance from the centre of a near search (FHIR location-distance, on the entry's search).
                    w.WriteStartArray("extension");
                    w.WriteStartObject();
                    w.WriteString("url", "http://hl7.org/fhir/StructureDefinition/location-distance");
                    w.WriteStartObject("valueDistance");
                    w.WriteNumber("value", Math.Round((decimal)km, 3));
                    w.WriteString("unit", "km");
                    w.WriteString("system", "http://unitsofmeasure.org");
                    w.WriteString("code", "km");
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndArray();
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            if (hasEntries)
            {
                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return new RawFhirResult(Encoding.UTF8.GetString(buffer.WrittenSpan), 200, null, null);
    }

    private static void WriteLink(Utf8JsonWriter w, string relation, string url)
    {
        w.WriteStartObject();
        w.WriteString("relation", relation);
        w.WriteString("url", url);
        w.WriteEndObject();
    }

    private static string PageUrl(HttpRequest request, string baseUrl, int offset, int count)
    {
        var type = request.Path.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? string.Empty;
        var parts = request.Query
            .Where(q => q.Key is not ("_offset" or "_count"))
            .SelectMany(q => q.Value.Select(v => Uri.EscapeDataString(q.Key) + "=" + Uri.EscapeDataString(v ?? string.Empty)))
            .Append("_count=" + count.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append("_offset=" + offset.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return $"{baseUrl}/{type}?{string.Join('&', parts)}";
    }

    private sealed class RawFhirResult(string json, int status, string? versionId, string? location) : IResult
    {
        public async System.Threading.Tasks.Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = status;
            response.ContentType = ContentType;
            if (versionId is not null)
            {
                response.Headers.ETag = $"W/\"{versionId}\"";
            }

            if (location is not null)
            {
                response.Headers.Location = location;
            }

            await response.WriteAsync(json, httpContext.RequestAborted);
        }
    }
}
