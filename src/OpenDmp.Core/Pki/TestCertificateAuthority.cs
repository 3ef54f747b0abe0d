using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OpenDmp.Core.Identity;

namespace OpenDmp.Core.Pki;

/// <summary>
/// The platform's test certification authority (CPS model, design D7). It lives in DATA/pki
/// (ca.crt, ca.key) and issues the server certificate and CPS-like professional certificates.
/// A professional certificate carries the national PS identifier "8" + RPPS in the subject's
/// serialNumber attribute (OID 2.5.4.5), as CPS cards do, with clientAuth and emailProtection usages.
/// </summary>
public sealed class TestCertificateAuthority
{
    private const string SerialNumberOid = "2.5.4.5";

    /// <summary>How far back a certificate's validity starts (tolerates clocks a little behind).</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    private TestCertificateAuthority(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The CA certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public static string CaCertPath(string pkiDir) => Path.Combine(pkiDir, "ca.crt");

    /// <summary>Loads the CA of a pki directory, creating it on first use.</summary>
    public static TestCertificateAuthority LoadOrCreate(string pkiDir, TimeProvider time)
    {
        System.IO.Directory.CreateDirectory(pkiDir);
        var crt = CaCertPath(pkiDir);
        var key = Path.Combine(pkiDir, "ca.key");
        if (File.Exists(crt) && File.Exists(key))
        {
            return new TestCertificateAuthority(X509Certificate2.CreateFromPemFile(crt, key));
        }

        using var rsa = RSA.Create(3072);
        var req = new CertificateRequest("CN=OpenDMP Test CA, O=OpenDMP (test), C=FR", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        var now = time.GetUtcNow();
        using var ca = req.CreateSelfSigned(now.AddDays(-30), now.AddYears(10));
        WritePem(crt, key, ca, rsa);
        return new TestCertificateAuthority(X509Certificate2.CreateFromPemFile(crt, key));
    }

    /// <summary>Issues the HTTPS server certificate (localhost, 127.0.0.1, ::1 and the given names).</summary>
    public X509Certificate2 IssueServer(string outDir, IEnumerable<string> extraNames, TimeProvider time)
    {
        using var rsa = RSA.Create(2048);
        var req = new CertificateRequest("CN=OpenDMP server, O=OpenDMP (test), C=FR", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        foreach (var n in extraNames)
        {
            if (IPAddress.TryParse(n, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(n);
            }
        }

        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var cert = Sign(req, time, TimeSpan.FromDays(825));
        WritePem(Path.Combine(outDir, "server.crt"), Path.Combine(outDir, "server.key"), cert, rsa);
        return X509Certificate2.CreateFromPemFile(Path.Combine(outDir, "server.crt"), Path.Combine(outDir, "server.key"));
    }

    /// <summary>Issues a CPS-like professional certificate; writes {rpps}.crt and {rpps}.key (PEM) into outDir.</summary>
    public X509Certificate2 IssueProfessional(string rpps, string displayName, string? email, string outDir, TimeProvider time, TimeSpan? validity = null, X509KeyUsageFlags? keyUsage = null, IReadOnlyList<string>? extendedUsages = null)
    {
        if (Rpps.Validate(rpps) is { } err)
        {
            throw new ArgumentException(err, nameof(rpps));
        }

        return IssueClient("Professionnel de santé", Rpps.ToIdNatPs(rpps), displayName, email, rpps, outDir, time, validity, keyUsage, extendedUsages);
    }

    /// <summary>
    /// Issues a staff card's certificate (CPE-like: medical secretary, pharmacy assistant): serialNumber
    /// "3" + the staff identifier; writes staff-{identifier}.crt and .key (PEM, '/' replaced by '_').
    /// </summary>
    public X509Certificate2 IssueStaff(string identifier, string displayName, string outDir, TimeProvider time) =>
        IssueClient("Personnel", StaffPrefix + identifier, displayName, null, "staff-" + identifier.Replace('/', '_'), outDir, time, null, null, null);

    /// <summary>
    /// Issues an organisation's certificate for its information system (a hospital's admission
    /// system): serialNumber "1" + FINESS (national structure identifier); writes org-{finess}.crt and .key.
    /// </summary>
    public X509Certificate2 IssueOrganization(string finess, string name, string outDir, TimeProvider time)
    {
        if (!Directory.DirectoryService.IsFiness(finess))
        {
            throw new ArgumentException($"a FINESS number is 9 digits (2A/2B for Corsica), got '{finess}'", nameof(finess));
        }

        return IssueClient("Personne morale", OrganizationPrefix + finess, name, null, "org-" + finess, outDir, time, null, null, null);
    }

    private const string StaffPrefix = "3";
    private const string OrganizationPrefix = "1";

    private X509Certificate2 IssueClient(string unit, string serialNumber, string displayName, string? email, string fileBase, string outDir, TimeProvider time, TimeSpan? validity, X509KeyUsageFlags? keyUsage, IReadOnlyList<string>? extendedUsages)
    {
        using var rsa = RSA.Create(2048);
        var dn = new X500DistinguishedNameBuilder();
        dn.AddCountryOrRegion("FR");
        dn.AddOrganizationName("OpenDMP (test)");
        dn.AddOrganizationalUnitName(unit);
        dn.Add(SerialNumberOid, serialNumber, System.Formats.Asn1.UniversalTagNumber.PrintableString);
        dn.AddCommonName(displayName);
        var req = new CertificateRequest(dn.Build(), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage ?? (X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment), true));
        var ekus = new OidCollection();
        foreach (var oid in extendedUsages ?? ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4"])
        {
            ekus.Add(new Oid(oid));
        }

        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(ekus, false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri($"urn:oid:{Rpps.IdNatPsSystem[8..]}:{Uri.EscapeDataString(serialNumber)}"));
        if (email is not null)
        {
            san.AddEmailAddress(email);
        }

        req.CertificateExtensions.Add(san.Build());
        var cert = Sign(req, time, validity ?? TimeSpan.FromDays(3 * 365));
        System.IO.Directory.CreateDirectory(outDir);
        var crt = Path.Combine(outDir, fileBase + ".crt");
        var key = Path.Combine(outDir, fileBase + ".key");
        WritePem(crt, key, cert, rsa);
        return X509Certificate2.CreateFromPemFile(crt, key);
    }

    /// <summary>
    /// Writes a certificate and its key as a password-protected PKCS#12 file (what browsers import);
    /// PBES2 with AES-256 and SHA-256.
    /// </summary>
    public static void WritePkcs12(X509Certificate2 certificate, string path, string password) =>
        File.WriteAllBytes(path, certificate.ExportPkcs12(new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000), password));

    /// <summary>
    /// The platform's secure-messaging certificate for its deposit address (DATA/pki/messaging/platform.crt
    /// + .key), issued on first use: senders encrypt deposits for it, and it signs the platform's answers.
    /// </summary>
    public X509Certificate2 PlatformMessaging(string pkiDir, string address, TimeProvider time)
    {
        var dir = Path.Combine(pkiDir, "messaging");
        System.IO.Directory.CreateDirectory(dir);
        var crt = Path.Combine(dir, "platform.crt");
        var key = Path.Combine(dir, "platform.key");
        if (File.Exists(crt) && File.Exists(key))
        {
            var existing = X509Certificate2.CreateFromPemFile(crt, key);
            if (string.Equals(existing.GetNameInfo(X509NameType.EmailName, false), address, StringComparison.OrdinalIgnoreCase))
            {
                return existing;
            }

            existing.Dispose();
        }

        using var rsa = RSA.Create(2048);
        var req = new CertificateRequest($"CN=OpenDMP {address}, O=OpenDMP (test), C=FR", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.4")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddEmailAddress(address);
        req.CertificateExtensions.Add(san.Build());
        using var cert = Sign(req, time, TimeSpan.FromDays(3 * 365));
        WritePem(crt, key, cert, rsa);
        return X509Certificate2.CreateFromPemFile(crt, key);
    }

    /// <summary>The platform's audit signing certificate (DATA/pki/audit.crt + audit.key), issued on first use.</summary>
    public X509Certificate2 AuditSigner(string pkiDir, TimeProvider time)
    {
        var crt = Path.Combine(pkiDir, "audit.crt");
        var key = Path.Combine(pkiDir, "audit.key");
        if (!File.Exists(crt) || !File.Exists(key))
        {
            using var rsa = RSA.Create(3072);
            var req = new CertificateRequest("CN=OpenDMP audit signing, O=OpenDMP (test), C=FR", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation, true));
            using var cert = Sign(req, time, TimeSpan.FromDays(5 * 365));
            WritePem(crt, key, cert, rsa);
        }

        return X509Certificate2.CreateFromPemFile(crt, key);
    }

    /// <summary>The RPPS carried by a professional certificate (serialNumber "8"+RPPS), or null.</summary>
    public static string? RppsOf(X509Certificate2 certificate)
    {
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.GetSingleElementType().Value == SerialNumberOid && rdn.GetSingleElementValue() is { Length: 12 } v && v[0] == '8')
            {
                var rpps = v[1..];
                return Rpps.Validate(rpps) is null ? rpps : null;
            }
        }

        return null;
    }

