using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace OpenDmp.Core.Storage;

/// <summary>
/// Per-connection SQLite settings: WAL (set once on the file at start-up) with synchronous=NORMAL
/// (durable against process crashes; the last commits may be lost on power loss — see ADR 0003),
/// and a busy timeout so that readers and the single writer wait instead of failing.
/// </summary>
public sealed class SqlitePragmas : DbConnectionInterceptor
{
    private const string Pragmas = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;";

    // EF opens and closes a context's connection around each command: set the pragmas once per connection object.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<DbConnection, object> _done = [];

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        if (!_done.TryAdd(connection, this))
        {
            return;
        }

        using var cmd = connection.CreateCommand();
        cmd.CommandText = Pragmas;
        cmd.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        if (!_done.TryAdd(connection, this))
        {
            return;
        }

        await using var cmd = connection.CreateCommand();
        cmd.CommandText = Pragmas;
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}
