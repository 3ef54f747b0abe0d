using System.Security.Cryptography.X509Certificates;
using OpenDmp.Core.Pki;

namespace OpenDmp.Core.Audit;

/// <summary>Settings of the audit trail's integrity (configuration section <c>Audit</c>).</summary>
public sealed class AuditOptions
{
    /// <summary>Seconds between checkpoints over the chains written since the previous one (default 5; 0 disables).</summary>
    public int CheckpointSeconds { get; set; } = 5;

    /// <summary>Hours between checkpoints over every chain (and one at start), which also cover chains written by an instance that stopped before its checkpoint.</summary>
    public double FullCheckpointHours { get; set; } = 24;

    /// <summary>
    /// The checkpoint signing certificate and key (PEM). Keep them apart from the data folder (another
    /// volume, another administrator): whoever holds the key can re-sign a rewritten trail. Default:
    /// DATA/pki/audit.crt and audit.key, created on first use.
    /// </summary>
    public string? SigningCertificateFile { get; set; }

    public string? SigningKeyFile { get; set; }

    /// <summary>The certificate <c>audit verify</c> trusts (public part only; default: the signing certificate).</summary>
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

    /// <summary>The certificate verification trusts: the configured public certificate, else the signing certificate.</summary>
    public X509Certificate2 Verifier()
    {
        if (options.VerificationCertificateFile is { } file)
        {
            return File.Exists(file)
                ? X509CertificateLoader.LoadCertificateFromFile(file)
                : throw new InvalidOperationException($"Audit:VerificationCertificateFile {file} does not exist");
        }

        if (options.SigningCertificateFile is { } cert)
        {
            return X509CertificateLoader.LoadCertificateFromFile(cert);
        }

        var defaultCert = Path.Combine(Pki, "audit.crt");
        return File.Exists(defaultCert) ? X509CertificateLoader.LoadCertificateFromFile(defaultCert) : Signer();
    }
}
