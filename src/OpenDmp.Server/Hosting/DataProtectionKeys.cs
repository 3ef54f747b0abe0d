using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OpenDmp.Core.Content;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// The data-protection key ring (antiforgery tokens, protected URLs) lives in the database, so that
/// every instance of a deployment accepts what another issued, and each key is sealed under a key
/// derived from the master key (AES-256-GCM), so that a database dump alone does not reveal it.
/// </summary>
public static class DataProtectionKeys
{
    internal const string Purpose = "data-protection-keys";

    public static IServiceCollection AddSharedDataProtection(this IServiceCollection services)
    {
        services.AddDataProtection().SetApplicationName("opendmp");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            o.XmlRepository = new DatabaseXmlRepository(sp.GetRequiredService<IServiceScopeFactory>());
            o.XmlEncryptor = new MasterKeyXmlEncryptor(sp.GetRequiredService<KeyRing>());
        }));
        return services;
    }

    /// <summary>After a master-key rotation: re-seals under the current master key every key ring entry still sealed under the previous one; returns how many.</summary>
    public static async Task<int> ResealAsync(DmpDbContext db, KeyRing keys, CancellationToken ct)
    {
        var resealed = 0;
        var current = keys.DeriveKey(Purpose);
        foreach (var row in await db.DataProtectionKeys.ToListAsync(ct))
        {
            var xml = XElement.Parse(row.Xml);
            var changed = false;
            foreach (var value in xml.Descendants("sealedKey").Select(s => s.Element("value")).OfType<XElement>())
            {
                var box = Convert.FromBase64String(value.Value);
                if (KeyRing.Open(current, box, AssociatedData) is not null)
                {
                    continue;
                }

                var plaintext = MasterKeyXmlDecryptor.Open(keys, box);
                value.Value = Convert.ToBase64String(KeyRing.Seal(current, plaintext, AssociatedData));
                changed = true;
            }

            if (changed)
            {
                row.Xml = xml.ToString(SaveOptions.DisableFormatting);
                resealed++;
            }
        }

        await db.SaveChangesAsync(ct);
        return resealed;
    }

    internal static byte[] AssociatedData => System.Text.Encoding.UTF8.GetBytes(Purpose);

    /// <summary>Stores the key ring's XML elements in the table data_protection_keys.</summary>
    private sealed class DatabaseXmlRepository(IServiceScopeFactory scopes) : IXmlRepository
    {
        public IReadOnlyCollection<XElement> GetAllElements()
        {
            using var scope = scopes.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
            return [.. db.DataProtectionKeys.AsNoTracking().OrderBy(k => k.Id).Select(k => k.Xml).AsEnumerable().Select(x => XElement.Parse(x))];
        }

        public void StoreElement(XElement element, string friendlyName)
        {
            using var scope = scopes.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
            db.DataProtectionKeys.Add(new DataProtectionKey { FriendlyName = friendlyName, Xml = element.ToString(SaveOptions.DisableFormatting), CreatedAt = DateTimeOffset.UtcNow });
            db.SaveChanges();
        }
    }

    /// <summary>Seals a key element under the derived key; the decryptor is named in the stored XML.</summary>
    private sealed class MasterKeyXmlEncryptor(KeyRing keys) : IXmlEncryptor
    {
        public EncryptedXmlInfo Encrypt(XElement plaintextElement)
        {
            var sealedBox = KeyRing.Seal(keys.DeriveKey(Purpose), System.Text.Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting)), AssociatedData);
            return new EncryptedXmlInfo(new XElement("sealedKey", new XComment(" sealed under a key derived from the OpenDMP master key "), new XElement("value", Convert.ToBase64String(sealedBox))), typeof(MasterKeyXmlDecryptor));
        }
    }
}

/// <summary>Opens a key element sealed by <see cref="DataProtectionKeys"/> (created by the data-protection system with the service provider).</summary>
public sealed class MasterKeyXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var sealedBox = Convert.FromBase64String((string?)encryptedElement.Element("value") ?? throw new InvalidOperationException("a sealed data-protection key has no value"));
        return XElement.Parse(System.Text.Encoding.UTF8.GetString(Open(services.GetRequiredService<KeyRing>(), sealedBox)));
    }

    /// <summary>Opens under the current master key's derived key, else the previous one's (during a rotation).</summary>
    internal static byte[] Open(KeyRing keys, byte[] sealedBox)
    {
        foreach (var key in keys.DerivedKeysToOpen(DataProtectionKeys.Purpose))
        {
            if (KeyRing.Open(key, sealedBox, DataProtectionKeys.AssociatedData) is { } plaintext)
            {
                return plaintext;
            }
        }

        throw new System.Security.Cryptography.CryptographicException("a data-protection key does not open under the master key (was the master key replaced?)");
    }
}
