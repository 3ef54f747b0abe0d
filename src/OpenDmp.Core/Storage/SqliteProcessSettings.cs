namespace OpenDmp.Core.Storage;

/// <summary>
/// SQLite's process-wide settings, which SQLite accepts only before it is initialised (before the
/// process opens its first SQLite connection): memory statistics off. With them on (SQLite's
/// default), every allocation SQLite makes — thousands to compile one statement — takes one global
/// mutex, which the request threads then contend for: measured on the audited-read benchmark, 82
/// futex calls per read with them, 14 without, and the server's CPU per read down by a fifth
/// (BENCHMARKS.md). OpenDMP reads no SQLite memory statistic and sets no soft heap limit.
/// </summary>
public static class SqliteProcessSettings
{
    private static readonly Lazy<bool> Applied = new(() =>
    {
        SQLitePCL.Batteries_V2.Init();
        return SQLitePCL.raw.sqlite3_config(SQLitePCL.raw.SQLITE_CONFIG_MEMSTATUS, 0) == SQLitePCL.raw.SQLITE_OK;
    });

    /// <summary>Applies the settings (once per process); false when SQLite was initialised before they could be.</summary>
    public static bool Apply() => Applied.Value;
}
