using System.Diagnostics;
using System.Net;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// The deployment package (docs/OPERATIONS.md, "Install"): scripts/package.sh builds a self-contained
/// linux-x64 folder and tarball; the packaged binary initialises a data folder, serves (ready,
/// CapabilityStatement, portal) with no .NET installed beside it, and stops cleanly on SIGTERM as
/// systemd stops it; the systemd unit passes systemd-analyze verify.
/// </summary>
public sealed class PackageTests : IAsyncLifetime
{
    private string _out = string.Empty;

    public Task InitializeAsync()
    {
        _out = Path.Combine(Path.GetTempPath(), "opendmp-package-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_out);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(_out, true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task ThePackage_Serves_StopsOnSigterm_AndItsUnitVerifies()
    {
        var (code, output, error) = await RunAsync(Path.Combine(Repository.Root, "scripts", "package.sh"), [_out], TimeSpan.FromMinutes(10), env: ("DOTNET_CLI_TELEMETRY_OPTOUT", "1"));
        Assert.True(code == 0, output + error);
        var folder = Path.Combine(_out, "opendmp");
        var binary = Path.Combine(folder, "opendmp");
        Assert.True(File.Exists(Path.Combine(_out, "opendmp-linux-x64.tar.gz")));
        Assert.True(File.Exists(Path.Combine(folder, "libcoreclr.so")), "the .NET runtime is in the package (self-contained)");
        Assert.True(File.Exists(Path.Combine(folder, "opendmp.service")) && File.Exists(Path.Combine(folder, "OPERATIONS.md")));

        // The unit, pointed at this package, verifies without a warning.
        var unit = Path.Combine(_out, "opendmp.service");
        await File.WriteAllTextAsync(unit, (await File.ReadAllTextAsync(Path.Combine(folder, "opendmp.service"))).Replace("/opt/opendmp/opendmp", binary, StringComparison.Ordinal));
        (code, output, error) = await RunAsync("systemd-analyze", ["verify", unit], TimeSpan.FromMinutes(1));
        Assert.True(code == 0 && error.Trim().Length == 0, $"systemd-analyze verify: {code} {output} {error}");

        // init, then serve with a clean environment (no DOTNET_ROOT: the runtime is the package's own).
        var data = Path.Combine(_out, "data");
        (code, output, error) = await RunAsync(binary, ["init", "--data", data], TimeSpan.FromMinutes(2), clean: true);
        Assert.True(code == 0, output + error);
        var port = Wait.FreePort();
        using var server = Start(binary, ["serve", "--no-demo", "--data", data, "--urls", $"https://127.0.0.1:{port}"]);
        var stdout = server.StandardOutput.ReadToEndAsync();
        var stderr = server.StandardError.ReadToEndAsync();
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }) { BaseAddress = new Uri($"https://127.0.0.1:{port}") };
        try
        {
            await Wait.UntilAsync(async () =>
            {
                try
                {
                    return (await http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromMinutes(2), () => server.HasExited ? "the packaged server exited" : "not ready");
            Assert.Contains("CapabilityStatement", await http.GetStringAsync("/fhir/metadata"), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/patient/connexion")).StatusCode);
        }
        finally
        {
            // As systemd stops it.
            await RunAsync("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        }

        using var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await server.WaitForExitAsync(stopped.Token);
        Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode} on SIGTERM: {await stdout} {await stderr}");
        Assert.Contains("serving on", await stdout, StringComparison.Ordinal);
    }

    private static Process Start(string file, string[] args, bool clean = true, params (string Name, string Value)[] env)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        if (clean)
        {
            foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal) || k.StartsWith("OPENDMP_", StringComparison.Ordinal)).ToList())
            {
                psi.Environment.Remove(name);
            }
        }

        foreach (var (name, value) in env)
        {
            psi.Environment[name] = value;
        }

        return Process.Start(psi)!;
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(string file, string[] args, TimeSpan timeout, bool clean = false, params (string Name, string Value)[] env)
    {
        using var p = Start(file, args, clean, env);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }
}
