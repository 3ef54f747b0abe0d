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
    private const string Purpose = "data-protection-keys";

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
            var sealedBox = KeyRing.Seal(keys.DeriveKey(Purpose), System.Text.Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting)), System.Text.Encoding.UTF8.GetBytes(Purpose));
            return new EncryptedXmlInfo(new XElement("sealedKey", new XComment(" sealed under a key derived from the OpenDMP master key "), new XElement("value", Convert.ToBase64String(sealedBox))), typeof(MasterKeyXmlDecryptor));
        }
    }
}

/// <summary>Opens a key element sealed by <see cref="DataProtectionKeys"/> (created by the data-protection system with the service provider).</summary>
public sealed class MasterKeyXmlDecryptor(IServiceProvider services) : IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement)
    {
        var keys = services.GetRequiredService<KeyRing>();
        var sealedBox = Convert.FromBase64String((string?)encryptedElement.Element("value") ?? throw new InvalidOperationException("a sealed data-protection key has no value"));
        var plaintext = KeyRing.Open(keys.DeriveKey("data-protection-keys"), sealedBox, System.Text.Encoding.UTF8.GetBytes("data-protection-keys"))
            ?? throw new System.Security.Cryptography.CryptographicException("a data-protection key does not open under the master key (was the master key replaced?)");
        return XElement.Parse(System.Text.Encoding.UTF8.GetString(plaintext));
    }
}
