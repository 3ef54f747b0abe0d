using OpenDmp.Core.Content;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>The operator's master-key rotation (docs/OPERATIONS.md): re-wraps the record keys and re-seals the data-protection keys.</summary>
public static class KeyStore
{
    /// <summary>After <see cref="MasterKeyRotation.Rotate"/>: moves every key still under the previous master key to the current one.</summary>
    public static async Task<(RewrapReport Records, int DataProtection)> RewrapAsync(IServiceProvider services, CancellationToken ct)
    {
        var db = services.GetRequiredService<DmpDbContext>();
        var keys = services.GetRequiredService<KeyRing>();
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
