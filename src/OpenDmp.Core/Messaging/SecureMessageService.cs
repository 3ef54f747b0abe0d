using System.Security.Cryptography.X509Certificates;
using Hl7.Fhir.Model;
using MailKit;
using MailKit.Net.Smtp;
using Microsoft.EntityFrameworkCore;
using MimeKit;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Messaging;

/// <summary>The status of one sent message, recipient by recipient.</summary>
public sealed record SentMessage(OutboundMessage Message, IReadOnlyList<OutboundRecipient> Recipients);

/// <summary>
/// Sends documents by secure messaging on behalf of a professional: one action, the same documents
/// (an XDM archive carrying their metadata) to several professionals found in the directory, and
/// optionally to the patient's record through the platform's deposit address. The message is
/// signed with the sender's messaging key and encrypted for every recipient's certificate.
/// </summary>
public sealed class SecureMessageService(DmpDbContext db, RecordGuard guard, MessagingKeys keys, MessagingOptions options, TimeProvider time, RevocationList revocations)
{
    /// <summary>
    /// Sends to the professionals named by RPPS, to every member of the groups named (a network, a
    /// maison de santé: those with a secure mailbox in the directory), and to the record when
    /// <paramref name="deposit"/>.
    /// </summary>
    public async Task<SentMessage> SendAsync(Actor sender, Bundle bundle, IReadOnlyList<string> recipientRpps, bool deposit, CancellationToken ct, IReadOnlyList<string>? groupIds = null)
    {
        if (!options.Enabled)
        {
            throw new DmpException(ErrorKind.Unavailable, "secure messaging is not configured on this platform (section Messaging)");
        }

        var named = recipientRpps.ToList();
        foreach (var groupId in groupIds ?? [])
        {
            if (!await db.CareGroups.AnyAsync(g => g.Id == groupId, ct))
            {
                throw DmpException.Invalid($"group {groupId} does not exist", "recipient-group");
            }

            named.AddRange(await db.CareGroupMembers.Where(m => m.GroupId == groupId)
                .Join(db.Professionals, m => m.ProfessionalId, p => p.Id, (m, p) => p)
                .Where(p => p.Rpps != null && p.Email != null && p.MessagingCertificate != null && p.Id != sender.Id)
                .Select(p => p.Rpps!).ToListAsync(ct));
        }

        recipientRpps = named;
        if (recipientRpps.Count == 0 && !deposit)
        {
            throw DmpException.Invalid("give at least one recipient (RPPS) or ask for the deposit into the patient's record", "Parameters.parameter");
        }

        var me = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == sender.Id, ct)
            ?? throw new DmpException(ErrorKind.Forbidden, "only a professional of the directory can send secure messages");
        if (me.Email is not { Length: > 0 } || me.Rpps is null)
        {
            throw DmpException.Invalid("your directory entry has no secure-messaging address");
        }

        using var signer = keys.Professional(me.Rpps)
            ?? throw DmpException.Invalid("the platform holds no messaging key for you: it is issued with 'opendmp pki issue-professional --email'");

        var list = bundle.Entry.Select(e => e.Resource).OfType<List>().FirstOrDefault()
            ?? throw DmpException.Invalid("the Bundle needs a SubmissionSet List naming the patient", "Bundle.entry");
        var recordId = await References.ResolvePatientAsync(db, list.Subject, ct)
            ?? throw DmpException.Invalid("unknown patient: the SubmissionSet subject designates no patient of OpenDMP", "List.subject");
        var facts = await guard.FactsAsync(recordId, ct);
        await guard.RequireAsync(new AccessRequest(sender, AccessAction.FindPatient, facts), AuditAction.Send, "Communication", null, Channels.Messaging, auditPermit: false, ct);
        var patient = await db.Patients.AsNoTracking().FirstAsync(x => x.RecordId == recordId, ct);

        var recipients = new List<(string Address, string? ProfessionalId, X509Certificate2 Certificate)>();
        foreach (var rpps in recipientRpps.Distinct(StringComparer.Ordinal))
        {
            var p = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps, ct)
                ?? throw DmpException.Invalid($"recipient RPPS {rpps} is not in the directory", "recipient");
            if (p.Email is not { Length: > 0 } || p.MessagingCertificate is not { Length: > 0 } pem)
            {
                throw DmpException.Invalid($"recipient RPPS {rpps} has no secure-messaging address and certificate in the directory", "recipient");
            }

            var certificate = X509Certificate2.CreateFromPem(pem);
            if (revocations.Check(certificate) is { } revoked)
            {
                throw DmpException.Invalid($"recipient RPPS {rpps} cannot receive secure messages: {revoked}", "recipient");
            }

