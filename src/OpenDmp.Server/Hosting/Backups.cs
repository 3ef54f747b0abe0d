using System.Globalization;
using Microsoft.Data.Sqlite;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Online backup and restore of a SQLite installation (ADR 0019). A backup holds the database (a
/// consistent snapshot taken with SQLite's online backup API while the server keeps serving), the
/// document content it references, the certification authority, the audit anchors and the
/// configuration — and never the key store (<c>keys/</c>: the master key and the tombstones of
/// destroyed record keys), which is backed up on its own and never rolled back, so that restoring
/// an old backup cannot bring a destroyed record back. PostgreSQL installations use pgBackRest.
/// </summary>
public static class Backups
{
    private const string Database = "opendmp.db";
    private const string Manifest = "BACKUP.txt";
    private static readonly string[] Excluded = ["keys", "content", "demo", Manifest];

    public sealed record BackupReport(int Documents, int ContentFiles, long Bytes);

    public static async Task<BackupReport> BackupAsync(DataDirectory data, IServiceProvider services, string outDir, CancellationToken ct)
    {
        var options = services.GetRequiredService<DatabaseOptions>();
        if (options.Provider != DatabaseProvider.Sqlite)
        {
            throw DmpException.Invalid("'opendmp backup' backs up a SQLite installation; PostgreSQL is backed up with pgBackRest (docs/OPERATIONS.md)");
        }

        outDir = Path.GetFullPath(outDir);
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
        {
            throw DmpException.Invalid($"the backup folder {outDir} is not empty: give a new folder");
        }

        if (outDir.StartsWith(data.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw DmpException.Invalid("the backup folder must be outside the data folder");
        }

        Directory.CreateDirectory(outDir);

        // Files first (audit anchors before the snapshot: a backup's anchors never name a checkpoint its database lacks).
        foreach (var entry in Directory.EnumerateFileSystemEntries(data.Root))
        {
            var name = Path.GetFileName(entry);
            if (Excluded.Contains(name, StringComparer.Ordinal) || name.StartsWith(Database, StringComparison.Ordinal))
            {
                continue;
            }

            Copy(entry, Path.Combine(outDir, name));
        }

        // The database: one consistent snapshot, taken online.
        var source = options.SqliteConnectionString(data.Root);

        await using (var from = new SqliteConnection(source))
        await using (var to = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(outDir, Database), Pooling = false }.ToString()))
        {
            await from.OpenAsync(ct);
            await to.OpenAsync(ct);
            from.BackupDatabase(to);
        }

        // The content the snapshot references; content deleted meanwhile makes the backup fail rather than be incomplete.
        var keys = new List<(string Record, string Key)>();
        await using (var snapshot = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(outDir, Database), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString()))
        {
            await snapshot.OpenAsync(ct);
            await using var cmd = snapshot.CreateCommand();
            cmd.CommandText = "SELECT record_id, content_key FROM documents";
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                keys.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        long bytes = 0;
        var files = 0;
        var fileStore = Directory.Exists(data.Content) && Directory.EnumerateDirectories(data.Content).Any();
        foreach (var (record, key) in keys)
        {
            var file = Path.Combine(data.Content, record, key);
            if (!File.Exists(file))
            {
                if (fileStore)
                {
                    throw new DmpException(ErrorKind.Conflict, $"the content of a document changed while the backup ran (record {record}): run the backup again");
                }

                continue; // database content store: the content is in the snapshot
            }

            var target = Path.Combine(outDir, "content", record, key);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            bytes += new FileInfo(target).Length;
            files++;
        }

        await File.WriteAllTextAsync(Path.Combine(outDir, Manifest), string.Create(CultureInfo.InvariantCulture,
            $"OpenDMP backup\ncreated: {DateTimeOffset.UtcNow:O}\nversion: {typeof(Backups).Assembly.GetName().Version}\ndocuments: {keys.Count}\ncontent files: {files}\nnot included: keys/ (the key store: master key and destroyed-key tombstones, backed up on its own and never rolled back)\n"), ct);
        return new BackupReport(keys.Count, files, bytes);
    }

    /// <summary>Restores a backup into a data folder whose server is stopped; the key store already there is kept.</summary>
    public static string Restore(DataDirectory data, string masterKeyFile, string fromDir, bool force)
    {
        fromDir = Path.GetFullPath(fromDir);
        if (!File.Exists(Path.Combine(fromDir, Manifest)) || !File.Exists(Path.Combine(fromDir, Database)))
        {
            throw DmpException.Invalid($"{fromDir} is not an OpenDMP backup (no {Manifest} or {Database})");
        }

        if (!File.Exists(masterKeyFile))
        {
            throw DmpException.Invalid($"there is no key store ({masterKeyFile}): restore the key store from its own backup first — without it nothing in the backup can be read");
        }

        var current = Path.Combine(data.Root, Database);
        string? kept = null;
        if (File.Exists(current))
        {
            if (!force)
            {
                throw DmpException.Invalid($"the data folder {data.Root} already holds a database: stop its server, then restore with --force (the current database is kept beside it)");
            }

            kept = current + ".replaced-" + DateTimeOffset.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
            File.Move(current, kept);
            foreach (var suffix in new[] { "-wal", "-shm" })
            {
                if (File.Exists(current + suffix))
                {
                    File.Move(current + suffix, kept + suffix);
                }
            }
        }

        foreach (var entry in Directory.EnumerateFileSystemEntries(fromDir))
        {
            var name = Path.GetFileName(entry);
            if (name is Manifest or "keys")
            {
                continue;
            }

            Copy(entry, Path.Combine(data.Root, name), overwrite: true);
        }

        return kept ?? string.Empty;
    }

    private static void Copy(string source, string target, bool overwrite = false)
    {
        if (Directory.Exists(source))
        {
            Directory.CreateDirectory(target);
            foreach (var entry in Directory.EnumerateFileSystemEntries(source))
            {
                Copy(entry, Path.Combine(target, Path.GetFileName(entry)), overwrite);
            }
        }
        else
        {
            File.Copy(source, target, overwrite);
        }
    }
}
