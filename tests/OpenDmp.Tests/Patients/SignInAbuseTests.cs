using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Patients;
using OpenDmp.Server.Patients;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Patients;

/// <summary>
/// Sign-in answers never tell whether an account exists or is locked, and a stranger who knows an
/// INS cannot lock its owner out: attempts from a device where the owner signed in before are not
/// held by the lock; attempts from one address are slowed down whatever the account.
/// </summary>
public abstract class SignInAbuseTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        // One address plays both roles here: its backoff is tested on its own below.
        ["PatientAuth:AddressFailuresBeforeBackoff"] = "1000",
        ["PatientAuth:LoginPermitsPerMinute"] = "1000",
    };

    private async Task<(TestPatient Patient, byte[] Secret)> ActivatedAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var code = await Server.WithScopeAsync(sp => sp.GetRequiredService<PatientAuthService>().IssueActivationAsync(patient.Id, null, Actor.Operator, Channels.Admin, CancellationToken.None));
        using var activated = await Server.Http(null).PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = Sessions.PatientPassword });
        var body = await activated.Content.ReadAsStringAsync();
        Assert.True(activated.IsSuccessStatusCode, body);
        return (patient, Sessions.FromBase32(JsonDocument.Parse(body).RootElement.GetProperty("totpSecret").GetString()!));
    }

    private async Task<(HttpStatusCode Status, string Body)> LoginAsync(string ins, string password, string totp, string? device = null)
    {
        using var r = await Server.Http(null).PostAsJsonAsync("/patient/login", new { ins, password, totp, device });
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    private static string Detail(string body) => JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!;

    /// <summary>Regression: a known INS answered 429 "locked until…", an unknown one 401.</summary>
    [Fact]
    public async Task UnknownAndLockedAndWrong_AllAnswerTheSame()
    {
        var (patient, secret) = await ActivatedAsync();
        var step = Totp.StepAt(DateTimeOffset.UtcNow);
        var wrong = await LoginAsync(patient.Ins, "wrong password 1", Totp.Code(secret, step));
        var unknown = await LoginAsync(TestIds.NewIns(), Sessions.PatientPassword, Totp.Code(secret, step));
        for (var i = 0; i < 6; i++)
        {
            await LoginAsync(patient.Ins, "wrong password " + i, Totp.Code(secret, step));
        }

        var locked = await LoginAsync(patient.Ins, Sessions.PatientPassword, Totp.Code(secret, step));
        Assert.All(new[] { wrong, unknown, locked }, r => Assert.Equal(HttpStatusCode.Unauthorized, r.Status));
        Assert.Equal(Detail(wrong.Body), Detail(unknown.Body));
        Assert.Equal(Detail(wrong.Body), Detail(locked.Body));
    }

    /// <summary>Regression: anyone knowing an INS could lock the patient out, repeatedly.</summary>
    [Fact]
    public async Task StrangerLocksTheAccount_TheOwnersKnownDeviceStillSignsIn()
    {
        var (patient, secret) = await ActivatedAsync();
        var step = Totp.StepAt(DateTimeOffset.UtcNow);
        var first = await LoginAsync(patient.Ins, Sessions.PatientPassword, Totp.Code(secret, step));
        Assert.Equal(HttpStatusCode.OK, first.Status);
        var device = JsonDocument.Parse(first.Body).RootElement.GetProperty("device").GetString()!;

        // The stranger, from no known device, fails again and again: the account is locked for unknown devices.
        for (var i = 0; i < 8; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(patient.Ins, "guess " + i, "000000")).Status);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(patient.Ins, Sessions.PatientPassword, Totp.Code(secret, step + 1))).Status);

        // The owner, from their device, signs in; the device gets a new token and the old one stops working.
        // (The locked attempt above was refused without its factors being checked: its code is still unused.)
        var owner = await LoginAsync(patient.Ins, Sessions.PatientPassword, Totp.Code(secret, step + 1), device);
        Assert.True(owner.Status == HttpStatusCode.OK, owner.Body);
        var renewed = JsonDocument.Parse(owner.Body).RootElement.GetProperty("device").GetString()!;
        Assert.NotEqual(device, renewed);
        var hashes = await Server.WithScopeAsync(sp => Task.FromResult(sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().TrustedDevices.Where(d => d.RecordId == patient.Id).Select(d => d.TokenHash).ToList()));
        Assert.Equal([Hash(renewed)], hashes);
    }

    private static string Hash(string token) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));

}

public sealed class SignInAbuseTests_Sqlite() : SignInAbuseTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class SignInAbuseTests_Postgres(PostgresCluster pg) : SignInAbuseTests(new PostgresStorage(pg, "signin"));

/// <summary>One address failing again and again waits longer and longer, whatever the accounts it tries (the answer says nothing about them).</summary>
public sealed class SignInBackoffTests() : ServerTestBase(new SqliteStorage())
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["PatientAuth:AddressFailuresBeforeBackoff"] = "3",
        ["PatientAuth:LoginPermitsPerMinute"] = "1000",
    };

    [Fact]
    public async Task RepeatedFailures_FromOneAddress_AreSlowedDown()
    {
        var http = Server.Http(null);
        for (var i = 0; i < 4; i++)
        {
            using var r = await http.PostAsJsonAsync("/patient/login", new { ins = TestIds.NewIns(), password = "x", totp = "000000" });
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }

        using var slowed = await http.PostAsJsonAsync("/patient/login", new { ins = TestIds.NewIns(), password = "x", totp = "000000" });
        Assert.Equal(HttpStatusCode.TooManyRequests, slowed.StatusCode);
        Assert.Contains("from this address", await slowed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
