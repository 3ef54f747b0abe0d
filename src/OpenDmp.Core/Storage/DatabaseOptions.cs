using Microsoft.EntityFrameworkCore;

namespace OpenDmp.Core.Storage;

/// <summary>Database provider chosen by configuration.</summary>
public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}

/// <summary>Storage settings: SQLite file in the data directory by default, PostgreSQL when a connection string is given.</summary>
public sealed class DatabaseOptions
{
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;
    public string? ConnectionString { get; set; }

    private static readonly SqlitePragmas Pragmas = new();
    private static readonly Audit.PatientDataInterceptor PatientData = new();

    public const string SqliteMigrationsAssembly = "OpenDmp.Migrations.Sqlite";
    public const string PostgresMigrationsAssembly = "OpenDmp.Migrations.Postgres";

    /// <summary>
    /// Npgsql settings for OpenDMP's access pattern (EF opens and closes the pooled connection around
    /// each command): no session reset on close (OpenDMP never changes session state; the reset cost
    /// one extra round trip per command), and automatic preparation of the hot statements. Values
    /// given explicitly in the connection string win. Measured in BENCHMARKS.md.
    /// </summary>
    public static string WithAutoPrepare(string connectionString)
    {
        var b = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!connectionString.Contains("Reset On Close", StringComparison.OrdinalIgnoreCase))
        {
            b.NoResetOnClose = true;
        }

        // Several hosts (a cluster with failover): after a switch-over, find the new primary within
        // seconds rather than trusting a host's cached role for the default 10 s.
        if (b.Host?.Contains(',', StringComparison.Ordinal) == true && !connectionString.Contains("Host Recheck", StringComparison.OrdinalIgnoreCase))
        {
            b.HostRecheckSeconds = 1;
        }

        if (b.MaxAutoPrepare == 0)
        {
            b.MaxAutoPrepare = 64;
            b.AutoPrepareMinUsages = 2;
        }

        return b.ConnectionString;
    }

    /// <summary>The SQLite connection string: the configured one, else the data folder's opendmp.db.</summary>
    public string SqliteConnectionString(string dataDirectory) =>
        string.IsNullOrWhiteSpace(ConnectionString) ? $"Data Source={Path.Combine(dataDirectory, "opendmp.db")}" : ConnectionString;

    /// <summary>Configures EF Core for the chosen provider, with the provider's migrations assembly.</summary>
    public void Configure(DbContextOptionsBuilder builder, string dataDirectory)
    {
        // A refused statement is an expected outcome for a unique index (a duplicate masterIdentifier is
        // a 409): not logged as a failed command with a stack trace. An unexpected failure still reaches
        // the error middleware, which logs it once with the request's correlation id.
        builder.ConfigureWarnings(w => w.Log(
            (Microsoft.EntityFrameworkCore.Diagnostics.RelationalEventId.CommandError, Microsoft.Extensions.Logging.LogLevel.Debug),
            (Microsoft.EntityFrameworkCore.Diagnostics.CoreEventId.SaveChangesFailed, Microsoft.Extensions.Logging.LogLevel.Debug)));
        if (Provider == DatabaseProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(ConnectionString))
            {
                throw new InvalidOperationException("Database:Provider is Postgres but Database:ConnectionString is empty.");
            }

            builder.UseNpgsql(WithAutoPrepare(ConnectionString), o => o.MigrationsAssembly(PostgresMigrationsAssembly)).AddInterceptors(PatientData);
        }
        else
        {
            SqliteProcessSettings.Apply();
            builder.UseSqlite(SqliteConnectionString(dataDirectory), o => o.MigrationsAssembly(SqliteMigrationsAssembly)).AddInterceptors(Pragmas, PatientData);
        }
    }
}
