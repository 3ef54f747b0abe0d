using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Content;

/// <summary>A record's data key, wrapped (AES-256-GCM) under the master key. Deleting it makes the record's content unreadable everywhere, backups included.</summary>
public sealed class RecordKey
{
    public required string RecordId { get; set; }
    /// <summary>nonce (12) | tag (16) | wrapped key (32).</summary>
    public required byte[] WrappedKey { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// Per-record data keys (design D6): created on a record's first content, wrapped by a master key
/// kept outside the database (a file here; an HSM through PKCS#11 in production), unwrapped keys
/// cached in memory. Destroying a key (crypto-shredding) first writes a tombstone into the key
/// store, beside the master key and outside every database backup (ADR 0019): a restored backup
/// brings the wrapped key back, but the key ring refuses to unwrap it. During a rotation of the
/// master key (<see cref="MasterKeyRotation"/>) the previous master key still opens what it wrapped;
/// everything new is wrapped under the current one.
/// </summary>
public sealed class KeyRing(byte[] masterKey, string? tombstoneFile = null, byte[]? previousKey = null)
{
    private readonly ConcurrentDictionary<string, byte[]> _cache = new(StringComparer.Ordinal);
    private readonly HashSet<string> _shredded = new(StringComparer.Ordinal);
    private readonly Lock _tombstoneLock = new();
    private long _tombstoneLength = -1;

    /// <summary>The tombstone file of a master key file: the record ids whose keys were destroyed, one per line.</summary>
    public static string TombstonesOf(string masterKeyFile) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(masterKeyFile))!, "shredded-records");

    /// <summary>Whether the record's key was destroyed (read from the key store, shared by every instance).</summary>
    public bool IsShredded(string recordId)
    {
        RefreshTombstones();
        lock (_tombstoneLock)
        {
            return _shredded.Contains(recordId);
        }
    }

    /// <summary>Every record whose key was destroyed.</summary>
    public IReadOnlyCollection<string> ShreddedRecords()
    {
        RefreshTombstones();
        lock (_tombstoneLock)
        {
            return [.. _shredded];
        }
    }

    /// <summary>Reads the tombstones appended since the last look (a stat when nothing changed).</summary>
    private void RefreshTombstones()
    {
        if (tombstoneFile is null)
        {
            return;
        }

        var length = File.Exists(tombstoneFile) ? new FileInfo(tombstoneFile).Length : 0;
        lock (_tombstoneLock)
        {
            if (length == _tombstoneLength)
            {
                return;
            }

            _shredded.Clear();
            if (length > 0)
            {
                foreach (var line in File.ReadLines(tombstoneFile))
                {
                    var id = line.Split('\t')[0].Trim();
                    if (id.Length > 0)
                    {
                        _shredded.Add(id);
                    }
                }
            }

            _tombstoneLength = length;
            foreach (var id in _shredded)
            {
                _cache.TryRemove(id, out _);
            }
        }
    }

    /// <summary>Loads the master key file, creating it (32 random bytes, owner-only) on first use.</summary>
    public static KeyRing FromFile(string path)
    {
        if (!File.Exists(path))
        {
            // A key store with a previous key but no current one is a broken rotation, not a new installation.
            if (File.Exists(MasterKeyRotation.PreviousOf(path)))
            {
                throw new InvalidOperationException($"the master key file {path} is missing but {MasterKeyRotation.PreviousOf(path)} exists: restore the key store from its backup (a new master key would make every record unreadable)");
            }

            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            WriteKeyFile(path, RandomNumberGenerator.GetBytes(32), FileMode.CreateNew);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 32)
        {
            throw new InvalidOperationException($"the master key file {path} must hold exactly 32 bytes");
        }

        var previousPath = MasterKeyRotation.PreviousOf(path);
        var previous = File.Exists(previousPath) ? File.ReadAllBytes(previousPath) : null;
        if (previous is { Length: not 32 })
        {
            throw new InvalidOperationException($"the previous master key file {previousPath} must hold exactly 32 bytes");
        }

        return new KeyRing(bytes, TombstonesOf(path), previous);
    }

