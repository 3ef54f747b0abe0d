using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Tests.Storage;

/// <summary>
/// SQLite's per-connection settings (ADR 0003) hold on every native connection EF is given.
/// Microsoft.Data.Sqlite pools native connections: a context's connection object opened again may be
/// handed one the pool has just created for it, and the settings must be set on that one too —
/// otherwise it commits at SQLite's default, synchronous=FULL (an fsync per commit), and waits for no lock.
/// </summary>
public sealed class SqlitePragmasTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("opendmp-pragmas-").FullName;

    [Fact]
    public async Task ANativeConnectionThePoolCreatesForAConnectionAlreadyUsed_IsSetToo()
    {
        var options = new DbContextOptionsBuilder<DmpDbContext>();
        new DatabaseOptions { Provider = DatabaseProvider.Sqlite }.Configure(options, _dir);
        await using var a = new DmpDbContext(options.Options);
        await using var b = new DmpDbContext(options.Options);

        // a's connection object is set on the native connection it is first given …
        await a.Database.OpenConnectionAsync();
        Assert.Equal((1L, 30_000L), await SettingsAsync(a));
        await a.Database.CloseConnectionAsync();

        // … which b is given next, while a is opened again: the pool creates a second native connection for a.
        await b.Database.OpenConnectionAsync();
        await a.Database.OpenConnectionAsync();
        Assert.NotSame(((SqliteConnection)a.Database.GetDbConnection()).Handle, ((SqliteConnection)b.Database.GetDbConnection()).Handle);
        Assert.Equal((1L, 30_000L), await SettingsAsync(a));
        Assert.Equal((1L, 30_000L), await SettingsAsync(b));
    }

    /// <summary>(synchronous: 1 = NORMAL, 2 = FULL; busy_timeout in ms) of the context's open connection.</summary>
    private static async Task<(long Synchronous, long BusyTimeout)> SettingsAsync(DmpDbContext db)
    {
        await using var cmd = db.Database.GetDbConnection().CreateCommand();
        cmd.CommandText = "PRAGMA synchronous";
        var synchronous = (long)(await cmd.ExecuteScalarAsync())!;
        cmd.CommandText = "PRAGMA busy_timeout";
        return (synchronous, (long)(await cmd.ExecuteScalarAsync())!);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
