using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Fm = Hl7.Fhir.Model;

namespace OpenDmp.Tests.Integration;

/// <summary>A professional with a secure mailbox on the test mail servers and a messaging key held by the platform.</summary>
public sealed record MailProfessional(TestProfessional Pro, MailServers.Mailbox Box, X509Certificate2 MailCertificate, string CertPath, string KeyPath);

/// <summary>
/// Secure messaging end to end through a real Postfix and Dovecot: deposits signed and encrypted by
/// professionals (MimeKit and openssl), rejections answered with a signed reason, idempotency by
/// Message-ID, sending to several recipients and to the record, receipts and bounces, and openssl
/// verifying what OpenDMP sends.
/// </summary>
public abstract class MessagingTests : ServerTestBase
{
    private readonly MailServers.Mailbox _deposit;

    private readonly bool _tls;

    protected MessagingTests(MailServers mail, IStorageUnderTest storage, bool tls = false)
        : base(storage)
    {
        Mail = mail;
        _tls = tls;
        _deposit = mail.CreateMailbox("depot");
    }

    protected MailServers Mail { get; }

    protected override IDictionary<string, string?>? ExtraConfig
    {
        get
        {
            var c = Mail.ServerConfig(_deposit, tls: _tls);
            c["Messaging:MaxMessageBytes"] = "400000";
            c["Messaging:NotificationSeconds"] = "0.2";
            return c;
        }
    }

    [Fact]
    public async Task Deposit_FromTheTreatingPhysician_IsFiledLikeIti65_AndAcknowledged()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        var message = await DepositMessageAsync(a, patient, "Compte rendu de consultation");
        await Mail.SendAsync(message);

