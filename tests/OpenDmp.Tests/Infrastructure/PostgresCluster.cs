using Npgsql;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL cluster started with the Debian binaries on a free loopback port, for the
/// whole test run; each test class gets its own database. Stopped (by its data directory) on dispose.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private string _dir = string.Empty;
    private string _bin = string.Empty;
    private int _port;
    private bool _asPostgresUser;

    public async Task InitializeAsync()
    {
        _bin = PgTools.FindBinaries() ?? throw new InvalidOperationException("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run the test command from README.md (it installs the 'postgresql' package)");
        _asPostgresUser = PgTools.AsPostgresUser;
        _dir = Path.Combine(Path.GetTempPath(), "opendmp-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        if (_asPostgresUser)
        {
            await PgTools.RunAsync("chown", ["postgres:postgres", _dir], false);
        }

        _port = Wait.FreePort();
        await PgTools.RunAsync(Path.Combine(_bin, "initdb"), ["-D", Path.Combine(_dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"], _asPostgresUser);
        await PgTools.RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-w", "-l", Path.Combine(_dir, "log.txt"), "-o", $"-c listen_addresses=127.0.0.1 -p {_port} -k {_dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", "start"], _asPostgresUser);
    }

    public async Task DisposeAsync()
    {
        if (_bin.Length > 0 && Directory.Exists(Path.Combine(_dir, "data")))
        {
            try
            {
                await PgTools.RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-m", "immediate", "stop"], _asPostgresUser);
            }
            finally
            {
                try
                {
                    Directory.Delete(_dir, true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    public string AdminConnectionString => $"Host=127.0.0.1;Port={_port};Username=postgres;Database=postgres;Pooling=false";

    /// <summary>Creates a fresh database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = (prefix + "_" + Guid.NewGuid().ToString("N")[..10]).ToLowerInvariant();
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
        await cmd.ExecuteNonQueryAsync();
        // Idle connections are closed within seconds: the pools of servers already stopped (one
        // database each) must not hold the shared cluster's connection slots for minutes.
        return $"Host=127.0.0.1;Port={_port};Username=postgres;Database={name};Maximum Pool Size=50;Connection Idle Lifetime=10;Connection Pruning Interval=5";
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    public const string Name = "postgres";
}
