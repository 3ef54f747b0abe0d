using OpenDmp.Core.Content;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>The operator's master-key rotation (docs/OPERATIONS.md): re-wraps the record keys and re-seals the data-protection keys.</summary>
public static class KeyStore
{
    /// <summary>Rotates the master key file, then moves every key still under the previous master key to the new one.</summary>
    public static async Task<(RewrapReport Records, int DataProtection)> RotateAsync(IServiceProvider services, string masterKeyFile, CancellationToken ct)
    {
        MasterKeyRotation.Rotate(masterKeyFile);

        // The services' key ring was loaded before the rotation: the new one holds both keys.
        var keys = KeyRing.FromFile(masterKeyFile);
        var db = services.GetRequiredService<DmpDbContext>();
        var report = await MasterKeyRotation.RewrapAsync(db, keys, ct);
        return (report, await DataProtectionKeys.ResealAsync(db, keys, ct));
    }

    /// <summary>Re-wraps the stragglers and deletes the previous master key, refused if any record key would be left unreadable.</summary>
    public static async Task<(RewrapReport Records, int DataProtection)> RetirePreviousAsync(IServiceProvider services, string masterKeyFile, CancellationToken ct)
    {
        var db = services.GetRequiredService<DmpDbContext>();
        var keys = services.GetRequiredService<KeyRing>();
        var resealed = await DataProtectionKeys.ResealAsync(db, keys, ct);
        return (await MasterKeyRotation.RetirePreviousAsync(masterKeyFile, db, keys, ct), resealed);
    }
}
