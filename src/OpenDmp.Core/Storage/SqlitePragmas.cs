using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace OpenDmp.Core.Storage;

/// <summary>
/// Per-connection SQLite settings: WAL (set once on the file at start-up) with synchronous=NORMAL
/// (durable against process crashes; the last commits may be lost on power loss — see ADR 0003),
/// and a busy timeout so that readers and the single writer wait instead of failing.
/// </summary>
public sealed class SqlitePragmas : DbConnectionInterceptor
{
    /// <summary>Readers and the single writer wait for a lock this long instead of failing (also the kept connections of <see cref="SqliteStatements"/>).</summary>
    internal const string BusyTimeout = "PRAGMA busy_timeout=30000;";

    private const string Pragmas = "PRAGMA synchronous=NORMAL; " + BusyTimeout;

    /// <summary>
    /// The native connections already set. Keyed by the native handle, not by the
    /// <see cref="DbConnection"/> object: Microsoft.Data.Sqlite pools native connections, and an
    /// object opened again may be given one it has never used — or one opened for it by the pool
    /// just now, which SQLite's defaults would leave at synchronous=FULL (an fsync at every commit).
    /// </summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> _done = [];

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        if (!FirstUse(connection))
        {
            return;
        }

        using var cmd = connection.CreateCommand();
        cmd.CommandText = Pragmas;
        cmd.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (!FirstUse(connection))
        {
            return;
        }

        await using var cmd = connection.CreateCommand();
        cmd.CommandText = Pragmas;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private bool FirstUse(DbConnection connection) => _done.TryAdd(connection is SqliteConnection { Handle: { } native } ? native : connection, this);
}
