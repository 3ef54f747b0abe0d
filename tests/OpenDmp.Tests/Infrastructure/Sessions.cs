using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Hl7.Fhir.Model;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Patients;
using OpenDmp.Server.Patients;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>What most API tests do first: file documents as a professional, sign in as the patient.</summary>
public static class Sessions
{
    public const string PatientPassword = "correct horse battery 9";

    /// <summary>Files the documents through ITI-65 as <paramref name="author"/>; returns the id of the first DocumentReference.</summary>
    public static async Task<string> SubmitAsync(this RunningServer server, TestProfessional author, TestPatient patient, params DocumentToSubmit[] docs)
    {
        using var response = await server.Http(author.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, author.Rpps, author.Display, docs)));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var bundle = FhirJson.Parse<Bundle>(body);
        return bundle.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
    }

    /// <summary>Activation then login as the patient: an HTTPS client without certificate carrying the bearer token, and the portal's session cookie ("name=value").</summary>
    public static async Task<(HttpClient Http, string Cookie)> LoginPatientAsync(this RunningServer server, TestPatient patient)
    {
        var code = await server.WithScopeAsync(sp => sp.GetRequiredService<PatientAuthService>().IssueActivationAsync(patient.Id, null, Actor.Operator, Channels.Admin, CancellationToken.None));
        var http = server.Http(null);
        using var activate = await http.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = PatientPassword });
        var body = await activate.Content.ReadAsStringAsync();
        Assert.True(activate.IsSuccessStatusCode, body);
        var secret = FromBase32(JsonDocument.Parse(body).RootElement.GetProperty("totpSecret").GetString()!);
        var totp = Totp.Code(secret, Totp.StepAt(DateTimeOffset.UtcNow));
        using var login = await http.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = PatientPassword, totp });
        var loginBody = await login.Content.ReadAsStringAsync();
        Assert.True(login.IsSuccessStatusCode, loginBody);
        var token = JsonDocument.Parse(loginBody).RootElement.GetProperty("access_token").GetString()!;
        var cookie = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(PatientAuthService.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
        var client = server.Http(null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return (client, cookie.Split(';')[0]);
    }

    /// <summary>Adds a legal representative to the patient (operator), activates their account and signs them in: an HTTPS client carrying their bearer token.</summary>
    public static async Task<HttpClient> LoginRepresentativeAsync(this RunningServer server, TestPatient patient, string name = "Paul Parent")
    {
        var (repId, code) = await server.WithScopeAsync(sp => sp.GetRequiredService<PatientAuthService>().AddRepresentativeAsync(patient.Id, name, "parent", null, null, Actor.Operator, Channels.Admin, CancellationToken.None));
        var http = server.Http(null);
        using var activate = await http.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = PatientPassword, representative = repId });
        var body = await activate.Content.ReadAsStringAsync();
        Assert.True(activate.IsSuccessStatusCode, body);
        var secret = FromBase32(JsonDocument.Parse(body).RootElement.GetProperty("totpSecret").GetString()!);
        using var login = await http.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = PatientPassword, totp = Totp.Code(secret, Totp.StepAt(DateTimeOffset.UtcNow)), representative = repId });
        var loginBody = await login.Content.ReadAsStringAsync();
        Assert.True(login.IsSuccessStatusCode, loginBody);
        var client = server.Http(null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", JsonDocument.Parse(loginBody).RootElement.GetProperty("access_token").GetString());
        return client;
    }

    public static byte[] FromBase32(string s)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (var c in s)
        {
            buffer = (buffer << 5) | alphabet.IndexOf(c, StringComparison.Ordinal);
            bits += 5;
            if (bits >= 8)
            {
                bytes.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }

        return [.. bytes];
    }
}
