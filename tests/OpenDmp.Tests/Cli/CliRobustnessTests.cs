using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Cli;

/// <summary>The administration tool on a new machine: bad input is exit code 2 with a sentence, a mistyped data folder is refused, a folder filled by hand serves.</summary>
public sealed class CliRobustnessTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "opendmp-cli-" + Guid.NewGuid().ToString("N")[..8]);

    private static async Task<(int Code, string Out, string Err)> CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync(args, null, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("professional", "add", "--rpps", "10000000017")]
    [InlineData("record", "close")]
    [InlineData("audit", "verify", "--unknown-option")]
    [InlineData("pki", "revoke", "--reason")]
    public async Task InvalidCommandLine_Exits2_WithAMessage(params string[] args)
    {
        var (code, _, err) = await CliAsync([.. args, "--data", _dir]);
        Assert.Equal(2, code);
        Assert.Contains("error:", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir), "a refused command must not create the data folder");
    }

    /// <summary>Regression: a mistyped --data silently created an empty data folder, which "audit verify" then reported intact.</summary>
    [Theory]
    [InlineData("audit", "verify")]
    [InlineData("patient", "activation", "--ins", "156037505602424")]
    [InlineData("import", "fhir", "x.json")]
    [InlineData("terminology", "import", "x.json")]
    [InlineData("import", "directory", "--rpps", "x.txt")]
    [InlineData("identity", "duplicates")]
    public async Task MissingDataFolder_IsRefused_NotCreated(params string[] args)
    {
        var (code, _, err) = await CliAsync([.. args, "--data", _dir]);
        Assert.Equal(2, code);
        Assert.Contains("does not exist", err, StringComparison.Ordinal);
        Assert.Contains("opendmp init", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir));
    }

    /// <summary>One INS value under two systems is never guessed; an INS whose sex digit contradicts the declared sex is refused.</summary>
    [Fact]
    public async Task AnInsUnderTwoSystems_IsAskedWhich_AndTheSexDigitIsChecked()
    {
        Assert.Equal(0, (await CliAsync("init", "--data", _dir)).Code);
        var rpps = TestIds.NewRpps();
        var ins = TestIds.NewIns();
        Assert.Equal(0, (await CliAsync("professional", "add", "--rpps", rpps, "--profession", "10", "--specialty", "SM54", "--family", "Martin", "--given", "Claire", "--data", _dir)).Code);
        foreach (var system in new[] { "nir", "test" })
        {
            var (code, _, err) = await CliAsync("patient", "add", "--ins", ins, "--ins-system", system, "--family", "TESTDOUBLE", "--given", "Anne", "--birth-date", "1970-05-17", "--sex", "F", "--data", _dir);
            Assert.True(code == 0, err);
        }

        var (ambiguous, _, why) = await CliAsync("record", "open", "--ins", ins, "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "office", "--data", _dir);
        Assert.Equal(2, ambiguous);
        Assert.Contains("registered under several systems", why, StringComparison.Ordinal);
        var (chosen, _, err2) = await CliAsync("record", "open", "--ins", ins, "--ins-system", "test", "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "office", "--data", _dir);
        Assert.True(chosen == 0, err2);

        var (wrongSex, _, sexErr) = await CliAsync("patient", "add", "--ins", ins, "--ins-system", "demo", "--family", "TESTDOUBLE", "--given", "Paul", "--birth-date", "1970-05-17", "--sex", "M", "--data", _dir);
        Assert.Equal(2, wrongSex);
        Assert.Contains("the digit of a woman", sexErr, StringComparison.Ordinal);
    }

    /// <summary>Regression: "serve" without --no-demo on a data folder filled through the command line crashed at start (DemoWorld.Summary.Describe, index out of range).</summary>
    [Fact]
    public async Task Serve_OnAFolderFilledThroughTheCommandLine_Starts()
    {
        Assert.Equal(0, (await CliAsync("init", "--data", _dir)).Code);
        var rpps = TestIds.NewRpps();
        var ins = TestIds.NewIns();
        foreach (var args in new[]
        {
            new[] { "professional", "add", "--rpps", rpps, "--profession", "10", "--specialty", "SM54", "--family", "Martin", "--given", "Claire" },
            ["patient", "add", "--ins", ins, "--family", "TESTSERVE", "--given", "Anne", "--birth-date", "1970-05-17", "--sex", "F"],
            ["record", "open", "--ins", ins, "--treating-physician", rpps, "--consent-collected-by", rpps, "--channel", "office"],
        })
        {
            var (code, output, err) = await CliAsync([.. args, "--data", _dir]);
            Assert.True(code == 0, $"{string.Join(' ', args)}: {err}{output}");
        }

        var port = Wait.FreePort();
        var lines = new ConcurrentQueue<string>();
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "opendmp.dll"), "serve", "--data", _dir, "--urls", $"https://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        using var server = Process.Start(psi)!;
        server.OutputDataReceived += (_, e) => lines.Enqueue(e.Data ?? string.Empty);
        server.ErrorDataReceived += (_, e) => lines.Enqueue(e.Data ?? string.Empty);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            await Wait.UntilAsync(() => Task.FromResult(server.HasExited || lines.Any(l => l.Contains("Press Ctrl+C to stop.", StringComparison.Ordinal))), TimeSpan.FromSeconds(60), () => string.Join("\n", lines));
            Assert.False(server.HasExited, "the server stopped: " + string.Join("\n", lines));
            Assert.True(lines.Any(l => l.Contains("No demo world", StringComparison.Ordinal)), string.Join("\n", lines));
            using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
            using var http = new HttpClient(handler);
            using var live = await http.GetAsync($"https://127.0.0.1:{port}/health/live");
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }
}
