using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>
/// A three-node PostgreSQL cluster managed by Patroni with etcd (Debian packages), synchronous
/// replication on, on loopback ports (ADR 0021). Nodes can be killed like a crashed machine
/// (SIGKILL of Patroni and of the postmaster) and started again (they rejoin as replicas).
/// </summary>
public sealed class HaCluster : IAsyncLifetime
{
    private readonly int[] _pgPorts = new int[3];
    private readonly int[] _apiPorts = new int[3];
    private string _bin = string.Empty;
    private int _etcdPort;

    public string Root { get; private set; } = string.Empty;

    /// <summary>What OpenDMP is given: every node, the primary wherever it is.</summary>
    public string ConnectionString(string database) =>
        $"Host={string.Join(',', _pgPorts.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)))};Target Session Attributes=primary;Username=postgres;Password=pg;Database={database};Timeout=5;Command Timeout=30;Maximum Pool Size=30";

    public async Task InitializeAsync()
    {
        _bin = PgTools.FindBinaries() ?? throw new InvalidOperationException("PostgreSQL server binaries not found: run the test command from README.md");
        Assert.True(File.Exists("/usr/bin/patroni") && File.Exists("/usr/bin/etcd"), "patroni and etcd are not installed: run the test command from README.md (it installs 'patroni' and 'etcd-server')");
        Root = await PgTools.CreateDirectoryAsync("opendmp-ha-");
        _etcdPort = Wait.FreePort();
        var etcdPeer = Wait.FreePort();
        Spawn("/usr/bin/etcd", ["--name", "e1", "--data-dir", Path.Combine(Root, "etcd"), "--listen-client-urls", $"http://127.0.0.1:{_etcdPort}", "--advertise-client-urls", $"http://127.0.0.1:{_etcdPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{etcdPeer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{etcdPeer}", "--initial-cluster", $"e1=http://127.0.0.1:{etcdPeer}"], Path.Combine(Root, "etcd.log"));
        for (var i = 0; i < 3; i++)
        {
            _pgPorts[i] = Wait.FreePort();
            _apiPorts[i] = Wait.FreePort();
            await File.WriteAllTextAsync(Config(i), NodeConfig(i));
        }

        await PgTools.RunAsync("chown", ["-R", "postgres:postgres", Root], false);

        // The first node bootstraps alone (it becomes the leader), then the others join it.
        await StartNodeAsync(0);
        await Wait.UntilAsync(async () => await LeaderAsync() == 0, TimeSpan.FromSeconds(90), () => "the first node did not become the leader");
        await StartNodeAsync(1);
        await StartNodeAsync(2);
        await WaitHealthyAsync();
    }

