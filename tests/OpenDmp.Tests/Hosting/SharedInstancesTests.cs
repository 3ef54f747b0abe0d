using System.Net;
using System.Text.RegularExpressions;
using Npgsql;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// Two instances on one PostgreSQL database serve the same users: a patient signed in on one is
/// signed in on the other, and a form issued by one (antiforgery token) is accepted by the other,
/// because the data-protection key ring lives in the database — sealed, never in clear; a VIHF
/// assertion used on one is a replay on the other (vihf_assertions).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed partial class SharedInstancesTests(PostgresCluster pg)
{
    [Fact]
    public async Task APatientSession_AndAFormIssuedByOneInstance_AreHonouredByTheOther()
    {
        var cs = await pg.CreateDatabaseAsync("sharedinstances");
        await using var first = await RunningServer.StartAsync(cs, ownsData: false);
        await using var second = await RunningServer.StartAsync(cs, shared: first.Data);
        var gp = await first.AddProfessionalAsync();
        var patient = await first.AddPatientAsync(gp);
        var (_, cookie) = await first.LoginPatientAsync(patient);

        // The page with the sign-out form, from the first instance: its antiforgery cookie and token.
        var onFirst = first.Http(null, followRedirects: false);
        onFirst.DefaultRequestHeaders.Add("Cookie", cookie);
        using var page = await onFirst.GetAsync("/patient/documents");
        var html = await page.Content.ReadAsStringAsync();
        Assert.True(page.StatusCode == HttpStatusCode.OK, html[..Math.Min(300, html.Length)]);
        var token = TokenField().Match(html).Groups[1].Value;
        var antiforgery = page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("opendmp_af=", StringComparison.Ordinal)).Split(';')[0];
        Assert.NotEmpty(token);

        // The session works on the second instance.
        var onSecond = second.Http(null, followRedirects: false);
        onSecond.DefaultRequestHeaders.Add("Cookie", cookie + "; " + antiforgery);
        using (var same = await onSecond.GetAsync("/patient/documents"))
        {
            Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        }

        // The form posted to the second instance is accepted: the patient is signed out on both.
        using (var signOut = await onSecond.PostAsync("/patient/deconnexion", new FormUrlEncodedContent([new("__RequestVerificationToken", WebUtility.HtmlDecode(token))])))
        {
            Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
            Assert.Contains("sortie=1", signOut.Headers.Location!.ToString(), StringComparison.Ordinal);
        }

        using (var after = await onFirst.GetAsync("/patient/documents"))
        {
            Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        }

        // The key ring is in the database, and sealed.
        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT xml FROM data_protection_keys", conn);
        var keys = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                keys.Add(reader.GetString(0));
            }
        }

        Assert.Single(keys);
        Assert.Contains("sealedKey", keys[0], StringComparison.Ordinal);
        Assert.DoesNotContain("<masterKey", keys[0], StringComparison.Ordinal);
        Assert.Contains(nameof(OpenDmp.Server.Hosting.MasterKeyXmlDecryptor), keys[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task AVihfAssertion_UsedOnOneInstance_IsAReplayOnTheOther()
    {
        var cs = await pg.CreateDatabaseAsync("sharedvihf");
        var audience = new Dictionary<string, string?> { ["Server:PublicBaseUrl"] = "https://dmp.example.test" };
        await using var first = await RunningServer.StartAsync(cs, audience, ownsData: false);
        await using var second = await RunningServer.StartAsync(cs, audience, shared: first.Data);
        var gp = await first.AddProfessionalAsync();
        var patient = await first.AddPatientAsync(gp);
        var (finess, structure, _) = await first.AddStructureAsync("Centre de santé partagé (test)");
        var now = DateTimeOffset.UtcNow;
        var header = Vihfs.Header(new Vihfs.Vihf(gp.Rpps, "10", "1" + finess, "https://dmp.example.test", now.AddMinutes(-1), now.AddMinutes(10), Ins: patient.Ins), structure);
        async Task<(HttpStatusCode Status, string Body)> StatusAsync(RunningServer server)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Patient/{patient.Id}/$access-status");
            request.Headers.Add("X-OpenDMP-VIHF", header);
            using var response = await server.Http(structure).SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        var (status, body) = await StatusAsync(first);
        Assert.True(status == HttpStatusCode.OK, body);
        (status, body) = await StatusAsync(second);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("already used (replay)", body, StringComparison.Ordinal);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}
