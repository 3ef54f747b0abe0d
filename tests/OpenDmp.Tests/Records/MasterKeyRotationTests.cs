using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Records;

/// <summary>
/// Rotating the master key (docs/OPERATIONS.md): a new key, the previous one kept until every
/// instance runs on the new one, record keys re-wrapped — including those an instance still running
/// on the old key wrapped meanwhile — and the previous key deleted only when nothing depends on it.
/// Every document stays readable across restarts; no step leaves a key under a deleted master key.
/// </summary>
public sealed class MasterKeyRotationTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    public async Task InitializeAsync() => _server = await RunningServer.StartAsync(null, ownsData: false);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_server.Data.Root, true);
    }

    [Fact]
    public async Task RotateThenRetire_KeepsEveryDocumentReadable_AndRefusesToDropAKeyStillNeeded()
    {
        var gp = await _server.AddProfessionalAsync();
        var first = await _server.AddPatientAsync(gp);
        var before = await _server.SubmitAsync(gp, first, Note("avant la rotation"));
        var file = Path.Combine(_server.Data.Root, "keys", "master.key");
        var oldKey = await File.ReadAllBytesAsync(file);

        var (code, output, error) = await CliAsync("keys", "rotate-master");
        Assert.True(code == 0, error);
        Assert.Contains("1 record key(s)", output, StringComparison.Ordinal);
        Assert.NotEqual(oldKey, await File.ReadAllBytesAsync(file));
        Assert.Equal(oldKey, await File.ReadAllBytesAsync(MasterKeyRotation.PreviousOf(file)));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        // A second rotation before the first is finished is refused.
        (code, _, error) = await CliAsync("keys", "rotate-master");
        Assert.True(code == 3 && error.Contains("retire-previous", StringComparison.Ordinal), error);

        // The running instance still holds the old key: the record it opens now is wrapped under it.
        var second = await _server.AddPatientAsync(gp);
        var during = await _server.SubmitAsync(gp, second, Note("pendant la rotation"));

        // Restarted on the new key (with the previous one), it reads both.
        await RestartAsync();
        await AssertReadableAsync(gp, before, "avant la rotation");
        await AssertReadableAsync(gp, during, "pendant la rotation");

        // A key under neither master key (a key store restored wrongly): retiring is refused, the previous key kept.
        await _server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            db.RecordKeys.Add(new RecordKey { RecordId = "orphan-record", WrappedKey = KeyRing.Seal(RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32), "record-key:orphan-record"u8), CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync();
            return 0;
        });
        (code, _, error) = await CliAsync("keys", "retire-previous");
        Assert.True(code == 3 && error.Contains("orphan-record", StringComparison.Ordinal), error);
        Assert.True(File.Exists(MasterKeyRotation.PreviousOf(file)));
        await _server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            db.RecordKeys.Remove(db.RecordKeys.Single(k => k.RecordId == "orphan-record"));
            await db.SaveChangesAsync();
            return 0;
        });

        // Retired (the straggler was re-wrapped by the refused attempt already: re-wrapping is always
        // safe): the previous key is gone, and everything still opens without it.
        (code, output, error) = await CliAsync("keys", "retire-previous");
        Assert.True(code == 0, error);
        Assert.Contains("2 already under the current key", output, StringComparison.Ordinal);
        Assert.False(File.Exists(MasterKeyRotation.PreviousOf(file)));
        await RestartAsync();
        await AssertReadableAsync(gp, before, "avant la rotation");
        await AssertReadableAsync(gp, during, "pendant la rotation");

        // The patient still signs in (the account's secret is sealed under the record key) and the portal's forms work.
        var (_, cookie) = await _server.LoginPatientAsync(second);
        var portal = _server.Http(null, followRedirects: false);
        portal.DefaultRequestHeaders.Add("Cookie", cookie);
        using var page = await portal.GetAsync("/patient/documents");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    private static DocumentToSubmit Note(string text) => new(Encoding.UTF8.GetBytes(text), "text/plain", "Note " + text, FormatCode: "urn:ihe:iti:xds-sd:text:2008");

    private async Task AssertReadableAsync(TestProfessional gp, string docId, string text)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Binary/{docId}") { Headers = { { "Accept", "text/plain" } } };
        using var response = await _server.Http(gp.Certificate).SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(text, await response.Content.ReadAsStringAsync());
    }

    private async Task RestartAsync()
    {
        var data = _server.Data;
        await _server.DisposeAsync();
        _server = await RunningServer.StartAsync(null, shared: data, ownsData: false);
    }

    private async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", _server.Data.Root], _server.Config, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
