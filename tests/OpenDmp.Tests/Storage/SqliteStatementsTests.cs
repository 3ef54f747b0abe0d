using Microsoft.Data.Sqlite;
using OpenDmp.Core.Storage;

namespace OpenDmp.Tests.Storage;

/// <summary>
/// The kept SQLite connections of the hottest reads (ADR 0035): concurrent callers each get their
/// own answer, a failed statement spoils nothing after it, the connections cannot write, and a
/// disposed pool hands the reads back to EF.
/// </summary>
public sealed class SqliteStatementsTests : IDisposable
{
    private const string ValueOf = "SELECT v FROM t WHERE k = $p";
    private readonly string _dir = Directory.CreateTempSubdirectory("opendmp-statements-").FullName;
    private readonly string _connectionString;

    public SqliteStatementsTests()
    {
        _connectionString = $"Data Source={Path.Combine(_dir, "t.db")}";
        using var connection = new SqliteConnection(_connectionString + ";Pooling=False");
        connection.Open();
        using var create = connection.CreateCommand();
        create.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
            + string.Concat(Enumerable.Range(0, 200).Select(i => $"INSERT INTO t VALUES ('k{i}', 'v{i}');"));
        create.ExecuteNonQuery();
    }

    [Fact]
    public async Task ConcurrentReads_EachGetTheirOwnAnswer()
    {
        using var statements = new SqliteStatements(_connectionString);
        Assert.True(statements.Enabled);
        var wrong = 0;
        await Parallel.ForAsync(0, 2_000, new ParallelOptions { MaxDegreeOfParallelism = 40 }, (i, _) =>
        {
            var key = "k" + (i % 200);
            if (statements.Read(ValueOf, key, r => r.Read() ? r.GetString(0) : null) != "v" + (i % 200))
            {
                Interlocked.Increment(ref wrong);
            }

            return ValueTask.CompletedTask;
        });
        Assert.Equal(0, wrong);
        Assert.Null(statements.Read(ValueOf, "absent", r => r.Read() ? r.GetString(0) : null));
    }

    [Fact]
    public void AFailedStatement_SpoilsNothingAfterIt_AndNothingCanBeWritten()
    {
        using var statements = new SqliteStatements(_connectionString);
        Assert.Throws<SqliteException>(() => statements.Read("SELECT v FROM missing WHERE k = $p", "k1", r => r.Read()));
        Assert.Throws<SqliteException>(() => statements.Read("DELETE FROM t WHERE k = $p", "k1", r => r.Read()));
        Assert.Equal("v1", statements.Read(ValueOf, "k1", r => r.Read() ? r.GetString(0) : null));
    }

    [Fact]
    public void Disposed_IsNotEnabled()
    {
        var statements = new SqliteStatements(_connectionString);
        Assert.Equal("v2", statements.Read(ValueOf, "k2", r => r.Read() ? r.GetString(0) : null));
        statements.Dispose();
        Assert.False(statements.Enabled);
        Assert.False(new SqliteStatements().Enabled);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}