    /// <summary>Writes a key file, owner-only from its creation (never readable by others, not even for an instant), flushed to disk.</summary>
    internal static void WriteKeyFile(string path, byte[] key, FileMode mode)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var f = new FileStream(path, options);
        f.Write(key);
        f.Flush(flushToDisk: true);
    }

    /// <summary>The record's data key, created if the record has none yet (race-free: insert-if-absent, then read).</summary>
    public async Task<byte[]> GetOrCreateAsync(DmpDbContext db, string recordId, CancellationToken ct)
    {
        if (IsShredded(recordId))
        {
            throw new OpenDmp.Core.Common.DmpException(OpenDmp.Core.Common.ErrorKind.Gone, "this record's data key was destroyed (end of retention): it holds no readable content and accepts none");
        }

        if (await FindAsync(db, recordId, ct) is { } existing)
        {
            return existing;
        }

        var fresh = Wrap(recordId, RandomNumberGenerator.GetBytes(32));
        var now = DateTimeOffset.UtcNow;
        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlAsync($"INSERT INTO record_keys (record_id, wrapped_key, created_at) VALUES ({recordId}, {fresh}, {now}) ON CONFLICT DO NOTHING", ct);
        }
        else
        {
            await db.Database.ExecuteSqlAsync($"INSERT OR IGNORE INTO record_keys (record_id, wrapped_key, created_at) VALUES ({recordId}, {fresh}, {now.UtcTicks})", ct);
        }

        return await FindAsync(db, recordId, ct) ?? throw new InvalidOperationException("record key could not be created");
    }

    /// <summary>The record's data key, or null when it was destroyed (crypto-shredding).</summary>
    public async Task<byte[]?> FindAsync(DmpDbContext db, string recordId, CancellationToken ct)
    {
        // A tombstone wins over a wrapped key a restored backup brought back.
        if (IsShredded(recordId))
        {
            return null;
        }

        if (_cache.TryGetValue(recordId, out var cached))
        {
            return cached;
        }

        var wrapped = await db.RecordKeys.AsNoTracking().Where(k => k.RecordId == recordId).Select(k => k.WrappedKey).FirstOrDefaultAsync(ct);
        if (wrapped is null)
        {
            return null;
        }

        var key = Unwrap(recordId, wrapped);
        _cache[recordId] = key;
        return key;
    }

    /// <summary>
    /// Destroys a record's data key: its content can no longer be decrypted, wherever copies live.
    /// The tombstone is written and flushed to disk first, so that no failure can leave the key
    /// deleted from the database yet restorable from a backup.
    /// </summary>
    public async Task DestroyAsync(DmpDbContext db, string recordId, CancellationToken ct)
    {
        if (tombstoneFile is not null && !IsShredded(recordId))
        {
            lock (_tombstoneLock)
            {
                using var f = new FileStream(tombstoneFile, FileMode.Append, FileAccess.Write, FileShare.Read);
                f.Write(Encoding.UTF8.GetBytes($"{recordId}\t{DateTimeOffset.UtcNow:O}\n"));
                f.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(tombstoneFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        await db.RecordKeys.Where(k => k.RecordId == recordId).ExecuteDeleteAsync(ct);
        _cache.TryRemove(recordId, out _);
        RefreshTombstones();
    }

    private byte[] Wrap(string recordId, byte[] dataKey) => Seal(masterKey, dataKey, Encoding.UTF8.GetBytes("record-key:" + recordId));

    private byte[] Unwrap(string recordId, byte[] wrapped) => TryUnwrap(recordId, wrapped).Key
        ?? throw new CryptographicException("the record key does not unwrap under the master key");

    /// <summary>Unwraps under the current master key, else the previous one (telling which).</summary>
    internal (byte[]? Key, bool UnderPrevious) TryUnwrap(string recordId, byte[] wrapped)
    {
        var ad = Encoding.UTF8.GetBytes("record-key:" + recordId);
        if (Open(masterKey, wrapped, ad) is { } key)
        {
            return (key, false);
        }

        return previousKey is not null && Open(previousKey, wrapped, ad) is { } old ? (old, true) : (null, false);
    }

    /// <summary>Wraps a data key under the current master key.</summary>
    internal byte[] WrapCurrent(string recordId, byte[] dataKey) => Wrap(recordId, dataKey);

    /// <summary>A key for another use of the master key (HKDF-SHA256 with the purpose as info), never the master key itself.</summary>
    public byte[] DeriveKey(string purpose) => Derive(masterKey, purpose);

    /// <summary>The derived keys that may open what was sealed for <paramref name="purpose"/>: the current master key's, then the previous one's.</summary>
    public IEnumerable<byte[]> DerivedKeysToOpen(string purpose)
    {
        yield return Derive(masterKey, purpose);
        if (previousKey is not null)
        {
            yield return Derive(previousKey, purpose);
        }
    }

    private static byte[] Derive(byte[] key, string purpose) => HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: Encoding.UTF8.GetBytes("opendmp:" + purpose));

    /// <summary>AES-256-GCM: nonce (12) | tag (16) | ciphertext.</summary>
    public static byte[] Seal(byte[] key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var output = new byte[12 + 16 + plaintext.Length];
        var nonce = output.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, plaintext, output.AsSpan(28), output.AsSpan(12, 16), associatedData);
        return output;
    }

    /// <summary>Opens a sealed box; null when it does not authenticate.</summary>
    public static byte[]? Open(byte[] key, ReadOnlySpan<byte> sealedBox, ReadOnlySpan<byte> associatedData)
    {
        if (sealedBox.Length < 28)
        {
            return null;
        }

        var plaintext = new byte[sealedBox.Length - 28];
        using var aes = new AesGcm(key, 16);
        try
        {
            aes.Decrypt(sealedBox[..12], sealedBox[28..], sealedBox.Slice(12, 16), plaintext, associatedData);
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }
}

/// <summary>Encrypts content at rest under the record's data key before it reaches the underlying store.</summary>
public sealed class EncryptingContentStore(IContentStore inner, KeyRing keys) : IContentStore
{
    public string? Unavailable() => inner.Unavailable();

    public async Task PutAsync(DmpDbContext db, string recordId, string key, byte[] data, CancellationToken ct)
    {
        var dataKey = await keys.GetOrCreateAsync(db, recordId, ct);
        await inner.PutAsync(db, recordId, key, KeyRing.Seal(dataKey, data, Aad(recordId, key)), ct);
    }

    public async Task<byte[]?> GetAsync(DmpDbContext db, string recordId, string key, CancellationToken ct)
    {
        var sealedBox = await inner.GetAsync(db, recordId, key, ct);
        if (sealedBox is null)
        {
            return null;
        }

        var dataKey = await keys.FindAsync(db, recordId, ct);
        return dataKey is null ? null : KeyRing.Open(dataKey, sealedBox, Aad(recordId, key)) ?? throw new CryptographicException("document content does not authenticate (altered at rest)");
    }

    public Task RemoveAsync(DmpDbContext db, string recordId, string key, CancellationToken ct) => inner.RemoveAsync(db, recordId, key, ct);

    public Task DiscardAsync(string recordId, string key) => inner.DiscardAsync(recordId, key);

    private static byte[] Aad(string recordId, string key) => Encoding.UTF8.GetBytes(recordId + "/" + key);
}
