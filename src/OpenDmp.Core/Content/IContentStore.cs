using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Content;

/// <summary>
/// Where document content lives (design D6). Content is addressed by (record, key) so that a
/// store can encrypt it under a per-patient key. Writes join the caller's unit of work: a
/// database store adds rows to it; a file store writes at once and the caller calls
/// <see cref="DiscardAsync"/> if the unit of work fails (or after a committed deletion).
/// </summary>
public interface IContentStore
{
    Task PutAsync(DmpDbContext db, string recordId, string key, byte[] data, CancellationToken ct);

    Task<byte[]?> GetAsync(DmpDbContext db, string recordId, string key, CancellationToken ct);

    /// <summary>Removes content as part of the unit of work (database store); no-op for the file store.</summary>
    Task RemoveAsync(DmpDbContext db, string recordId, string key, CancellationToken ct);

    /// <summary>Removes content held outside the database (file store): after a failed write or a committed deletion.</summary>
    Task DiscardAsync(string recordId, string key);

    /// <summary>Why the store cannot serve now (readiness), or null when it can. A database store is ready when the database is.</summary>
    string? Unavailable() => null;
}

/// <summary>Content as files under the data directory: content/{record}/{key}, written atomically.</summary>
public sealed class FileContentStore(string root) : IContentStore
{
    /// <summary>
    /// The folder must exist (it is never re-created here: an unmounted volume must not be replaced by
    /// an empty folder) and accept a write.
    /// </summary>
    public string? Unavailable()
    {
        if (!System.IO.Directory.Exists(root))
        {
            return "the content folder is missing (unmounted volume?)";
        }

        var probe = Path.Combine(root, ".ready-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "the content folder does not accept writes";
        }
    }

    public Task PutAsync(DmpDbContext db, string recordId, string key, byte[] data, CancellationToken ct)
    {
        // Documents are small (≤ 20 MB, typically tens of KB): a synchronous write is cheaper than
        // the thread-pool hops of asynchronous file I/O on Linux (measured, see BENCHMARKS.md).
        var path = PathOf(recordId, key);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
        {
            f.Write(data);
            f.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
        return Task.CompletedTask;
    }

    public async Task<byte[]?> GetAsync(DmpDbContext db, string recordId, string key, CancellationToken ct)
    {
        var path = PathOf(recordId, key);
        return File.Exists(path) ? await File.ReadAllBytesAsync(path, ct) : null;
    }

    public Task RemoveAsync(DmpDbContext db, string recordId, string key, CancellationToken ct) => Task.CompletedTask;

    public Task DiscardAsync(string recordId, string key)
    {
        var path = PathOf(recordId, key);
        if (File.Exists(path))
        {
            File.Delete(path);
        }

        return Task.CompletedTask;
    }

    private string PathOf(string recordId, string key)
    {
        if (recordId.Contains('/', StringComparison.Ordinal) || recordId.Contains('\\', StringComparison.Ordinal) || recordId.Contains("..", StringComparison.Ordinal) ||
            key.Contains('/', StringComparison.Ordinal) || key.Contains('\\', StringComparison.Ordinal) || key.Contains("..", StringComparison.Ordinal))
        {
            throw new ArgumentException("invalid content address");
        }

        return Path.Combine(root, recordId, key);
    }
}

/// <summary>Content in the content_blobs table, in the same transaction as the metadata.</summary>
public sealed class DatabaseContentStore : IContentStore
{
    public Task PutAsync(DmpDbContext db, string recordId, string key, byte[] data, CancellationToken ct)
    {
        db.ContentBlobs.Add(new ContentBlob { RecordId = recordId, Key = key, Data = data });
        return Task.CompletedTask;
    }

    public async Task<byte[]?> GetAsync(DmpDbContext db, string recordId, string key, CancellationToken ct) =>
        await db.ContentBlobs.AsNoTracking().Where(x => x.RecordId == recordId && x.Key == key).Select(x => x.Data).FirstOrDefaultAsync(ct);

    public async Task RemoveAsync(DmpDbContext db, string recordId, string key, CancellationToken ct) =>
        await db.ContentBlobs.Where(x => x.RecordId == recordId && x.Key == key).ExecuteDeleteAsync(ct);

    public Task DiscardAsync(string recordId, string key) => Task.CompletedTask;
}
