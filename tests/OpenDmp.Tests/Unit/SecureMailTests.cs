using System.Security.Cryptography.X509Certificates;
using MimeKit;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Pki;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Unit;

/// <summary>S/MIME sign + encrypt and verification with real certificates from a test CA: every rejection names its reason.</summary>
public sealed class SecureMailTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "opendmp-smime-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly TestCertificateAuthority _ca;
    private readonly X509Certificate2 _platform;
    private readonly X509Certificate2 _sender;
    private readonly string _rpps = TestIds.NewRpps();

    public SecureMailTests()
    {
        // A CA created three years ago, so that it can also have issued certificates that are now expired.
        _ca = TestCertificateAuthority.LoadOrCreate(Path.Combine(_dir, "pki"), new FixedTime(DateTimeOffset.UtcNow.AddYears(-3)));
        _platform = Usable(_ca.PlatformMessaging(Path.Combine(_dir, "pki"), "depot@opendmp.test", TimeProvider.System));
        _sender = Usable(_ca.IssueProfessional(_rpps, "Paul Durand", "paul@opendmp.test", Path.Combine(_dir, "a"), TimeProvider.System));
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private static X509Certificate2 Usable(X509Certificate2 c) => X509CertificateLoader.LoadPkcs12(c.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);

    private static Multipart Content(string text = "Compte rendu") => new("mixed") { new TextPart("plain") { Text = text } };

    private static X509Certificate2 PublicOnly(X509Certificate2 c) => X509CertificateLoader.LoadCertificate(c.RawData);

    [Fact]
    public void SignedAndEncrypted_OpensWithTheSignerCertificate()
    {
        var body = SecureMail.SignAndEncrypt(Content("bonjour"), _sender, [PublicOnly(_platform)]);
        var opened = SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow);
        Assert.Equal(_rpps, TestCertificateAuthority.RppsOf(opened.Signer));
        Assert.Contains("bonjour", ((TextPart)((Multipart)opened.Content)[0]).Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsigned_IsRejected()
    {
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(Content(), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.NotSigned, ex.Reason);
        var encryptedOnly = SecureMail.Encrypt(Content(), [PublicOnly(_platform)]);
        ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(encryptedOnly), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.NotSigned, ex.Reason);
        Assert.Contains("not signed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SignedButNotEncrypted_IsRejected()
    {
        var signed = SecureMail.Sign(Content(), _sender);
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(signed), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.NotEncrypted, ex.Reason);
    }

    [Fact]
    public void Tampered_IsRejected()
    {
        // Signed, then altered, then encrypted for the platform (anyone can encrypt for its public certificate).
        var signed = SecureMail.Sign(Content("dose: 1 mg"), _sender);
        using var ms = new MemoryStream();
        signed.WriteTo(ms);
        var altered = System.Text.Encoding.UTF8.GetString(ms.ToArray()).Replace("dose: 1 mg", "dose: 9 mg", StringComparison.Ordinal);
        var reparsed = MimeEntity.Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(altered)));
        var body = SecureMail.Encrypt(reparsed, [PublicOnly(_platform)]);
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.Tampered, ex.Reason);
    }

    [Fact]
    public void NotForThePlatform_CannotBeDecrypted()
    {
        var other = Usable(_ca.IssueProfessional(TestIds.NewRpps(), "Autre", "autre@opendmp.test", Path.Combine(_dir, "b"), TimeProvider.System));
        var body = SecureMail.SignAndEncrypt(Content(), _sender, [PublicOnly(other)]);
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.CannotDecrypt, ex.Reason);
    }

    [Fact]
    public void ExpiredSigner_IsRejected()
    {
        var past = new FixedTime(DateTimeOffset.UtcNow.AddYears(-2));
        var expired = Usable(_ca.IssueProfessional(TestIds.NewRpps(), "Ancien", "ancien@opendmp.test", Path.Combine(_dir, "c"), past, TimeSpan.FromDays(30)));
        var body = SecureMail.SignAndEncrypt(Content(), expired, [PublicOnly(_platform)]);
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.True(ex.Reason == MailRejection.Expired, ex.Reason + ": " + ex.Message);
    }

    [Fact]
    public void WrongKeyUsage_IsRejected()
    {
        var clientAuthOnly = Usable(_ca.IssueProfessional(TestIds.NewRpps(), "Auth", "auth@opendmp.test", Path.Combine(_dir, "d"), TimeProvider.System, extendedUsages: ["1.3.6.1.5.5.7.3.2"]));
        var body = SecureMail.Encrypt(SecureMail.SignNative(Content(), clientAuthOnly), [PublicOnly(_platform)]);
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.WrongKeyUsage, ex.Reason);
        Assert.Contains("emailProtection", ex.Message, StringComparison.Ordinal);

        var encipherOnly = Usable(_ca.IssueProfessional(TestIds.NewRpps(), "Chiffre", "chiffre@opendmp.test", Path.Combine(_dir, "e"), TimeProvider.System, keyUsage: X509KeyUsageFlags.KeyEncipherment));
        body = SecureMail.Encrypt(SecureMail.SignNative(Content(), encipherOnly), [PublicOnly(_platform)]);
        ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.WrongKeyUsage, ex.Reason);
    }

    [Fact]
    public void UnknownCa_IsRejected()
    {
        var otherCa = TestCertificateAuthority.LoadOrCreate(Path.Combine(_dir, "other-pki"), TimeProvider.System);
        var stranger = Usable(otherCa.IssueProfessional(TestIds.NewRpps(), "Inconnu", "x@opendmp.test", Path.Combine(_dir, "f"), TimeProvider.System));
        var body = SecureMail.SignAndEncrypt(Content(), stranger, [PublicOnly(_platform)]);
        var ex = Assert.Throws<SecureMailException>(() => SecureMail.Open(RoundTrip(body), _platform, _ca.Certificate, DateTimeOffset.UtcNow));
        Assert.Equal(MailRejection.UnknownCa, ex.Reason);
    }

    /// <summary>Serialises and parses back, as a mail server would deliver it.</summary>
    private static MimeEntity RoundTrip(MimeEntity e)
    {
        using var ms = new MemoryStream();
        e.WriteTo(ms);
        ms.Position = 0;
        return MimeEntity.Load(ms);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
