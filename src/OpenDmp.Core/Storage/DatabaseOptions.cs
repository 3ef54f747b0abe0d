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

    public const string SqliteMigrationsAssembly = "OpenDmp.Migrations.Sqlite";
    public const string PostgresMigrationsAssembly = "OpenDmp.Migrations.Postgres";

    /// <summary>Configures EF Core for the chosen provider, with the provider's migrations assembly.</summary>
    public void Configure(DbContextOptionsBuilder builder, string dataDirectory)
    {
        if (Provider == DatabaseProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(ConnectionString))
            {
                throw new InvalidOperationException("Database:Provider is Postgres but Database:ConnectionString is empty.");
            }

            builder.UseNpgsql(ConnectionString, o => o.MigrationsAssembly(PostgresMigrationsAssembly));
        }
        else
        {
            var cs = ConnectionString;
            if (string.IsNullOrWhiteSpace(cs))
            {
                cs = $"Data Source={Path.Combine(dataDirectory, "opendmp.db")}";
            }

            builder.UseSqlite(cs, o => o.MigrationsAssembly(SqliteMigrationsAssembly)).AddInterceptors(Pragmas);
        }
    }
}
