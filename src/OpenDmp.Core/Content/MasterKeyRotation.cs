using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Content;

/// <summary>What a re-wrapping pass found: keys moved to the current master key, keys already under it, keys that open under neither.</summary>
public sealed record RewrapReport(int Rewrapped, int Current, IReadOnlyList<string> Unreadable);

/// <summary>
/// Rotation of the master key (docs/OPERATIONS.md) in two steps that never leave a record key
/// under a master key that is gone: <see cref="Rotate"/> makes a new current key and keeps the old
/// one as "previous" (every instance still opens what it wrapped), then re-wraps the record keys;
/// once every instance was restarted on the new key, <see cref="RetirePreviousAsync"/> re-wraps the
/// stragglers and deletes the previous key only if every record key opens under the current one.
/// </summary>
public static class MasterKeyRotation
{
    private const int Batch = 500;

    public static string PreviousOf(string masterKeyFile) => masterKeyFile + ".previous";

    /// <summary>Makes a new master key; the current one becomes the previous one. Refused while a previous one exists.</summary>
    public static void Rotate(string masterKeyFile)
    {
        if (!File.Exists(masterKeyFile))
        {
            throw DmpException.Invalid($"no master key at {masterKeyFile}");
        }

        var previous = PreviousOf(masterKeyFile);
        if (File.Exists(previous))
        {
            throw new DmpException(ErrorKind.Conflict, $"a rotation is not finished ({previous} exists): restart every instance, then run 'opendmp keys retire-previous' before rotating again");
        }

        // At every step a current key exists: previous is a copy, the new key replaces the current one atomically.
        KeyRing.WriteKeyFile(previous, File.ReadAllBytes(masterKeyFile), FileMode.Create);
        var next = masterKeyFile + ".next";
        KeyRing.WriteKeyFile(next, RandomNumberGenerator.GetBytes(32), FileMode.Create);
        File.Move(next, masterKeyFile, overwrite: true);
    }

    /// <summary>Re-wraps under the current master key every record key that still opens only under the previous one.</summary>
    public static async Task<RewrapReport> RewrapAsync(DmpDbContext db, KeyRing ring, CancellationToken ct)
    {
        int rewrapped = 0, current = 0;
        var unreadable = new List<string>();
        string? after = null;
        while (true)
        {
            var rows = await db.RecordKeys.Where(k => after == null || k.RecordId.CompareTo(after) > 0).OrderBy(k => k.RecordId).Take(Batch).ToListAsync(ct);
            if (rows.Count == 0)
            {
                break;
            }

            foreach (var row in rows)
            {
                var (key, underPrevious) = ring.TryUnwrap(row.RecordId, row.WrappedKey);
                if (key is null)
                {
                    // A destroyed record's key a restore brought back is purged at start; it is not a loss.
                    if (!ring.IsShredded(row.RecordId))
                    {
                        unreadable.Add(row.RecordId);
                    }
                }
                else if (underPrevious)
                {
                    row.WrappedKey = ring.WrapCurrent(row.RecordId, key);
                    rewrapped++;
                }
                else
                {
                    current++;
                }
            }

            await db.SaveChangesAsync(ct);
            db.ChangeTracker.Clear();
            after = rows[^1].RecordId;
        }

        return new RewrapReport(rewrapped, current, unreadable);
    }

    /// <summary>Re-wraps the stragglers, then deletes the previous key — refused if any record key would be left unreadable.</summary>
    public static async Task<RewrapReport> RetirePreviousAsync(string masterKeyFile, DmpDbContext db, KeyRing ring, CancellationToken ct)
    {
        if (!File.Exists(PreviousOf(masterKeyFile)))
        {
            throw new DmpException(ErrorKind.Conflict, "no rotation to finish: there is no previous master key");
        }

        var report = await RewrapAsync(db, ring, ct);
        if (report.Unreadable.Count > 0)
        {
            throw new DmpException(ErrorKind.Conflict, $"{report.Unreadable.Count} record key(s) open under neither master key (first: {report.Unreadable[0]}): the previous key is kept; restore the key store that wrapped them");
        }

        File.Delete(PreviousOf(masterKeyFile));
        return report;
    }
}
