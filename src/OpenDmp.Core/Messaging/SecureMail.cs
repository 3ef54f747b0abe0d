using System.Security.Cryptography;
using EnvelopedCms = System.Security.Cryptography.Pkcs.EnvelopedCms;
using Pkcs = System.Security.Cryptography.Pkcs;
using SignedCms = System.Security.Cryptography.Pkcs.SignedCms;
using System.Security.Cryptography.X509Certificates;
using MimeKit;
using MimeKit.Cryptography;

namespace OpenDmp.Core.Messaging;

/// <summary>Why a received message was refused (each has its own clear reason for the sender).</summary>
public enum MailRejection
{
    NotEncrypted,
    CannotDecrypt,
    NotSigned,
    Tampered,
    Expired,
    WrongKeyUsage,
    UnknownCa,
    UnknownSender,
    /// <summary>The signer's certificate was revoked, or the professional deactivated.</summary>
    Revoked,
    Malformed,
    Refused,
}

public sealed class SecureMailException(MailRejection reason, string message) : Exception(message)
{
    public MailRejection Reason { get; } = reason;
}

/// <summary>A decrypted message whose signature and signer certificate were verified.</summary>
public sealed record OpenedMail(MimeEntity Content, X509Certificate2 Signer);

/// <summary>
/// S/MIME (RFC 8551). Sending with MimeKit and BouncyCastle: sign (multipart/signed, SHA-256) with
/// the sender's certificate, then encrypt (enveloped-data, AES-256-CBC) for every recipient. On
/// receipt, MIME parsed by MimeKit, CMS opened with .NET's native implementation: decrypt, check
/// the signer certificate against the platform trust anchor at the given time with its usages,
/// then the signature over the content. Each failure names its reason.
/// </summary>
public static class SecureMail
{
    private const string EmailProtectionOid = "1.3.6.1.5.5.7.3.4";

    public static MimeEntity SignAndEncrypt(MimeEntity content, X509Certificate2 signer, IEnumerable<X509Certificate2> recipients)
    {
        var signed = Sign(content, signer);
        return Encrypt(signed, recipients);
    }

    public static MultipartSigned Sign(MimeEntity content, X509Certificate2 signer)
    {
        if (!signer.HasPrivateKey)
        {
            throw new ArgumentException("the signing certificate has no private key", nameof(signer));
        }

        using var ctx = new TemporarySecureMimeContext();
        var cmsSigner = new CmsSigner(signer) { DigestAlgorithm = DigestAlgorithm.Sha256 };
        return MultipartSigned.Create(ctx, cmsSigner, content);
    }

    /// <summary>
    /// multipart/signed with a detached CMS signature (SHA-256, signer certificate included) computed
    /// by .NET's native CMS: used for the platform's answers on the deposit channel's hot path (a
    /// few milliseconds, against tens with the managed context; ADR 0009). Same wire format as <see cref="Sign"/>.
    /// Unlike MimeKit's signer it does not check the certificate's usages: the receiving side does.
    /// </summary>
    public static MultipartSigned SignNative(MimeEntity content, X509Certificate2 signer)
    {
        content.Prepare(EncodingConstraint.SevenBit, 78);
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var clear = new MemoryStream();
        content.WriteTo(options, clear);
        var cms = new SignedCms(new Pkcs.ContentInfo(clear.ToArray()), detached: true);
        cms.ComputeSignature(new Pkcs.CmsSigner(signer) { DigestAlgorithm = new Oid("2.16.840.1.101.3.4.2.1"), IncludeOption = X509IncludeOption.EndCertOnly });
        var signed = new MultipartSigned();
        signed.ContentType.Parameters["protocol"] = "application/pkcs7-signature";
        signed.ContentType.Parameters["micalg"] = "sha-256";
        signed.Add(content);
        signed.Add(new ApplicationPkcs7Signature(new MemoryStream(cms.Encode())) { ContentTransferEncoding = ContentEncoding.Base64 });
        return signed;
    }

