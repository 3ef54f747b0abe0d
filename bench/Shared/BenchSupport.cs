using System.Globalization;

namespace OpenDmp.Bench;

/// <summary>Helpers shared by the load drivers: percentiles, ports, readiness, server memory.</summary>
internal static class BenchSupport
{
    public static double P(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p / 100.0 * sorted.Count) - 1)];

    public static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    public static async Task WaitReadyAsync(HttpClient http, string path = "/health/ready")
    {
        for (var i = 0; i < 120; i++)
        {
            try
            {
                using var r = await http.GetAsync(path);
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(500);
        }

        throw new TimeoutException("the server did not become ready");
    }

    public static (long HwmKb, long RssKb) Memory(int pid)
    {
        long hwm = 0, rss = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                hwm = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return (hwm, rss);
    }

    /// <summary>
    /// The bound this machine's cores put on a rate, from the CPU one request costs each process (ms):
    /// as measured, and with a server that would cost nothing.
    /// </summary>
    public static string CpuBound(double serverMs, double databaseMs, double driverMs, string unit) =>
        string.Create(CultureInfo.InvariantCulture, $"the {Environment.ProcessorCount} cores bound the rate at {Environment.ProcessorCount * 1000 / (serverMs + databaseMs + driverMs):F0} {unit}/s, and at {Environment.ProcessorCount * 1000 / (databaseMs + driverMs):F0} with a server that cost nothing");

    /// <summary>
    /// CPU seconds (user and system, /proc/[pid]/stat) of the OpenDMP server process, of all PostgreSQL
    /// processes (SQLite runs inside the server) and of this driver with its receiver; zeros where /proc
    /// cannot be read.
    /// </summary>
    public static (double Server, double Database, double Driver) ProcessesCpu()
    {
        double server = 0, database = 0, driver = 0;
        if (!System.IO.Directory.Exists("/proc"))
        {
            return (0, 0, 0);
        }

        foreach (var dir in System.IO.Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var command = File.ReadAllText(dir + "/cmdline").Replace('\0', ' ');
                var stat = File.ReadAllText(dir + "/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var seconds = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
                if (command.Contains("opendmp.dll serve", StringComparison.Ordinal))
                {
                    server += seconds;
                }
                else if (command.StartsWith("postgres", StringComparison.Ordinal))
                {
                    database += seconds;
                }
                else if (pid == Environment.ProcessId)
                {
                    driver += seconds;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The process ended meanwhile.
            }
        }

        return (server, database, driver);
    }
}
