using System.Security.Cryptography.X509Certificates;
using OpenDmp.Core.Pki;

namespace OpenDmp.Core.Audit;

/// <summary>Settings of the audit trail's integrity (configuration section <c>Audit</c>).</summary>
public sealed class AuditOptions
{
    /// <summary>Seconds between checkpoints over the chains written since the previous one (default 5; 0 disables).</summary>
    public int CheckpointSeconds { get; set; } = 5;

    /// <summary>
    /// Group commit of the entries requests append on their own (reads, searches, refusals): those
    /// waiting when a transaction ends are written together, each request answered once its entry
    /// is durable (default on).
    /// </summary>
    public bool GroupCommit { get; set; } = true;

    /// <summary>Most entries in one group commit (default 64).</summary>
    public int GroupCommitMaxEntries { get; set; } = 64;

    /// <summary>
    /// PostgreSQL with group commit: how many documents (with their record's facts) a server keeps in
    /// memory for reads by id, each one's permit confirmed under the record's lock, in the read's
    /// audit transaction, against the record's facts version (ADR 0036); default 10,000, 0 disables.
    /// </summary>
    public int DocumentFactsCacheEntries { get; set; } = 10_000;

    /// <summary>Hours between checkpoints over every chain (and one at start), which also cover chains written by an instance that stopped before its checkpoint.</summary>
    public double FullCheckpointHours { get; set; } = 24;

    /// <summary>
    /// The checkpoint signing certificate and key (PEM). Keep them apart from the data folder (another
    /// volume, another administrator): whoever holds the key can re-sign a rewritten trail. Default:
    /// DATA/pki/audit.crt and audit.key, created on first use.
    /// </summary>
    public string? SigningCertificateFile { get; set; }

    public string? SigningKeyFile { get; set; }

    /// <summary>
    /// The certificates <c>audit verify</c> trusts (public parts only, one PEM file that may hold
    /// several: the current signer and those retired by rotation). Default: the signing certificate
    /// and the retired ones kept in DATA/pki/audit-retired/.
    /// </summary>
    public string? VerificationCertificateFile { get; set; }

    /// <summary>
    /// Append-only file where every checkpoint is also written, outside the database (default
    /// DATA/audit/anchors.jsonl; put it on storage the database administrators cannot rewrite).
    /// </summary>
    public string? AnchorFile { get; set; }
}

/// <summary>Where the audit signing key, the verification certificate and the anchor file are.</summary>
public sealed class AuditKeys(AuditOptions options, string dataRoot)
{
    private X509Certificate2? _signer;

    public AuditOptions Options => options;

    public string AnchorPath => options.AnchorFile ?? Path.Combine(dataRoot, "audit", "anchors.jsonl");

    private string Pki => Path.Combine(dataRoot, "pki");

    /// <summary>The signing certificate with its private key (the configured files, else DATA/pki/audit.*, issued on first use).</summary>
    public X509Certificate2 Signer()
    {
        if (_signer is not null)
        {
            return _signer;
        }

        if (options.SigningCertificateFile is not null || options.SigningKeyFile is not null)
        {
            if (options.SigningCertificateFile is null || options.SigningKeyFile is null || !File.Exists(options.SigningCertificateFile) || !File.Exists(options.SigningKeyFile))
            {
                throw new InvalidOperationException("Audit:SigningCertificateFile and Audit:SigningKeyFile must both name existing PEM files");
            }

            return _signer = X509Certificate2.CreateFromPemFile(options.SigningCertificateFile, options.SigningKeyFile);
        }

        return _signer = TestCertificateAuthority.LoadOrCreate(Pki, TimeProvider.System).AuditSigner(Pki, TimeProvider.System);
    }

    /// <summary>Where the certificates of retired signing keys are kept (public parts: older checkpoints still verify).</summary>
    public string RetiredDirectory => Path.Combine(Pki, "audit-retired");

    /// <summary>
    /// The certificates verification trusts: the configured bundle, else the signing certificate and
    /// every retired one. A checkpoint is checked against the one its signer thumbprint names.
    /// </summary>
    public X509Certificate2Collection Verifiers()
    {
        var trusted = new X509Certificate2Collection();
        if (options.VerificationCertificateFile is { } file)
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"Audit:VerificationCertificateFile {file} does not exist");
            }

            trusted.ImportFromPemFile(file);
            return trusted.Count > 0 ? trusted : throw new InvalidOperationException($"Audit:VerificationCertificateFile {file} holds no certificate");
        }

        var current = options.SigningCertificateFile ?? Path.Combine(Pki, "audit.crt");
        trusted.Add(File.Exists(current) ? X509CertificateLoader.LoadCertificateFromFile(current) : Signer());
        if (System.IO.Directory.Exists(RetiredDirectory))
        {
            foreach (var retired in System.IO.Directory.EnumerateFiles(RetiredDirectory, "*.crt").Order(StringComparer.Ordinal))
            {
                trusted.Add(X509CertificateLoader.LoadCertificateFromFile(retired));
            }
        }

        return trusted;
    }

    /// <summary>
    /// Replaces the signing key: a new key and certificate take the signing files' place; the previous
    /// certificate (public part) is kept in <see cref="RetiredDirectory"/> so that the checkpoints it
    /// signed still verify, and the previous private key is deleted (it signs nothing any more).
    /// Running instances keep the key they loaded until restarted; what they sign still verifies.
    /// </summary>
    public (string Previous, X509Certificate2 Current) RotateSigningKey(TimeProvider time)
    {
        if (options.VerificationCertificateFile is not null)
        {
            throw new InvalidOperationException("Audit:VerificationCertificateFile is configured: it is the operator's trust list, which this command does not write. Issue the new key yourself, add its certificate to that file (keeping the previous ones), then point Audit:SigningCertificateFile and SigningKeyFile to it");
        }

        var previous = Signer();
        var crt = options.SigningCertificateFile ?? Path.Combine(Pki, "audit.crt");
        var key = options.SigningKeyFile ?? Path.Combine(Pki, "audit.key");
        System.IO.Directory.CreateDirectory(RetiredDirectory);
        File.WriteAllText(Path.Combine(RetiredDirectory, previous.Thumbprint + ".crt"), previous.ExportCertificatePem());
        File.Delete(key);
        File.Delete(crt);
        _signer = null;
        if (options.SigningCertificateFile is null)
        {
            return (previous.Thumbprint, _signer = TestCertificateAuthority.LoadOrCreate(Pki, time).AuditSigner(Pki, time));
        }

        // Configured files: a self-signed signing certificate in their place (the key stays outside the data folder).
        using var rsa = System.Security.Cryptography.RSA.Create(3072);
        var request = new CertificateRequest("CN=OpenDMP audit signing", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation, true));
        using var self = request.CreateSelfSigned(time.GetUtcNow().AddMinutes(-5), time.GetUtcNow().AddYears(5));
        OpenDmp.Core.Content.KeyRing.WriteKeyFile(key, System.Text.Encoding.ASCII.GetBytes(rsa.ExportPkcs8PrivateKeyPem() + "\n"), FileMode.Create);
        File.WriteAllText(crt, self.ExportCertificatePem());
        return (previous.Thumbprint, _signer = X509Certificate2.CreateFromPemFile(crt, key));
    }
}
