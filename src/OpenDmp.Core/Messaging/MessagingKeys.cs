using System.Security.Cryptography.X509Certificates;
using OpenDmp.Core.Pki;

namespace OpenDmp.Core.Messaging;

/// <summary>
/// The keys secure messaging uses, under DATA/pki: the platform's deposit-address certificate, the
/// trust anchor (the platform CA), and the messaging keys of the professionals whose secure mailbox
/// the platform operates (DATA/pki/messaging/{rpps}.crt + .key, installed by
/// <c>opendmp pki issue-professional --email</c>; ADR 0009). Recipients' certificates come from the directory.
/// </summary>
public sealed class MessagingKeys
{
    private readonly string _pkiDir;
    private readonly Lazy<X509Certificate2> _platform;
    private readonly Lazy<X509Certificate2> _anchor;

    public MessagingKeys(string pkiDir, MessagingOptions options, TimeProvider time)
    {
        _pkiDir = pkiDir;
        var ca = new Lazy<TestCertificateAuthority>(() => TestCertificateAuthority.LoadOrCreate(pkiDir, time));
        _platform = new Lazy<X509Certificate2>(() => Usable(ca.Value.PlatformMessaging(pkiDir, options.DepositAddress, time)));
        _anchor = new Lazy<X509Certificate2>(() => X509CertificateLoader.LoadCertificate(ca.Value.Certificate.RawData));
    }

    public X509Certificate2 Platform => _platform.Value;

    public X509Certificate2 TrustAnchor => _anchor.Value;

    public static string Dir(string pkiDir) => Path.Combine(pkiDir, "messaging");

    /// <summary>The messaging key of a professional whose mailbox the platform operates, or null.</summary>
    public X509Certificate2? Professional(string rpps)
    {
        var crt = Path.Combine(Dir(_pkiDir), rpps + ".crt");
        var key = Path.Combine(Dir(_pkiDir), rpps + ".key");
        return File.Exists(crt) && File.Exists(key) ? Usable(X509Certificate2.CreateFromPemFile(crt, key)) : null;
    }

    /// <summary>Installs a professional's messaging certificate and key (PEM files) into the platform's store.</summary>
    public static void Install(string pkiDir, string rpps, string certPemPath, string keyPemPath)
    {
        System.IO.Directory.CreateDirectory(Dir(pkiDir));
        File.Copy(certPemPath, Path.Combine(Dir(pkiDir), rpps + ".crt"), true);
        var key = Path.Combine(Dir(pkiDir), rpps + ".key");
        File.Copy(keyPemPath, key, true);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    /// <summary>PEM-loaded keys are ephemeral; a PKCS#12 round trip gives an exportable, reusable key.</summary>
    private static X509Certificate2 Usable(X509Certificate2 cert)
    {
        using (cert)
        {
            return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12, (string?)null), null, X509KeyStorageFlags.Exportable);
        }
    }
}
