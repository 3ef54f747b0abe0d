using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Pki;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Pki;

/// <summary>
/// A stolen card stops working: revocation (one certificate, or all of a professional's) and
/// deactivation are refused at the TLS handshake and on connections already open, published in the
/// CA's CRL (checked here by openssl), and enforced on secure-messaging signers.
/// </summary>
public abstract class RevocationTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Pki:RevocationRefreshSeconds"] = "1" };

    private async Task<(int Code, string Out)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private static async Task<HttpStatusCode?> StatusAsync(HttpClient http, string url)
    {
        try
        {
            using var response = await http.GetAsync(url);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            // The TLS handshake was refused.
            return null;
        }
    }

    [Fact]
    public async Task RevokedCard_IsRefusedOnItsOpenConnection_AndAtEveryNewHandshake()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var url = $"/fhir/DocumentReference?patient={patient.Id}";
        var open = Server.Http(gp.Certificate);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(open, url));

        var (code, output) = await CliAsync("pki", "revoke", "--rpps", gp.Rpps, "--reason", "keyCompromise");
        Assert.True(code == 0, output);

        // The connection opened before the revocation stays open: its next request is a 401 that says why.
        HttpResponseMessage? refused = null;
        await Wait.UntilAsync(async () =>
        {
            var r = await open.GetAsync(url);
            if (r.StatusCode == HttpStatusCode.OK)
            {
                r.Dispose();
                return false;
            }

            refused = r;
            return true;
        }, TimeSpan.FromSeconds(15));
        using (refused)
        {
            await FhirAssert.OutcomeAsync(refused!, HttpStatusCode.Unauthorized, "revoked");
        }

        // A new connection with the same certificate does not get past the handshake.
        Assert.Null(await StatusAsync(Server.Http(gp.Certificate), url));

        // A new card, issued after the revocation (certificate times have whole seconds), works.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var fresh = RunningServer.Reload(Server.Ca.IssueProfessional(gp.Rpps, gp.Display, null, Path.Combine(Server.Data.Root, "new-card"), TimeProvider.System));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(Server.Http(fresh), url));
    }

    [Fact]
    public async Task RevokedSerial_IsInTheCrl_WhichOpensslVerifies()
    {
        var gp = await Server.AddProfessionalAsync();
        var dir = Path.Combine(Server.Data.Root, "issued");
        var (code, output) = await CliAsync("pki", "issue-professional", "--rpps", gp.Rpps, "--out", dir);
        Assert.True(code == 0, output);
        using var issued = X509Certificate2.CreateFromPemFile(Path.Combine(dir, gp.Rpps + ".crt"), Path.Combine(dir, gp.Rpps + ".key"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(Server.Http(RunningServer.Reload(issued)), "/fhir/metadata"));
        (code, output) = await CliAsync("pki", "revoke", "--serial", issued.SerialNumber, "--reason", "superseded");
        Assert.True(code == 0, output);

        var crlFile = Path.Combine(dir, "ca.crl");
        await Wait.UntilAsync(async () =>
        {
            using var r = await Server.Http(null).GetAsync("/pki/ca.crl");
            if (r.StatusCode != HttpStatusCode.OK)
            {
                return false;
            }

            await File.WriteAllBytesAsync(crlFile, await r.Content.ReadAsByteArrayAsync());
            return (await RunAsync("openssl", "crl", "-inform", "DER", "-in", crlFile, "-noout", "-text")).Output.Contains(issued.SerialNumber, StringComparison.OrdinalIgnoreCase);
        }, TimeSpan.FromSeconds(15));

        var (exit, text) = await RunAsync("openssl", "crl", "-inform", "DER", "-in", crlFile, "-CAfile", Server.Data.CaCertificate, "-noout");
        Assert.True(exit == 0 && text.Contains("verify OK", StringComparison.Ordinal), text);
        await RunAsync("openssl", "crl", "-inform", "DER", "-in", crlFile, "-out", crlFile + ".pem");
        (exit, text) = await RunAsync("openssl", "verify", "-crl_check", "-CAfile", Server.Data.CaCertificate, "-CRLfile", crlFile + ".pem", Path.Combine(dir, gp.Rpps + ".crt"));
        Assert.True(exit != 0 && text.Contains("certificate revoked", StringComparison.Ordinal), text);
    }

    [Fact]
    public async Task DeactivatedProfessional_CannotAuthenticate_UntilReactivatedWithANewCard()
    {
        var gp = await Server.AddProfessionalAsync();
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(Server.Http(gp.Certificate), "/fhir/Practitioner"));
        var (code, output) = await CliAsync("professional", "deactivate", "--rpps", gp.Rpps);
        Assert.True(code == 0, output);
        await Wait.UntilAsync(async () => await StatusAsync(Server.Http(gp.Certificate), "/fhir/Practitioner") is null, TimeSpan.FromSeconds(15));
        (code, output) = await CliAsync("professional", "deactivate", "--rpps", gp.Rpps);
        Assert.Equal(3, code);
        (code, output) = await CliAsync("professional", "reactivate", "--rpps", gp.Rpps);
        Assert.True(code == 0, output);
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        var fresh = RunningServer.Reload(Server.Ca.IssueProfessional(gp.Rpps, gp.Display, null, Path.Combine(Server.Data.Root, "new-card"), TimeProvider.System));
        await Wait.UntilAsync(async () => await StatusAsync(Server.Http(fresh), "/fhir/Practitioner") == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        Assert.Null(await StatusAsync(Server.Http(gp.Certificate), "/fhir/Practitioner"));
    }

    [Fact]
    public async Task DepositSignedWithARevokedCertificate_IsRejected()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var signer = RunningServer.Reload(Server.Ca.IssueProfessional(gp.Rpps, gp.Display, "dr@cabinet.test", Path.Combine(Server.Data.Root, "signer"), TimeProvider.System));
        var keys = Server.Services.GetRequiredService<MessagingKeys>();
        Task<InboundResult> DepositAsync() => Server.WithScopeAsync(sp => sp.GetRequiredService<DepositProcessor>().ProcessAsync(Deposits.Message("dr@cabinet.test", "depot@opendmp.test",
            Xdm.FromBundle(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR"), "application/pdf", "CR")]), patient.Ins, Ins.NirSystem[8..]),
            signer, keys.Platform), CancellationToken.None));
        Assert.Equal("filed", (await DepositAsync()).Row.Outcome);

        var (code, output) = await CliAsync("pki", "revoke", "--rpps", gp.Rpps);
        Assert.True(code == 0, output);
        await Wait.UntilAsync(() => Task.FromResult(Server.Services.GetRequiredService<RevocationList>().Check(signer) is not null), TimeSpan.FromSeconds(15));
        var refused = (await DepositAsync()).Row;
        Assert.Equal("rejected", refused.Outcome);
        Assert.StartsWith("Revoked:", refused.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CrlWrittenByManyWritersAtOnce_EveryWriteSucceeds_AndTheFileIsACompleteCrl()
    {
        // The server's refresh loop and an admin command (another process) write the same file.
        var path = Path.Combine(Server.Data.Root, "pki", "concurrent.crl");
        var writers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 10; i++)
            {
                await Server.WithScopeAsync(sp => sp.GetRequiredService<CertificateService>().WriteCrlAsync(Server.Ca, path, CancellationToken.None));
            }
        }));
        await Task.WhenAll(writers);

        var (exit, text) = await RunAsync("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", Server.Data.CaCertificate, "-noout");
        Assert.True(exit == 0 && text.Contains("verify OK", StringComparison.Ordinal), text);
        Assert.Empty(System.IO.Directory.GetFiles(Path.GetDirectoryName(path)!, "concurrent.crl*.tmp"));
    }

    private static async Task<(int Exit, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, output);
    }
}

public sealed class RevocationTests_Sqlite() : RevocationTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class RevocationTests_Postgres(PostgresCluster pg) : RevocationTests(new PostgresStorage(pg, "revocation"));
