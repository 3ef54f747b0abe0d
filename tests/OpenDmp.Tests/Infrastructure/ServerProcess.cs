using System.Diagnostics;
using OpenDmp.Server.Cli;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>`opendmp serve` as a process of its own, so that a test can kill it (SIGKILL) mid-work, and the command line on the same data folder.</summary>
public sealed class ServerProcess(string dataDir)
{
    private Process? _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    /// <summary>The lines the server has written so far (standard output and error).</summary>
    public IReadOnlyCollection<string> Output => _output;

    public string DataDir => dataDir;

    public void Start(int port)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "opendmp.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, "serve", "--data", dataDir, "--no-demo", "--urls", $"https://127.0.0.1:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dataDir,
        };
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void Keep(string? line)
    {
        if (line is not null && _output.Count < 10_000)
        {
            _output.Enqueue(line);
        }
    }

    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>Runs an admin command on the data folder; fails the test with its output unless it exits 0.</summary>
    public async Task CliAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", dataDir], null, stdout, stderr);
        Assert.True(code == 0, $"opendmp {string.Join(' ', args)}: exit {code}: {stderr}{stdout}");
    }
}
