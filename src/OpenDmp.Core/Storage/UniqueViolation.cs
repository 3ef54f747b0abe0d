using Microsoft.Data.Sqlite;
using Npgsql;

namespace OpenDmp.Core.Storage;

/// <summary>Recognises a unique-constraint violation on either provider.</summary>
public static class UniqueViolation
{
    public static bool Is(Exception ex) => ex.InnerException switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.UniqueViolation,
        SqliteException sq => sq.SqliteErrorCode == 19 && sq.SqliteExtendedErrorCode is 2067 or 1555,
        _ => false,
    };
}