        await Wait.UntilAsync(async () => await Server.CountDocumentsAsync() == 1);
        // Searchable through ITI-67 like any submission.
        var http = Server.Http(a.Pro.Certificate);
        var search = await http.GetStringAsync($"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        Assert.Contains("\"total\":1", search, StringComparison.Ordinal);
        // Same audit as ITI-65, channel messaging.
        var audit = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(x => x.RecordId == patient.Id && x.Action == "create" && x.ObjectType == "DocumentReference").ToListAsync());
        Assert.Equal("messaging", Assert.Single(audit).Channel);
        Assert.Equal(a.Pro.Id, audit[0].ActorId);

        // A signed disposition notification (processed) comes back to the sender.
        var reply = Assert.Single(await a.Box.WaitForAsync(1, m => m.InReplyTo == message.MessageId));
        var platform = await PlatformCertificateAsync();
        var signed = Assert.IsType<MimeKit.Cryptography.MultipartSigned>(reply.Body);
        SecureMail.CheckSigner(platform, Server.Ca.Certificate, DateTimeOffset.UtcNow);
        using (var ctx = new MimeKit.Cryptography.TemporarySecureMimeContext())
        {
            var sig = Assert.Single(signed.Verify(ctx));
            Assert.True(sig.Verify(true));
            Assert.Equal(platform.Thumbprint, ((MimeKit.Cryptography.SecureMimeDigitalCertificate)sig.SignerCertificate).Fingerprint, StringComparer.OrdinalIgnoreCase);
        }

        var mdn = Assert.Single(reply.BodyParts.OfType<MessageDispositionNotification>());
        Assert.Contains("processed", mdn.Fields["Disposition"], StringComparison.Ordinal);
        Assert.DoesNotContain("error", mdn.Fields["Disposition"], StringComparison.Ordinal);
        // The answer goes out before the batch is moved out of INBOX.
        await Wait.UntilAsync(async () => await _deposit.CountAsync("Processed") == 1 && await _deposit.CountAsync("INBOX") == 0);
    }

    [Fact]
    public async Task Deposit_Rejections_AreAnsweredWithTheReason_AndWriteNothing()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        // Not signed at all.
        var unsigned = await DepositMessageAsync(a, patient, "Lettre", sign: false);
        // Signed by a professional who has no access to this record.
        var stranger = await AddMailProfessionalAsync();
        var refused = await DepositMessageAsync(stranger, patient, "Lettre");
        // Metadata that ITI-65 refuses (class code outside JDV_J06).
        var invalid = await DepositMessageAsync(a, patient, "Lettre", docs: [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("x"), "application/pdf", "Lettre", ClassCode: "10") with { FacilityCode = "ZZ99" }]);
        // Signed with a certificate from another authority.
        var otherCa = TestCertificateAuthority.LoadOrCreate(Path.Combine(Server.Data.Root, "other-ca"), TimeProvider.System);
        var foreign = RunningServer.Reload(otherCa.IssueProfessional(a.Pro.Rpps, a.Pro.Display, a.Box.Address, Path.Combine(Server.Data.Root, "other-ca", "certs"), TimeProvider.System));
        var unknownCa = await DepositMessageAsync(a, patient, "Lettre", signer: foreign);

        foreach (var m in new[] { unsigned, refused, invalid, unknownCa })
        {
            await Mail.SendAsync(m);
        }

        string Reason(MimeMessage reply) => reply.BodyParts.OfType<TextPart>().First().Text;
        var r1 = Assert.Single(await a.Box.WaitForAsync(1, m => m.InReplyTo == unsigned.MessageId));
        Assert.Contains("NotSigned", Reason(r1), StringComparison.Ordinal);
        var r2 = Assert.Single(await stranger.Box.WaitForAsync(1, m => m.InReplyTo == refused.MessageId));
        Assert.Contains("Refused", Reason(r2), StringComparison.Ordinal);
        var r3 = Assert.Single(await a.Box.WaitForAsync(1, m => m.InReplyTo == invalid.MessageId));
        Assert.Contains("ZZ99", Reason(r3), StringComparison.Ordinal);
        var r4 = Assert.Single(await a.Box.WaitForAsync(1, m => m.InReplyTo == unknownCa.MessageId));
        Assert.Contains("UnknownCa", Reason(r4), StringComparison.Ordinal);
        foreach (var r in new[] { r1, r2, r3, r4 })
        {
            Assert.IsType<MimeKit.Cryptography.MultipartSigned>(r.Body);
            Assert.Contains("n'a pas été versé", Reason(r), StringComparison.Ordinal);
        }

        Assert.Equal(0, await Server.CountDocumentsAsync());
        await Wait.UntilAsync(async () => await _deposit.CountAsync("Rejected") == 4);
        // The refusal went through the access policy and is in the record's trail.
        var denied = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .CountAsync(x => x.RecordId == patient.Id && x.Outcome == "denied" && x.Channel == "messaging" && x.ActorId == stranger.Pro.Id));
        Assert.Equal(1, denied);
    }

    [Fact]
    public async Task OversizedMessage_IsRefusedOnItsHeaders()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        var big = new byte[600_000];
        Random.Shared.NextBytes(big);
        var message = await DepositMessageAsync(a, patient, "Imagerie", docs: [new DocumentToSubmit(big, "image/jpeg", "Imagerie", FormatCode: "urn:ihe:iti-fr:xds-sd:jpeg:2010")]);
        await Mail.SendAsync(message);
        var reply = Assert.Single(await a.Box.WaitForAsync(1, m => m.InReplyTo == message.MessageId));
        Assert.Contains("TooLarge", reply.BodyParts.OfType<TextPart>().First().Text, StringComparison.Ordinal);
        Assert.Equal(0, await Server.CountDocumentsAsync());
        await Wait.UntilAsync(async () => await _deposit.CountAsync("Rejected") == 1);
    }

    [Fact]
    public async Task PatientNotifications_AreDeliveredByEmail()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        var patientBox = Mail.CreateMailbox("patient");
        await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>().IssueActivationAsync(patient.Id, patientBox.Address, OpenDmp.Core.Common.Actor.Operator, OpenDmp.Core.Common.Channels.Admin, default));
        var urgentist = await Server.AddProfessionalAsync(family: "Urgences", given: "Marc");
        var emergency = new Fm.Parameters();
        emergency.Add("mode", new Fm.Code("break-glass"));
        emergency.Add("reason", new Fm.FhirString("patient inconscient aux urgences"));
        using (var granted = await Server.Http(urgentist.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$emergency-access", FhirAssert.Json(emergency)))
        {
            Assert.Equal(System.Net.HttpStatusCode.Created, granted.StatusCode);
        }

        var mail = Assert.Single(await patientBox.WaitForAsync(1));
        Assert.Contains("urgence", mail.Subject, StringComparison.Ordinal);
        Assert.Contains("Urgences", mail.TextBody, StringComparison.Ordinal);
        Assert.DoesNotContain("inconscient", mail.TextBody, StringComparison.Ordinal);
        // In the patient's language only (French by default).
        var lines = mail.TextBody.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Contains(lines, l => l.EndsWith("a accédé à votre dossier en urgence (bris de glace).", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("accessed", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(" / ", StringComparison.Ordinal));
        Assert.Equal("fr", mail.Body.Headers[HeaderId.ContentLanguage]);

        // The patient reads English and asks for new documents by e-mail: the next message is in English only.
        var me = new OpenDmp.Core.Common.Actor(OpenDmp.Core.Common.ActorKind.Patient, patient.Id, "patient");
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<OpenDmp.Core.Patients.PatientPreferences>().SetNotificationSettingsAsync(new(patientBox.Address, null, "en", new HashSet<string> { "new-document:email" }), me, OpenDmp.Core.Common.Channels.Portal, default);
            return 0;
        });
        await Server.SubmitAsync(a.Pro, patient, new DocumentToSubmit("Compte rendu"u8.ToArray(), "text/plain", "Compte rendu", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var english = (await patientBox.WaitForAsync(2)).Single(m => m.MessageId != mail.MessageId);
        Assert.Equal("OpenDMP: a new document in your record", english.Subject);
        Assert.StartsWith("A new document was added to your shared medical record.", english.TextBody, StringComparison.Ordinal);
        Assert.DoesNotContain("dossier", english.TextBody, StringComparison.Ordinal);
        Assert.DoesNotContain("Compte rendu", english.TextBody, StringComparison.Ordinal);
        Assert.Equal("en", english.Body.Headers[HeaderId.ContentLanguage]);
        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking().AllAsync(n => n.RecordId != patient.Id || n.Status != "pending")));
        // The delivery is in the record's trail.
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(x => x.RecordId == patient.Id && x.Action == "notify" && x.Channel == "messaging" && x.Detail == "sent by e-mail")));
    }

    [Fact]
    public async Task FirstAccessNotifications_FollowThePatientsChoice_EmergenciesAlwaysGo()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        var patientBox = Mail.CreateMailbox("patient-choice");
        await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>().IssueActivationAsync(patient.Id, null, OpenDmp.Core.Common.Actor.Operator, OpenDmp.Core.Common.Channels.Admin, default));
        var me = new OpenDmp.Core.Common.Actor(OpenDmp.Core.Common.ActorKind.Patient, patient.Id, "patient");
        await Server.WithScopeAsync(async sp =>
        {
            var prefs = sp.GetRequiredService<OpenDmp.Core.Patients.PatientPreferences>();
            await Assert.ThrowsAsync<OpenDmp.Core.Common.DmpException>(() => prefs.SetNotificationSettingsAsync(new("not an address", null, "fr", new HashSet<string>()), me, OpenDmp.Core.Common.Channels.Portal, default));
            await prefs.SetNotificationSettingsAsync(new(patientBox.Address, null, "fr", new HashSet<string>()), me, OpenDmp.Core.Common.Channels.Portal, default);
            return 0;
        });

        // A first access under the patient's consent: recorded, listed to the patient, not e-mailed.
        var cardio = await Server.AddProfessionalAsync(family: "Bernard", given: "Louis");
        var cardioHttp = Server.Http(cardio.Certificate);
        using (var declared = await cardioHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(System.Net.HttpStatusCode.Created, declared.StatusCode);
        }

        Assert.Equal(System.Net.HttpStatusCode.OK, (await cardioHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);
        // An emergency access: always e-mailed.
        var urgentist = await Server.AddProfessionalAsync(family: "Urgences", given: "Marc");
        var emergency = new Fm.Parameters();
        emergency.Add("mode", new Fm.Code("break-glass"));
        emergency.Add("reason", new Fm.FhirString("malaise"));
        using (var granted = await Server.Http(urgentist.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$emergency-access", FhirAssert.Json(emergency)))
        {
            Assert.Equal(System.Net.HttpStatusCode.Created, granted.StatusCode);
        }

        var mail = Assert.Single(await patientBox.WaitForAsync(1));
        Assert.Contains("urgence", mail.Subject, StringComparison.Ordinal);
        await Wait.UntilAsync(async () => await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking().AllAsync(n => n.RecordId != patient.Id || n.Status != "pending")));
        var notifications = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking().Where(n => n.RecordId == patient.Id).ToListAsync());
        Assert.Contains(notifications, n => n.Kind == "first-access");
        Assert.All(notifications.Where(n => n.Kind == "first-access"), n => Assert.Equal("not-emailed", n.Status));
        Assert.All(notifications.Where(n => n.Kind == "emergency-access"), n => Assert.Equal("sent", n.Status));
        await Task.Delay(1500);
        Assert.Single(await patientBox.WaitForAsync(1));
    }

    [Fact]
    public async Task SameMessageTwice_IsFiledOnce()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        var message = await DepositMessageAsync(a, patient, "Ordonnance");
        await Mail.SendAsync(message);
        await Mail.SendAsync(message);
        await Wait.UntilAsync(async () => await _deposit.CountAsync("Processed") == 2);
        Assert.Equal(1, await Server.CountDocumentsAsync());
        var rows = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().InboundMessages.AsNoTracking().CountAsync());
        Assert.Equal(1, rows);
    }

    [Fact]
    public async Task SendDocuments_ToSeveralProfessionals_AndTheRecord_WithReceiptsAndBounces()
    {
        var a = await AddMailProfessionalAsync();
        var b = await AddMailProfessionalAsync();
        var c = await AddMailProfessionalAsync();
        var nowhere = await AddMailProfessionalAsync();
        // A directory address the mail server refuses: it bounces.
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<DirectoryService>().SetMessagingAsync(nowhere.Pro.Rpps, "inconnu-" + Guid.NewGuid().ToString("N")[..6] + "@" + MailServers.AbsentDomain, nowhere.MailCertificate.ExportCertificatePem(), default);
            return 0;
        });
        var patient = await Server.AddPatientAsync(a.Pro);
        var content = SubmissionBuilder.MinimalPdf("Compte rendu operatoire");
        var bundle = SubmissionBuilder.Build(patient.Reference, a.Pro.Rpps, a.Pro.Display, [new DocumentToSubmit(content, "application/pdf", "Compte rendu opératoire")]);
        var parameters = new Fm.Parameters();
        foreach (var r in new[] { b, nowhere })
        {
            parameters.Add("recipient", new Fm.Identifier(OpenDmp.Core.Identity.Rpps.IdNatPsSystem, OpenDmp.Core.Identity.Rpps.ToIdNatPs(r.Pro.Rpps)));
        }

        // C through their network (a group of the directory): one action reaches every member with a mailbox.
        var network = await Server.WithScopeAsync(sp => sp.GetRequiredService<DirectoryService>().AddGroupAsync("Réseau de cancérologie", "network", [c.Pro.Rpps, a.Pro.Rpps], default));
        parameters.Add("recipient-group", new Fm.ResourceReference("Group/" + network.Id));

        parameters.Add("deposit", new Fm.FhirBoolean(true));
        parameters.Parameter.Add(new Fm.Parameters.ParameterComponent { Name = "bundle", Resource = bundle });
        var http = Server.Http(a.Pro.Certificate);
        var response = await http.PostAsync("/fhir/$send-documents", new StringContent(OpenDmp.Core.Fhir.FhirJson.Serialize(parameters), System.Text.Encoding.UTF8, "application/fhir+json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Accepted, body);
        var result = OpenDmp.Core.Fhir.FhirJson.Parse<Fm.Parameters>(body);
        var id = ((Fm.FhirString)result.Parameter.First(p => p.Name == "message").Value).Value;
        Assert.Equal(4, result.Parameter.Count(p => p.Name == "recipient"));
        Assert.All(result.Parameter.Where(p => p.Name == "recipient"), p => Assert.Equal("sent", ((Fm.Code)p.Part.First(x => x.Name == "status").Value).Value));

        // Each recipient decrypts with their own key, checks the sender's signature, and files from the XDM metadata.
        var master = ((Fm.DocumentReference)bundle.Entry[1].Resource).MasterIdentifier.Value;
        foreach (var r in new[] { b, c })
        {
            var received = Assert.Single(await r.Box.WaitForAsync(1));
            var opened = SecureMail.Open(received.Body, r.MailCertificate, Server.Ca.Certificate, DateTimeOffset.UtcNow);
            Assert.Equal(a.Pro.Rpps, TestCertificateAuthority.RppsOf(opened.Signer));
            var zip = ((Multipart)opened.Content).OfType<MimePart>().Single(p => p.FileName == "IHE_XDM.ZIP");
            using var ms = new MemoryStream();
            await zip.Content.DecodeToAsync(ms);
            var back = Xdm.ToBundle(ms.ToArray());
            var doc = back.Entry.Select(e => e.Resource).OfType<Fm.DocumentReference>().Single();
            Assert.Equal(master, doc.MasterIdentifier.Value);
            Assert.Equal(content, back.Entry.Select(e => e.Resource).OfType<Fm.Binary>().Single().Data);
            Assert.Equal(patient.Ins, ((Fm.List)back.Entry[0].Resource).Subject.Identifier.Value);
            Assert.Equal(_deposit.Address, received.Headers[HeaderId.DispositionNotificationTo]);
        }

        // C tries to speak for B's copy ("deleted"): ignored, a recipient reports only on its own copy.
        var toB = (await b.Box.WaitForAsync(1))[0];
        var forged = new MimeMessage();
        forged.From.Add(MailboxAddress.Parse(c.Box.Address));
        forged.To.Add(MailboxAddress.Parse(_deposit.Address));
        forged.Subject = "Supprimé";
        forged.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("client.test");
        var forgedMdn = new MessageDispositionNotification();
        forgedMdn.Fields.Add("Final-Recipient", "rfc822; " + b.Box.Address);
        forgedMdn.Fields.Add("Original-Message-ID", "<" + toB.MessageId + ">");
        forgedMdn.Fields.Add("Disposition", "manual-action/MDN-sent-manually; deleted");
        forged.Body = new MultipartReport("disposition-notification") { new TextPart("plain") { Text = "Supprimé." }, forgedMdn };
        await Mail.SendAsync(forged);

        // B's mail client sends a disposition notification (displayed).
        var mdnMessage = new MimeMessage();
        mdnMessage.From.Add(MailboxAddress.Parse(b.Box.Address));
        mdnMessage.To.Add(MailboxAddress.Parse(_deposit.Address));
        mdnMessage.Subject = "Lu : " + toB.Subject;
        mdnMessage.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("client.test");
        var report = new MultipartReport("disposition-notification") { new TextPart("plain") { Text = "Message affiché." } };
        var mdn = new MessageDispositionNotification();
        mdn.Fields.Add("Final-Recipient", "rfc822; " + b.Box.Address);
        mdn.Fields.Add("Original-Message-ID", "<" + toB.MessageId + ">");
        mdn.Fields.Add("Disposition", "manual-action/MDN-sent-manually; displayed");
        report.Add(mdn);
        mdnMessage.Body = report;
        await Mail.SendAsync(mdnMessage);

        // The record got the document (through the deposit channel), B displayed it, the unknown address bounced.
        var last = new Dictionary<string, string>();
        await Wait.UntilAsync(async () =>
        {
            var s = last = await StatusAsync(http, id);
            return s.GetValueOrDefault(_deposit.Address) == "filed" && s.GetValueOrDefault(b.Box.Address) == "displayed" && s.ContainsValue("failed");
        }, TimeSpan.FromSeconds(60), () => string.Join(", ", last.Select(kv => kv.Key + "=" + kv.Value)) + " | inbound: " + string.Join("; ",
            Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().InboundMessages.AsNoTracking().ToListAsync()).GetAwaiter().GetResult().Select(r => $"{r.Kind}/{r.Outcome}/{r.Detail}")));
        var final = await StatusAsync(http, id);
        Assert.Equal("sent", final[c.Box.Address]);
        Assert.Equal(1, await Server.CountDocumentsAsync());

        // Only the sender can read the status.
        var other = await Server.Http(b.Pro.Certificate).GetAsync($"/fhir/$message-status?message={id}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, other.StatusCode);

        // openssl verifies and decrypts what OpenDMP sent (independent interoperability check).
        var file = Path.Combine(Server.Data.Root, "received.eml");
        await toB.WriteToAsync(file);
        var signedFile = Path.Combine(Server.Data.Root, "signed.eml");
        await OpenSslAsync("cms", "-decrypt", "-in", file, "-recip", b.CertPath, "-inkey", b.KeyPath, "-out", signedFile);
        var contentFile = Path.Combine(Server.Data.Root, "content.eml");
        var caFile = Path.Combine(Server.Data.Root, "ca.pem");
        await File.WriteAllTextAsync(caFile, Server.Ca.Certificate.ExportCertificatePem());
        var verify = await OpenSslAsync("cms", "-verify", "-in", signedFile, "-CAfile", caFile, "-purpose", "smimesign", "-out", contentFile);
        Assert.Contains("Verification successful", verify, StringComparison.Ordinal);
        Assert.Contains("IHE_XDM.ZIP", await File.ReadAllTextAsync(contentFile), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenSslSignedAndEncryptedDeposit_IsFiled()
    {
        var a = await AddMailProfessionalAsync();
        var patient = await Server.AddPatientAsync(a.Pro);
        var platformFile = Path.Combine(Server.Data.Root, "platform.pem");
        await File.WriteAllTextAsync(platformFile, (await PlatformCertificateAsync()).ExportCertificatePem());
        var bundle = SubmissionBuilder.Build(patient.Reference, a.Pro.Rpps, a.Pro.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Lettre"), "application/pdf", "Lettre de liaison", ClassCode: "11", TypeCode: "34133-9")]);
        var inner = Path.Combine(Server.Data.Root, "inner.eml");
        await Deposits.Content(Xdm.FromBundle(bundle, patient.Ins, patient.System[8..])).WriteToAsync(inner);
        var signed = Path.Combine(Server.Data.Root, "openssl-signed.eml");
        await OpenSslAsync("cms", "-sign", "-in", inner, "-signer", a.CertPath, "-inkey", a.KeyPath, "-md", "sha256", "-out", signed);
        var encrypted = Path.Combine(Server.Data.Root, "openssl-encrypted.eml");
        await OpenSslAsync("cms", "-encrypt", "-in", signed, "-aes256", "-from", a.Box.Address, "-to", _deposit.Address, "-subject", "Depot", "-out", encrypted, platformFile);
        var message = await MimeMessage.LoadAsync(encrypted);
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("openssl.test");
        await Mail.SendAsync(message);

        await Wait.UntilAsync(async () => await Server.CountDocumentsAsync() == 1);
        var row = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().InboundMessages.AsNoTracking().SingleAsync());
        Assert.Equal("filed", row.Outcome);
        Assert.Equal(a.Pro.Id, row.SenderProfessionalId);
    }

    protected async Task<MailProfessional> AddMailProfessionalAsync(string profession = "10")
    {
        var pro = await Server.AddProfessionalAsync(profession);
        var box = Mail.CreateMailbox("dr");
        var dir = Path.Combine(Server.Data.Root, "mail-certs", pro.Rpps);
        using var cert = Server.Ca.IssueProfessional(pro.Rpps, pro.Display, box.Address, dir, TimeProvider.System);
        var crt = Path.Combine(dir, pro.Rpps + ".crt");
        var key = Path.Combine(dir, pro.Rpps + ".key");
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<DirectoryService>().SetMessagingAsync(pro.Rpps, box.Address, cert.ExportCertificatePem(), default);
            return 0;
        });
        MessagingKeys.Install(Server.Data.Pki, pro.Rpps, crt, key);
        return new MailProfessional(pro, box, RunningServer.Reload(cert), crt, key);
    }

    private async Task<X509Certificate2> PlatformCertificateAsync()
    {
        var pem = await Server.Http(null).GetStringAsync("/messaging/deposit-certificate");
        return X509Certificate2.CreateFromPem(pem);
    }

    protected async Task<MimeMessage> DepositMessageAsync(MailProfessional from, TestPatient patient, string title, IReadOnlyList<DocumentToSubmit>? docs = null, X509Certificate2? signer = null, bool sign = true)
    {
        var bundle = SubmissionBuilder.Build(patient.Reference, from.Pro.Rpps, from.Pro.Display, docs ?? [new DocumentToSubmit(SubmissionBuilder.MinimalPdf(title), "application/pdf", title)]);
        var zip = Xdm.FromBundle(bundle, patient.Ins, patient.System[8..]);
        return Deposits.Message(from.Box.Address, _deposit.Address, zip, sign ? signer ?? from.MailCertificate : null, await PlatformCertificateAsync(), askReceipt: true);
    }

    private static async Task<Dictionary<string, string>> StatusAsync(HttpClient http, string id)
    {
        var res = await http.GetAsync($"/fhir/$message-status?message={id}");
        var json = await res.Content.ReadAsStringAsync();
        Assert.True(res.IsSuccessStatusCode, json);
        var p = OpenDmp.Core.Fhir.FhirJson.Parse<Fm.Parameters>(json);
        return p.Parameter.Where(x => x.Name == "recipient").ToDictionary(
            x => ((Fm.FhirString)x.Part.First(y => y.Name == "address").Value).Value!,
            x => ((Fm.Code)x.Part.First(y => y.Name == "status").Value).Value!);
    }

    private static async Task<string> OpenSslAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("openssl", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var all = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, $"openssl {string.Join(' ', args)} failed: {all}");
        return all;
    }
}

[Collection(MailCollection.Name)]
public sealed class MessagingTests_Sqlite(MailServers mail) : MessagingTests(mail, new SqliteStorage());

/// <summary>The same, with OpenDMP reaching both mail servers over STARTTLS (certificate checked against a configured trust file).</summary>
[Collection(MailCollection.Name)]
public sealed class MessagingTests_SqliteTls(MailServers mail) : MessagingTests(mail, new SqliteStorage(), tls: true);

[Collection(MailCollection.Name)]
public sealed class MessagingTests_Postgres(MailServers mail, PostgresCluster pg) : MessagingTests(mail, new PostgresStorage(pg, "mail"));
