using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace OpenDmp.Core.Storage;

/// <summary>
/// SQLite connections kept open for the hottest reads, each keeping its prepared statements. EF
/// opens and closes a pooled connection around every command and builds a new command each time,
/// so SQLite compiles the statement again at every call: for the read of a document with its
/// record's facts (about a hundred columns) the compilation cost more than the query itself
/// (BENCHMARKS.md). Here a statement is compiled once per connection and then only re-bound.
/// Read-only (<c>PRAGMA query_only</c>); each statement is its own implicit transaction, so a kept
/// connection holds no snapshot between reads and sees every commit made before the read begins.
/// Disabled (<see cref="Enabled"/> false) on PostgreSQL, whose driver prepares hot statements itself.
/// </summary>
public sealed class SqliteStatements : IDisposable
{
    /// <summary>Connections kept idle at most (more are opened under a burst, then closed).</summary>
    private const int MaxIdle = 16;

    private readonly string? _connectionString;
    private readonly ConcurrentBag<Lease> _idle = [];
    private int _idleCount; // ConcurrentBag.Count takes every thread's lock: counted here instead
    private bool _disposed;

    /// <summary>None: every read goes through EF.</summary>
    public SqliteStatements()
    {
    }

    public SqliteStatements(string sqliteConnectionString)
    {
        _connectionString = new SqliteConnectionStringBuilder(sqliteConnectionString) { Pooling = false }.ConnectionString;
    }

    public bool Enabled => _connectionString is not null && !_disposed;

    /// <summary>Runs the statement <paramref name="sql"/> with one text parameter <c>$p</c> on a kept connection and reads its rows.</summary>
    public T Read<T>(string sql, string parameter, Func<SqliteDataReader, T> read)
    {
        var lease = Rent();
        var ok = false;
        try
        {
            var command = lease.Command(sql);
            command.Parameters[0].Value = parameter;
            T result;
            using (var reader = command.ExecuteReader())
            {
                result = read(reader);
            }

            ok = true;
            return result;
        }
        finally
        {
            Return(lease, ok);
        }
    }

    private Lease Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_idle.TryTake(out var lease))
        {
            Interlocked.Decrement(ref _idleCount);
            return lease;
        }

        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using (var pragmas = connection.CreateCommand())
        {
            pragmas.CommandText = SqlitePragmas.BusyTimeout + " PRAGMA query_only=1;";
            pragmas.ExecuteNonQuery();
        }

        return new Lease(connection);
    }

    private void Return(Lease lease, bool ok)
    {
        // A connection that failed is not trusted again; one too many is closed.
        if (ok && !_disposed)
        {
            if (Interlocked.Increment(ref _idleCount) <= MaxIdle)
            {
                _idle.Add(lease);
                return;
            }

            Interlocked.Decrement(ref _idleCount);
        }

        lease.Dispose();
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var lease))
        {
            lease.Dispose();
        }
    }

    /// <summary>An open connection and its prepared commands, used by one caller at a time.</summary>
    private sealed class Lease(SqliteConnection connection) : IDisposable
    {
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public SqliteCommand Command(string sql)
        {
            if (!_commands.TryGetValue(sql, out var command))
            {
                command = connection.CreateCommand();
                command.CommandText = sql;
                command.Parameters.Add(new SqliteParameter("$p", SqliteType.Text));
                command.Prepare();
                _commands[sql] = command;
            }

            return command;
        }

        public void Dispose()
        {
            foreach (var command in _commands.Values)
            {
                command.Dispose();
            }

            connection.Dispose();
        }
    }
}