            recipients.Add((p.Email.ToLowerInvariant(), p.Id, certificate));
        }

        if (deposit)
        {
            recipients.Add((options.DepositAddress.ToLowerInvariant(), null, keys.Platform));
        }

        byte[] xdm;
        try
        {
            xdm = Xdm.FromBundle(bundle, patient.Ins, patient.InsSystem.StartsWith("urn:oid:", StringComparison.Ordinal) ? patient.InsSystem[8..] : patient.InsSystem);
        }
        catch (XdmException ex)
        {
            throw DmpException.Invalid(ex.Message, "Bundle");
        }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(me.DisplayName, me.Email));
        foreach (var r in recipients)
        {
            message.To.Add(MailboxAddress.Parse(r.Address));
        }

        // The subject travels in clear: it never names the patient or the content.
        message.Subject = "Documents transmis via OpenDMP";
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("opendmp.messaging");
        message.Headers.Add(HeaderId.DispositionNotificationTo, options.DepositAddress);
        var count = bundle.Entry.Count(e => e.Resource is DocumentReference);
        var text = new TextPart("plain")
        {
            Text = $"{me.DisplayName} vous transmet {count} document(s) avec leurs métadonnées (archive IHE XDM jointe).\r\n"
                + $"{me.DisplayName} sends you {count} document(s) with their metadata (IHE XDM archive attached).\r\n",
        };
        text.ContentType.Charset = "utf-8";
        var zip = new MimePart("application", "zip")
        {
            Content = new MimeContent(new MemoryStream(xdm)),
            ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
            ContentTransferEncoding = ContentEncoding.Base64,
            FileName = "IHE_XDM.ZIP",
        };
        message.Body = SecureMail.SignAndEncrypt(new Multipart("mixed") { text, zip }, signer, recipients.Select(r => r.Certificate));

        var now = time.GetUtcNow();
        var outbound = new OutboundMessage
        {
            Id = Ids.New(),
            MessageId = message.MessageId,
            SenderProfessionalId = me.Id,
            RecordId = recordId,
            DocumentCount = count,
            Deposit = deposit,
            CreatedAt = now,
        };
        var rows = recipients.Select(r => new OutboundRecipient { RecordId = recordId, OutboundId = outbound.Id, Address = r.Address, ProfessionalId = r.ProfessionalId, Status = "pending", StatusAt = now }).ToList();
        // The audit entry is its own unit of work under the record's gate (it clears the tracker): first.
        await guard.AuditAsync(new Audit.AuditItem(recordId, sender, AuditAction.Send, "success", Channels.Messaging, "Communication", outbound.Id, Detail: $"{count} document(s) to {rows.Count} recipient(s)"), ct);
        db.OutboundMessages.Add(outbound);
        db.OutboundRecipients.AddRange(rows);
        await db.SaveChangesAsync(ct);

        // Then hand it to the SMTP server; the envelope sender is the platform, so bounces come back to it.
        try
        {
            await MailConnections.SendAsync(options.Smtp, message, options.DepositAddress, rows.Select(r => r.Address), ct);
            foreach (var r in rows)
            {
                r.Status = "sent";
                r.StatusAt = time.GetUtcNow();
            }
        }
        catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or ServiceNotConnectedException or IOException or System.Net.Sockets.SocketException
            or MailKit.Security.SslHandshakeException or MailKit.Security.AuthenticationException)
        {
            foreach (var r in rows)
            {
                r.Status = "failed";
                r.StatusAt = time.GetUtcNow();
                r.Detail = ex switch
                {
                    SmtpCommandException sce => $"SMTP {(int)sce.StatusCode}: {sce.Message}",
                    MailKit.Security.SslHandshakeException => "the mail server's TLS certificate is not trusted (Messaging:Smtp:TrustedCertificateFile)",
                    MailKit.Security.AuthenticationException => "the mail server refused the platform's credentials",
                    _ => "the mail server could not be reached",
                };
            }
        }

        await db.SaveChangesAsync(ct);
        return new SentMessage(outbound, rows);
    }

    /// <summary>The status of a message the actor sent.</summary>
    public async Task<SentMessage> StatusAsync(Actor actor, string id, CancellationToken ct)
    {
        var m = await db.OutboundMessages.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct);
        if (m is null || m.SenderProfessionalId != actor.Id)
        {
            throw DmpException.NotFound($"no message {id} sent by you");
        }

        var rows = await db.OutboundRecipients.AsNoTracking().Where(x => x.OutboundId == id).OrderBy(x => x.Address).ToListAsync(ct);
        return new SentMessage(m, rows);
    }
}
