using Npgsql;

namespace OpenDmp.Core.Storage;

/// <summary>
/// Tells a database that cannot serve now (unreachable, shutting down, a primary demoted to a
/// standby during a failover) from every other failure: the first is answered 503 with Retry-After
/// (the client retries), the others are bugs or bad input.
/// </summary>
public static class DatabaseFailures
{
    public static bool IsUnavailable(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // Connection exceptions (08…), shutdown and recovery (57P01-57P03), writing to a standby (25006).
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState is "57P01" or "57P02" or "57P03" or "25006";
                // Not a server's answer: the connection could not be made or was lost ("No suitable host
                // was found" while no node is primary yet, I/O errors, timeouts).
                case NpgsqlException:
                    return true;
                case System.Net.Sockets.SocketException or EndOfStreamException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>
    /// After a commit whose acknowledgement was lost: asks the database (a new connection, which
    /// finds the new primary) whether the row written by that transaction exists. Null when no
    /// primary answered within <paramref name="patience"/>.
    /// </summary>
    public static async Task<bool?> RowExistsAsync(string connectionString, string sql, IReadOnlyDictionary<string, object> parameters, TimeSpan patience, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + patience;
        var cs = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, MaxAutoPrepare = 0 }.ConnectionString;
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(cs);
                await connection.OpenAsync(ct);
                await using var cmd = new NpgsqlCommand(sql, connection);
                foreach (var (name, value) in parameters)
                {
                    cmd.Parameters.AddWithValue(name, value);
                }

                return await cmd.ExecuteScalarAsync(ct) is not null;
            }
            catch (Exception ex) when (IsUnavailable(ex) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, ct);
            }
            catch (Exception ex) when (IsUnavailable(ex))
            {
                return null;
            }
        }
    }
}
