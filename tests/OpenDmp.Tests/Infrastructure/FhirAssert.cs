using System.Net;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Tests.Infrastructure;

public static class FhirAssert
{
    /// <summary>Asserts the status and that the body is an OperationOutcome whose diagnostics contain the text.</summary>
    public static async Task<OperationOutcome> OutcomeAsync(HttpResponseMessage response, HttpStatusCode status, string contains)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.StartsWith("application/fhir+json", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        var oo = FhirJson.Parse<OperationOutcome>(body);
        var diagnostics = string.Join(" | ", oo.Issue.Select(i => i.Diagnostics));
        Assert.Contains(contains, diagnostics, StringComparison.OrdinalIgnoreCase);
        return oo;
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/fhir+json");

    public static StringContent Json(Resource resource) => Json(FhirJson.Serialize(resource));

    public static async Task<Bundle> BundleAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return FhirJson.Parse<Bundle>(body);
    }

    /// <summary>ITI-68 as a document consumer does it: the bytes, asking for any content type but FHIR's.</summary>
    public static async Task<string> RetrieveTextAsync(HttpClient http, string url)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, url);
        req.Headers.Accept.ParseAdd("*/*");
        using var response = await http.SendAsync(req);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    public static JsonDocument JsonOf(string body) => JsonDocument.Parse(body);
}
