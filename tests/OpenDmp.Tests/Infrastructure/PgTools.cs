using System.Diagnostics;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>The Debian PostgreSQL binaries and the tools around them (pgBackRest), run as the postgres user when the tests run as root.</summary>
public static class PgTools
{
    public static bool AsPostgresUser => Environment.UserName == "root";

    /// <summary>The newest /usr/lib/postgresql/N/bin holding initdb.</summary>
    public static string? FindBinaries()
    {
        if (!Directory.Exists("/usr/lib/postgresql"))
        {
            return null;
        }

        return Directory.GetDirectories("/usr/lib/postgresql")
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")))
            .OrderByDescending(d => d, StringComparer.Ordinal)
            .FirstOrDefault();
    }

    /// <summary>A folder the server's user owns.</summary>
    public static async Task<string> CreateDirectoryAsync(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        if (AsPostgresUser)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", dir], false);
        }

        return dir;
    }

    /// <summary>Runs a tool (as postgres when <paramref name="asPostgres"/>); its standard output, or an exception with what it printed.</summary>
    public static async Task<string> RunAsync(string file, string[] args, bool asPostgres)
    {
        var psi = asPostgres ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", file, .. args]) : new ProcessStartInfo(file, args);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.WorkingDirectory = Path.GetTempPath();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({p.ExitCode}): {await stderr} {await stdout}");
        }

        return await stdout;
    }
}