    /// <summary>The staff identifier carried by a staff card's certificate (serialNumber "3" + identifier), or null.</summary>
    public static string? StaffIdentifierOf(X509Certificate2 certificate) =>
        SerialNumberOf(certificate) is { Length: > 1 } v && v.StartsWith(StaffPrefix, StringComparison.Ordinal) && Directory.StaffService.ValidateIdentifier(v[1..]) is null ? v[1..] : null;

    /// <summary>The FINESS carried by an organisation's certificate (serialNumber "1" + FINESS), or null.</summary>
    public static string? FinessOf(X509Certificate2 certificate) =>
        SerialNumberOf(certificate) is { Length: 10 } v && v.StartsWith(OrganizationPrefix, StringComparison.Ordinal) && Directory.DirectoryService.IsFiness(v[1..]) ? v[1..] : null;

    private static string? SerialNumberOf(X509Certificate2 certificate)
    {
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.GetSingleElementType().Value == SerialNumberOid)
            {
                return rdn.GetSingleElementValue();
            }
        }

        return null;
    }

    /// <summary>True when the certificate chains to this CA, is within its validity period and allows client authentication.</summary>
    public static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2 ca, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(certificate) && chain.ChainElements[^1].Certificate.Thumbprint == ca.Thumbprint;
    }

    private X509Certificate2 Sign(CertificateRequest req, TimeProvider time, TimeSpan validity)
    {
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        var now = time.GetUtcNow();
        var notAfter = now.Add(validity);
        if (notAfter > Certificate.NotAfter)
        {
            notAfter = Certificate.NotAfter;
        }

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        return req.Create(Certificate, now - Backdate, notAfter, serial);
    }

    private static void WritePem(string crtPath, string keyPath, X509Certificate2 cert, RSA key)
    {
        File.WriteAllText(crtPath, cert.ExportCertificatePem() + "\n", Encoding.ASCII);
        // Owner-only from its creation, never readable by others even for an instant.
        OpenDmp.Core.Content.KeyRing.WriteKeyFile(keyPath, Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem() + "\n"), FileMode.Create);
    }
}