    public async Task DisposeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            await KillNodeAsync(i);
        }

        await PgTools.RunAsync("pkill", ["-9", "-f", Path.Combine(Root, "etcd")], false).ContinueWith(_ => { }, TaskScheduler.Default);
        try
        {
            Directory.Delete(Root, true);
        }
        catch (IOException)
        {
        }
    }

    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var conn = new NpgsqlConnection(ConnectionString("postgres").Replace("Maximum Pool Size=30", "Pooling=false", StringComparison.Ordinal));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
        await cmd.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public Task StartNodeAsync(int node)
    {
        Spawn("/usr/bin/patroni", [Config(node)], Path.Combine(Root, $"patroni{node}.log"));
        return Task.CompletedTask;
    }

    /// <summary>A crashed machine: Patroni and the postmaster receive SIGKILL.</summary>
    public async Task KillNodeAsync(int node)
    {
        await PgTools.RunAsync("pkill", ["-9", "-f", "patroni " + Config(node)], false).ContinueWith(_ => { }, TaskScheduler.Default);
        var pidFile = Path.Combine(Root, $"node{node}", "postmaster.pid");
        if (File.Exists(pidFile) && int.TryParse((await File.ReadAllLinesAsync(pidFile))[0], CultureInfo.InvariantCulture, out var pid))
        {
            await PgTools.RunAsync("kill", ["-9", pid.ToString(CultureInfo.InvariantCulture)], false).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>Whether the node's PostgreSQL accepts a connection (waits up to 5 s for a killed one to be gone).</summary>
    public async Task<bool> AcceptsAsync(int node)
    {
        for (var i = 0; i < 10; i++)
        {
            try
            {
                using var tcp = new System.Net.Sockets.TcpClient();
                await tcp.ConnectAsync("127.0.0.1", _pgPorts[node]);
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }

            await Task.Delay(500);
        }

        return true;
    }

    /// <summary>The index of the node Patroni reports as leader (and running), or -1.</summary>
    public async Task<int> LeaderAsync()
    {
        foreach (var (role, state, port) in await MembersAsync())
        {
            if (role == "leader" && state == "running")
            {
                return Array.IndexOf(_pgPorts, port);
            }
        }

        return -1;
    }

    /// <summary>
    /// A leader and a synchronous standby, all three nodes running and streaming. A replica's first
    /// start copies the primary (pg_basebackup) and, on the loaded 2-core CI machine, may take well
    /// over a minute; when the wait fails, the message carries the members and each node's last log lines.
    /// </summary>
    public Task WaitHealthyAsync()
    {
        var last = new List<(string Role, string State, int Port)>();
        return Wait.UntilAsync(async () =>
        {
            var members = last = await MembersAsync();
            return members.Count == 3 && members.All(m => m.State is "running" or "streaming") && members.Any(m => m.Role == "leader") && members.Any(m => m.Role == "sync_standby");
        }, TimeSpan.FromSeconds(240), () => "the cluster did not reach three running members with a synchronous standby; members: "
            + (last.Count == 0 ? "none answered" : string.Join("; ", last.Select(m => $"node{Array.IndexOf(_pgPorts, m.Port)} {m.Role} {m.State}")))
            + string.Concat(Enumerable.Range(0, 3).Select(LogTail)));
    }

    private string LogTail(int node)
    {
        var path = Path.Combine(Root, $"patroni{node}.log");
        var lines = File.Exists(path) ? File.ReadLines(path).TakeLast(12) : ["(no log)"];
        return $"\n--- patroni{node}.log (last lines)\n" + string.Join('\n', lines);
    }

    /// <summary>The members as Patroni reports them (for the test's output).</summary>
    public async Task<string> DescribeAsync() => string.Join("; ", (await MembersAsync()).Select(m => $"node{Array.IndexOf(_pgPorts, m.Port)} {m.Role} {m.State}"));

    private async Task<List<(string Role, string State, int Port)>> MembersAsync()
    {
        foreach (var api in _apiPorts)
        {
            try
            {
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{api}/cluster"));
                return [.. doc.RootElement.GetProperty("members").EnumerateArray().Select(m => (
                    m.GetProperty("role").GetString() ?? string.Empty,
                    m.GetProperty("state").GetString() ?? string.Empty,
                    m.GetProperty("port").GetInt32()))];
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
            {
            }
        }

        return [];
    }

    private string Config(int node) => Path.Combine(Root, $"node{node}.yml");

    private string NodeConfig(int i) => $"""
        scope: opendmp
        namespace: /opendmp-test/
        name: node{i}
        restapi:
          listen: 127.0.0.1:{_apiPorts[i]}
          connect_address: 127.0.0.1:{_apiPorts[i]}
        etcd3:
          hosts: 127.0.0.1:{_etcdPort}
        bootstrap:
          dcs:
            ttl: 10
            loop_wait: 1
            retry_timeout: 3
            maximum_lag_on_failover: 1048576
            synchronous_mode: true
            postgresql:
              use_pg_rewind: true
              parameters:
                wal_level: replica
                hot_standby: "on"
                max_wal_senders: 10
                max_replication_slots: 10
                wal_log_hints: "on"
                max_connections: 100
          initdb:
            - encoding: UTF8
            - auth: trust
          pg_hba:
            - local all all trust
            - host replication replicator 127.0.0.1/32 trust
            - host all all 127.0.0.1/32 trust
        postgresql:
          listen: 127.0.0.1:{_pgPorts[i]}
          connect_address: 127.0.0.1:{_pgPorts[i]}
          data_dir: {Root}/node{i}
          bin_dir: {_bin}
          pgpass: {Root}/pgpass{i}
          authentication:
            replication:
              username: replicator
              password: rep
            superuser:
              username: postgres
              password: pg
            rewind:
              username: postgres
              password: pg
          parameters:
            unix_socket_directories: '{Root}'
        """;

    /// <summary>A long-running server process (as postgres when the tests run as root), its output in a log file.</summary>
    private static void Spawn(string file, string[] args, string log)
    {
        var command = string.Join(' ', new[] { file }.Concat(args).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var shell = $"nohup {command} > '{log}' 2>&1 &";
        var psi = PgTools.AsPostgresUser ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", "bash", "-c", shell]) : new ProcessStartInfo("bash", ["-c", shell]);
        psi.WorkingDirectory = Path.GetTempPath();
        using var p = Process.Start(psi)!;
        p.WaitForExit();
    }
}
