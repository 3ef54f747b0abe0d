using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using MimeKit;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Messaging;

/// <summary>What became of one message of the platform's mailbox, and which folder it now belongs in.</summary>
public sealed record InboundResult(InboundMessage Row, bool AlreadyProcessed, string Folder);

/// <summary>
/// The deposit channel (design D12): a message sent to the platform's deposit address, signed by a
/// professional and encrypted for the platform, carrying an XDM archive, is verified, checked by the
/// access-policy function and filed exactly as an ITI-65 submission (same validation, same audit,
/// channel "messaging"). Receipts (MDN) and bounces (DSN) for messages the platform sent update
/// their recipients' status. Idempotent by Message-ID: the row that records a message is written in
/// the same transaction as its documents.
/// </summary>
public sealed class DepositProcessor(DmpDbContext db, ProvideDocumentBundle provide, RecordGuard guard, MessagingKeys keys, MessagingOptions options, TimeProvider time, RevocationList revocations)
{
    public static string KeyOf(MimeMessage message)
    {
        var source = message.MessageId is { Length: > 0 } id ? "id:" + id : "raw:" + Convert.ToHexString(SHA256.HashData(Raw(message)));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source)));
    }

    public async Task<InboundResult> ProcessAsync(MimeMessage message, CancellationToken ct)
    {
        var key = KeyOf(message);
        var existing = await db.InboundMessages.AsNoTracking().FirstOrDefaultAsync(x => x.Key == key, ct);
        if (existing is not null)
        {
            return new InboundResult(existing, true, FolderOf(existing));
        }

        var row = new InboundMessage
        {
            Key = key,
            MessageId = Truncate(message.MessageId ?? "(none)", 400),
            Kind = "deposit",
            Outcome = "rejected",
            SenderAddress = Truncate(message.From.Mailboxes.FirstOrDefault()?.Address, 320),
            ProcessedAt = time.GetUtcNow(),
        };

        if (message.Body is null)
        {
            row.Detail = "Malformed: the message has no body";
            return await SaveAsync(row, ct);
        }

        if (IsReport(message.Body, out var report))
        {
            row.Kind = report;
            row.Outcome = "recorded";
            await ApplyReportAsync(message, report, ct);
            return await SaveAsync(row, ct);
        }

        Actor actor;
        Hl7.Fhir.Model.Bundle bundle;
        try
        {
            var opened = SecureMail.Open(message.Body, keys.Platform, keys.TrustAnchor, time.GetUtcNow());
            if (revocations.Check(opened.Signer) is { } revoked)
            {
                throw new SecureMailException(MailRejection.Revoked, $"the signer's certificate may no longer be used: {revoked}");
            }

            var rpps = TestCertificateAuthority.RppsOf(opened.Signer)
                ?? throw new SecureMailException(MailRejection.UnknownSender, "the signer's certificate carries no health-professional identifier (serialNumber 8+RPPS)");
            var professional = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps, ct)
                ?? throw new SecureMailException(MailRejection.UnknownSender, $"RPPS {rpps} of the signer is not in the directory");
            row.SenderProfessionalId = professional.Id;
            var from = message.From.Mailboxes.FirstOrDefault()?.Address;
            if (professional.Email is { Length: > 0 } known && !string.Equals(known, from, StringComparison.OrdinalIgnoreCase))
            {
                throw new SecureMailException(MailRejection.UnknownSender, $"the From address {from} is not the signer's address in the directory");
            }

            actor = new Actor(ActorKind.Professional, professional.Id, professional.DisplayName, professional.ProfessionCode, Specialty: professional.SpecialtyCode);
            var zip = XdmAttachment(opened.Content)
                ?? throw new XdmException("the message carries no XDM archive (a ZIP attachment holding IHE_XDM/SUBSET01/METADATA.XML)");
            bundle = Xdm.ToBundle(zip);
        }
        catch (SecureMailException ex)
        {
            row.Detail = Truncate($"{ex.Reason}: {ex.Message}", 1000);
            return await SaveAsync(row, ct);
        }
        catch (XdmException ex)
        {
            row.Detail = Truncate("Malformed: " + ex.Message, 1000);
            return await SaveAsync(row, ct);
        }

        try
        {
            var recordId = await References.ResolvePatientAsync(db, (bundle.Entry[0].Resource as Hl7.Fhir.Model.List)?.Subject, ct);
            if (recordId is not null && await guard.FactsAsync(recordId, ct) is { } facts)
            {
                await guard.RequireAsync(new AccessRequest(actor, AccessAction.DepositMessage, facts), AuditAction.Deposit, "Communication", key[..16], Channels.Messaging, auditPermit: false, ct,
                    "you are not authorised to deposit into this patient's record");
            }

            await provide.HandleAsync(bundle, actor, Channels.Messaging, ct, (ctx, rid, ssId) =>
            {
                row.Outcome = "filed";
                row.RecordId = rid;
                row.SubmissionSetId = ssId;
                ctx.InboundMessages.Add(row);
                foreach (var r in ctx.OutboundRecipients.Where(x => x.Address == options.DepositAddress && ctx.OutboundMessages.Any(m => m.Id == x.OutboundId && m.MessageId == row.MessageId)))
                {
                    r.Status = "filed";
                    r.StatusAt = row.ProcessedAt;
                }
            });

            // Filed: the permits' obligations (first-access notification) are carried out now.
            await guard.FulfilPendingAsync(ct);
            return new InboundResult(row, false, options.ProcessedFolder);
        }
        catch (DmpException ex) when (ex.Kind is not ErrorKind.Unavailable)
        {
            guard.DiscardPending();
            db.ChangeTracker.Clear();
            if (await db.InboundMessages.AsNoTracking().FirstOrDefaultAsync(x => x.Key == key, ct) is { } raced)
            {
                return new InboundResult(raced, true, FolderOf(raced));
            }

            row.Outcome = "rejected";
            row.RecordId = null;
            row.SubmissionSetId = null;
            row.Detail = Truncate($"{(ex.Kind == ErrorKind.Forbidden ? "Refused" : "Invalid")}: {ex.Message}{(ex.Expression is { } l ? $" (at {l})" : string.Empty)}", 1000);
            return await SaveAsync(row, ct);
        }
    }

    /// <summary>Records a message refused for its size without reading it (only its headers were fetched).</summary>
    public async Task<InboundResult> RejectTooLargeAsync(MimeMessage headersOnly, long size, CancellationToken ct)
    {
        var key = KeyOf(headersOnly);
        if (await db.InboundMessages.AsNoTracking().FirstOrDefaultAsync(x => x.Key == key, ct) is { } existing)
        {
            return new InboundResult(existing, true, FolderOf(existing));
        }

        return await SaveAsync(new InboundMessage
        {
            Key = key,
            MessageId = Truncate(headersOnly.MessageId ?? "(none)", 400),
            Kind = "deposit",
            Outcome = "rejected",
            SenderAddress = Truncate(headersOnly.From.Mailboxes.FirstOrDefault()?.Address, 320),
            Detail = $"TooLarge: the message has {size} bytes, more than the {options.MaxMessageBytes} bytes accepted",
            ProcessedAt = time.GetUtcNow(),
        }, ct);
    }

    /// <summary>
    /// The signed answer to a processed deposit: a disposition notification (processed) when the
    /// sender asked for one, an explanation when it was rejected; none for receipts and bounces.
    /// </summary>
    public MimeMessage? BuildReply(InboundMessage row, MimeMessage original)
    {
        if (row.Kind != "deposit" || IsAutomatic(original))
        {
            return null;
        }

        var to = original.ReplyTo.Mailboxes.FirstOrDefault() ?? original.From.Mailboxes.FirstOrDefault();
        if (to is null || string.Equals(to.Address, options.DepositAddress, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var filed = row.Outcome == "filed";
        var asked = original.Headers[HeaderId.DispositionNotificationTo] is { Length: > 0 };
        if (filed && !asked)
        {
            return null;
        }

        var reply = new MimeMessage();
        reply.From.Add(new MailboxAddress("OpenDMP — dépôt", options.DepositAddress));
        reply.To.Add(to);
        reply.Subject = filed ? "Accusé de traitement : documents versés au DMP" : "Dépôt refusé / Deposit rejected";
        reply.InReplyTo = original.MessageId;
        reply.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("opendmp");
        reply.Headers.Add("Auto-Submitted", "auto-replied");
        var text = filed
            ? $"Votre message {original.MessageId} a été vérifié et ses documents ont été versés au dossier du patient.\r\nYour message {original.MessageId} was verified and its documents were filed into the patient's record.\r\n"
            : $"Votre message {original.MessageId} n'a pas été versé au DMP. Rien n'a été enregistré.\r\nYour message {original.MessageId} was not filed: nothing was recorded.\r\n\r\nMotif / Reason: {row.Detail}\r\n";
        var human = new TextPart("plain") { Text = text };
        human.ContentType.Charset = "utf-8";
        var report = new MultipartReport("disposition-notification") { human };
        var mdn = new MessageDispositionNotification();
        mdn.Fields.Add("Reporting-UA", "OpenDMP deposit channel");
        mdn.Fields.Add("Final-Recipient", "rfc822; " + options.DepositAddress);
        if (original.MessageId is { } mid)
        {
            mdn.Fields.Add("Original-Message-ID", "<" + mid + ">");
        }

        mdn.Fields.Add("Disposition", filed ? "automatic-action/MDN-sent-automatically; processed" : "automatic-action/MDN-sent-automatically; processed/error");
        if (!filed)
        {
            mdn.Fields.Add("Error", (row.Detail ?? "rejected").ReplaceLineEndings(" "));
        }

        report.Add(mdn);
        reply.Body = SecureMail.SignNative(report, keys.Platform);
        return reply;
    }

    /// <summary>
    /// Records that the answers went out, for a whole batch in one statement (a crash before it
    /// means those answers are sent again: a duplicate receipt, never a missing one).
    /// </summary>
    public async Task MarkRepliesSentAsync(IReadOnlyCollection<string> keys, CancellationToken ct)
    {
        if (keys.Count > 0)
        {
            var now = time.GetUtcNow();
            await db.InboundMessages.Where(x => keys.Contains(x.Key)).ExecuteUpdateAsync(s => s.SetProperty(x => x.ReplySentAt, now), ct);
        }
    }

    /// <summary>Records the message (with the recipient-status changes already tracked) in one unit of work.</summary>
    private async Task<InboundResult> SaveAsync(InboundMessage row, CancellationToken ct)
    {
        db.InboundMessages.Add(row);
        if (row.Kind == "deposit" && row.Outcome == "rejected")
        {
            foreach (var r in await db.OutboundRecipients.Where(x => x.Address == options.DepositAddress && db.OutboundMessages.Any(m => m.Id == x.OutboundId && m.MessageId == row.MessageId)).ToListAsync(ct))
            {
                r.Status = "rejected";
                r.StatusAt = row.ProcessedAt;
                r.Detail = row.Detail;
            }
        }

        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (UniqueViolation.Is(ex))
        {
            db.ChangeTracker.Clear();
            var raced = await db.InboundMessages.AsNoTracking().FirstAsync(x => x.Key == row.Key, ct);
            return new InboundResult(raced, true, FolderOf(raced));
        }

        return new InboundResult(row, false, FolderOf(row));
    }

    private string FolderOf(InboundMessage row) => row.Outcome == "rejected" ? options.RejectedFolder : options.ProcessedFolder;

    /// <summary>Disposition notifications (MDN) and delivery status notifications (DSN) about messages the platform sent.</summary>
    private async Task ApplyReportAsync(MimeMessage message, string kind, CancellationToken ct)
    {
        var parts = message.BodyParts.ToList();
        if (kind == "receipt")
        {
            foreach (var mdn in parts.OfType<MessageDispositionNotification>())
            {
                var original = mdn.Fields["Original-Message-ID"]?.Trim().Trim('<', '>');
                var recipient = AddressOf(mdn.Fields["Final-Recipient"]) ?? message.From.Mailboxes.FirstOrDefault()?.Address;
                // A recipient speaks for itself only: a notification about someone else's copy is ignored.
                if (!string.Equals(recipient, message.From.Mailboxes.FirstOrDefault()?.Address, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var disposition = mdn.Fields["Disposition"] ?? string.Empty;
                var status = disposition.Contains("error", StringComparison.OrdinalIgnoreCase) || disposition.Contains("failed", StringComparison.OrdinalIgnoreCase) ? "rejected"
                    : disposition.Contains("displayed", StringComparison.OrdinalIgnoreCase) ? "displayed"
                    : disposition.Contains("deleted", StringComparison.OrdinalIgnoreCase) ? "deleted"
                    : "processed";
                await UpdateRecipientAsync(original, recipient, status, status == "rejected" ? mdn.Fields["Error"] : null, ct);
            }
        }
        else
        {
            var original = parts.OfType<MessagePart>().Select(p => p.Message?.MessageId).FirstOrDefault(x => x is not null);
            foreach (var dsn in parts.OfType<MessageDeliveryStatus>())
            {
                foreach (var group in dsn.StatusGroups.Skip(1))
                {
                    var action = group["Action"]?.Trim().ToLowerInvariant();
                    var status = action switch { "failed" => "failed", "delivered" or "relayed" or "expanded" => "delivered", _ => null };
                    if (status is not null)
                    {
                        await UpdateRecipientAsync(original?.Trim('<', '>'), AddressOf(group["Final-Recipient"]), status, Truncate(group["Diagnostic-Code"] ?? group["Status"], 500), ct);
                    }
                }
            }
        }
    }

    private async Task UpdateRecipientAsync(string? originalMessageId, string? address, string status, string? detail, CancellationToken ct)
    {
        if (originalMessageId is null || address is null)
        {
            return;
        }

        var outbound = await db.OutboundMessages.AsNoTracking().FirstOrDefaultAsync(x => x.MessageId == originalMessageId, ct);
        if (outbound is null)
        {
            return;
        }

        var lower = address.ToLowerInvariant();
        var r = await db.OutboundRecipients.FirstOrDefaultAsync(x => x.OutboundId == outbound.Id && x.Address == lower, ct);
        if (r is not null && Rank(status) >= Rank(r.Status))
        {
            r.Status = status;
            r.StatusAt = time.GetUtcNow();
            r.Detail = detail;
        }
    }

    /// <summary>Statuses only move forward (a late "delivered" does not hide "displayed").</summary>
    private static int Rank(string status) => status switch
    {
        "pending" => 0,
        "sent" => 1,
        "delivered" => 2,
        "processed" => 3,
        "displayed" => 4,
        "filed" or "rejected" or "failed" or "deleted" => 5,
        _ => 0,
    };

    private static string? AddressOf(string? field)
    {
        if (field is null)
        {
            return null;
        }

        var semi = field.IndexOf(';', StringComparison.Ordinal);
        return (semi >= 0 ? field[(semi + 1)..] : field).Trim().ToLowerInvariant();
    }

    private static bool IsReport(MimeEntity body, out string kind)
    {
        var entity = body is Multipart { ContentType.MediaSubtype: "signed" } signed && signed.Count > 0 ? signed[0] : body;
        if (entity is MultipartReport report)
        {
            kind = string.Equals(report.ReportType, "delivery-status", StringComparison.OrdinalIgnoreCase) ? "bounce" : "receipt";
            return true;
        }

        kind = string.Empty;
        return false;
    }

    private static bool IsAutomatic(MimeMessage m) =>
        m.Headers["Auto-Submitted"] is { } a && !a.Trim().Equals("no", StringComparison.OrdinalIgnoreCase);

    private static byte[]? XdmAttachment(MimeEntity content)
    {
        var parts = content is Multipart mp ? mp.OfType<MimePart>() : content is MimePart single ? [single] : [];
        foreach (var part in parts)
        {
            var name = part.FileName ?? part.ContentType.Name ?? string.Empty;
            if (part.ContentType.IsMimeType("application", "zip") || part.ContentType.IsMimeType("application", "x-zip-compressed") || name.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
            {
                using var ms = new MemoryStream();
                part.Content?.DecodeTo(ms);
                return ms.ToArray();
            }
        }

        return null;
    }

    private static byte[] Raw(MimeMessage message)
    {
        using var ms = new MemoryStream();
        message.WriteTo(ms);
        return ms.ToArray();
    }

    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(s))]
    private static string? Truncate(string? s, int max) => s is null || s.Length <= max ? s : s[..max];
}