    public static ApplicationPkcs7Mime Encrypt(MimeEntity content, IEnumerable<X509Certificate2> recipients)
    {
        using var ctx = new TemporarySecureMimeContext();
        var collection = new CmsRecipientCollection();
        foreach (var r in recipients)
        {
            collection.Add(new CmsRecipient(r) { EncryptionAlgorithms = [EncryptionAlgorithm.Aes256] });
        }

        if (collection.Count == 0)
        {
            throw new ArgumentException("at least one recipient certificate is needed", nameof(recipients));
        }

        return ApplicationPkcs7Mime.Encrypt(ctx, collection, content);
    }

    /// <summary>
    /// How inbound MIME is parsed: nesting bounded (a message needs a few levels: signed, mixed,
    /// attachment), address groups bounded. Message size is bounded before parsing (Messaging:MaxMessageBytes).
    /// </summary>
    public static readonly ParserOptions InboundParserOptions = new() { MaxMimeDepth = 16, MaxAddressGroupDepth = 3 };

    /// <summary>
    /// Decrypts a message for <paramref name="recipient"/> (certificate with private key) and verifies
    /// its signature. Throws <see cref="SecureMailException"/> with the reason otherwise.
    /// </summary>
    public static OpenedMail Open(MimeEntity body, X509Certificate2 recipient, X509Certificate2 trustAnchor, DateTimeOffset now)
    {
        if (body is not ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.EnvelopedData } envelopedPart)
        {
            throw body is MultipartSigned or ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.SignedData }
                ? new SecureMailException(MailRejection.NotEncrypted, "the message is signed but not encrypted: documents about patients travel only encrypted for the recipient (S/MIME enveloped-data)")
                : new SecureMailException(MailRejection.NotSigned, "the message is neither signed nor encrypted: an S/MIME message (signed, then encrypted for the platform's certificate) is required");
        }

        // The CMS layers are opened with the platform's native CMS implementation
        // (System.Security.Cryptography.Pkcs over OpenSSL): about ten times faster than the
        // managed BouncyCastle path on the deposit channel's hot path (ADR 0009). MIME stays MimeKit's.
        var enveloped = new EnvelopedCms();
        try
        {
            enveloped.Decode(Decoded(envelopedPart));
        }
        catch (CryptographicException)
        {
            throw new SecureMailException(MailRejection.CannotDecrypt, "the encrypted content cannot be read (damaged or not CMS enveloped-data)");
        }

        if (!enveloped.RecipientInfos.Cast<Pkcs.RecipientInfo>().Any(r => IsFor(r.RecipientIdentifier, recipient)))
        {
            throw new SecureMailException(MailRejection.CannotDecrypt, "the message is not encrypted for the platform's certificate: encrypt it for the deposit address's certificate");
        }

        MimeEntity inner;
        try
        {
            enveloped.Decrypt([recipient]);
            inner = MimeEntity.Load(InboundParserOptions, new MemoryStream(enveloped.ContentInfo.Content));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            throw new SecureMailException(MailRejection.CannotDecrypt, "the encrypted content cannot be decrypted (damaged or altered in transit)");
        }

        SignedCms signed;
        MimeEntity content;
        try
        {
            switch (inner)
            {
                case MultipartSigned ms when ms.Count == 2 && ms[1] is MimePart signaturePart:
                    // The signed bytes are the first part as transmitted, in canonical CRLF form (RFC 8551 §3.1.1).
                    content = ms[0];
                    var options = FormatOptions.Default.Clone();
                    options.NewLineFormat = NewLineFormat.Dos;
                    using (var clear = new MemoryStream())
                    {
                        content.WriteTo(options, clear);
                        signed = new SignedCms(new Pkcs.ContentInfo(clear.ToArray()), detached: true);
                    }

                    signed.Decode(Decoded(signaturePart));
                    break;
                case ApplicationPkcs7Mime { SecureMimeType: SecureMimeType.SignedData } opaque:
                    signed = new SignedCms();
                    signed.Decode(Decoded(opaque));
                    content = MimeEntity.Load(InboundParserOptions, new MemoryStream(signed.ContentInfo.Content));
                    break;
                default:
                    throw new SecureMailException(MailRejection.NotSigned, "the message is encrypted but not signed: sign it with your professional certificate before encrypting");
            }
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException)
        {
            throw new SecureMailException(MailRejection.Tampered, "the signature cannot be read: the message was altered or is not valid S/MIME");
        }

        if (signed.SignerInfos.Count != 1)
        {
            throw new SecureMailException(MailRejection.NotSigned, signed.SignerInfos.Count == 0
                ? "the signature holds no signer"
                : "the message carries several signatures: one signer, the sending professional, is expected");
        }

        // The signer's certificate first (period, usages, chain: each has its own reason), then the
        // integrity of the content under the signature.
        var signer = signed.SignerInfos[0].Certificate
            ?? throw new SecureMailException(MailRejection.NotSigned, "the signature does not carry the signer's certificate");
        CheckSigner(signer, trustAnchor, now);
        try
        {
            signed.CheckSignature(verifySignatureOnly: true);
        }
        catch (CryptographicException)
        {
            throw new SecureMailException(MailRejection.Tampered, "the signature does not match the content: the message was altered after it was signed");
        }

        return new OpenedMail(content, signer);
    }

    private static byte[] Decoded(MimePart part)
    {
        using var ms = new MemoryStream();
        part.Content?.DecodeTo(ms);
        return ms.ToArray();
    }

    private static bool IsFor(Pkcs.SubjectIdentifier id, X509Certificate2 certificate) => id.Type switch
    {
        Pkcs.SubjectIdentifierType.IssuerAndSerialNumber when id.Value is System.Security.Cryptography.Xml.X509IssuerSerial s =>
            s.IssuerName == certificate.Issuer && string.Equals(s.SerialNumber, certificate.SerialNumber, StringComparison.OrdinalIgnoreCase),
        Pkcs.SubjectIdentifierType.SubjectKeyIdentifier =>
            certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault()?.SubjectKeyIdentifier is { } ski && string.Equals(ski, id.Value as string, StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>Checks a signer certificate: period, usages (digital signature, e-mail protection), chain to the trust anchor.</summary>
    public static void CheckSigner(X509Certificate2 signer, X509Certificate2 trustAnchor, DateTimeOffset now)
    {
        if (now.UtcDateTime < signer.NotBefore.ToUniversalTime() || now.UtcDateTime > signer.NotAfter.ToUniversalTime())
        {
            throw new SecureMailException(MailRejection.Expired, $"the signer's certificate is not valid at {now:yyyy-MM-dd HH:mm} UTC (valid {signer.NotBefore.ToUniversalTime():yyyy-MM-dd} to {signer.NotAfter.ToUniversalTime():yyyy-MM-dd})");
        }

        var ku = signer.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        if (ku is not null && (ku.KeyUsages & (System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.DigitalSignature | System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.NonRepudiation)) == 0)
        {
            throw new SecureMailException(MailRejection.WrongKeyUsage, "the signer's certificate does not allow digital signatures (key usage)");
        }

        var eku = signer.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
        if (eku is not null && !eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == EmailProtectionOid))
        {
            throw new SecureMailException(MailRejection.WrongKeyUsage, "the signer's certificate is not meant for secure e-mail (extended key usage emailProtection missing)");
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(trustAnchor);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (!chain.Build(signer) || chain.ChainElements[^1].Certificate.Thumbprint != trustAnchor.Thumbprint)
        {
            throw new SecureMailException(MailRejection.UnknownCa, $"the signer's certificate is not issued by a certification authority the platform trusts (issuer: {signer.Issuer})");
        }
    }
}
