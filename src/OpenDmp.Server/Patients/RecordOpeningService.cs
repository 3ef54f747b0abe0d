using MimeKit;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Records;
using OpenDmp.Server.Messaging;

namespace OpenDmp.Server.Patients;

/// <summary>How the account's activation code reaches the patient after an opening.</summary>
public static class ActivationDelivery
{
    /// <summary>Returned to the professional, who prints it and hands it over.</summary>
    public const string Print = "print";
    public const string Email = "email";
    public const string Sms = "sms";
    /// <summary>The patient opened the record online and set their password in the same step.</summary>
    public const string Online = "online";

    public static string Check(string? value) => value switch
    {
        null or "" => Print,
        Print or Email or Sms => value,
        _ => throw DmpException.Invalid($"the activation code is delivered by print, email or sms, got '{value}'", "activation-delivery"),
    };
}

/// <summary>An opening as asked: the patient (known by id, or identity traits to find or register), the consent and the patient's choices.</summary>
public sealed record OpenRecordCommand(
    NewPatient? Identity,
    string? PatientId,
    bool ExpressConsent,
    string? NoticeVersion,
    OpeningChannel Channel,
    string? TreatingPhysicianRpps = null,
    bool OpposeBreakGlass = false,
    bool OpposeCentre15 = false,
    string Delivery = ActivationDelivery.Print,
    string? Email = null,
    string? Phone = null,
    string Language = "fr");

/// <summary>
/// What an opening gives: the patient, whether they were registered now, the opening, how the
/// activation code went out — the code itself only when it is to be printed (or could not be sent),
/// and a warning when the chosen channel failed.
/// </summary>
public sealed record OpenRecordResult(Patient Patient, bool Registered, RecordOpening Opening, string Delivery, string? ActivationCode, string? Warning);

/// <summary>
/// Opening a record from every channel the report names (chapter V): at a professional's office or
/// pharmacy, at a hospital desk, at the operator's counter, or by the patient online. Always with
/// the patient's express consent after the information notice (the policy refuses without it, and
/// the refusal is audited); the patient is registered if needed with their identity checked by the
/// INS rules, or matched against the traits registered for their INS; the record, the opening and
/// the consent collector's authorisation are written in one transaction; then the account's
/// activation code is printed, e-mailed or sent by SMS, as the patient chose.
/// </summary>
public sealed class RecordOpeningService(RecordService records, PatientAuthService auth, RecordGuard guard, MessagingOptions messaging, SmsGateway sms, Core.Patients.IOnlineIdentityProof proof)
{
    /// <summary>
    /// The patient opens their own record online: their identity proven (<see cref="Core.Patients.IOnlineIdentityProof"/>:
    /// today the insurer's letter), their express consent after the notice, their choices; the
    /// account is activated in the same step with the password they chose (the TOTP secret to enrol
    /// is returned). The proof is spent once the record is open.
    /// </summary>
    public async Task<(OpenRecordResult Opening, ActivationResult Account)> OpenOnlineAsync(string? ins, string? letterCode, string? password, OpenRecordCommand c, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(ins) || string.IsNullOrWhiteSpace(letterCode))
        {
            throw DmpException.Invalid("your INS and the code of the letter from your insurer are required", "code");
        }

        auth.CheckPassword(password);
        var recordId = await proof.VerifyAsync(ins, letterCode, ct)
            ?? throw new DmpException(ErrorKind.Unauthenticated, "INS or letter code incorrect, expired or already used");
        var patient = new Actor(ActorKind.Patient, recordId, "patient");
        var opening = await OpenAsync(c with { PatientId = recordId, Identity = null, Channel = OpeningChannel.Online, Delivery = ActivationDelivery.Online }, patient, Channels.Portal, ct);
        await proof.ConsumeAsync(recordId, ct);
        var account = await auth.ActivateAsync(ins, opening.ActivationCode, password, ct);
        return (opening with { ActivationCode = null }, account);
    }

    public async Task<OpenRecordResult> OpenAsync(OpenRecordCommand c, Actor actor, string channel, CancellationToken ct)
    {
        // Everything that can be checked is checked before anything is written (no patient
        // registered for an opening that would then be refused).
        var delivery = c.Channel == OpeningChannel.Online ? ActivationDelivery.Online : ActivationDelivery.Check(c.Delivery);
        if (c.Channel is OpeningChannel.Import || (c.Channel == OpeningChannel.Online) != (actor.Kind == ActorKind.Patient))
        {
            throw DmpException.Invalid(actor.Kind == ActorKind.Patient ? "a patient opens their record online" : $"a professional opens a record at the office, a hospital or a counter, not '{c.Channel.ToString().ToLowerInvariant()}'", "channel");
        }

        CheckDelivery(delivery, c);
        var consent = new OpeningConsent(c.Channel, c.NoticeVersion, c.ExpressConsent, TreatingPhysicianRpps: c.TreatingPhysicianRpps, OpposeBreakGlass: c.OpposeBreakGlass, OpposeCentre15: c.OpposeCentre15, ActivationDelivery: delivery);
        await records.CheckOpeningAsync(consent, actor, ct);
        if (!c.ExpressConsent)
        {
            // Refused by the policy, and the refusal is in the audit trail.
            await guard.RequireAsync(new AccessRequest(actor, AccessAction.OpenRecord, Opening: new OpeningFacts(c.PatientId ?? string.Empty, false)), Core.Audit.AuditAction.Open, "Record", null, channel, auditPermit: false, ct, "the record cannot be opened");
        }

        var (patient, registered) = await PatientAsync(c, actor, channel, ct);
        var (_, opening) = await records.OpenAsync(patient.RecordId, consent, actor, channel, ct);
        var code = await auth.IssueActivationAsync(patient.RecordId, c.Email, actor, channel, ct, c.Phone, c.Language);
        var warning = delivery switch
        {
            ActivationDelivery.Email => await TryAsync(() => EmailAsync(c.Email!, code, c.Language, ct)),
            ActivationDelivery.Sms => await TryAsync(() => SmsAsync(c.Phone!, code, c.Language, patient.RecordId, ct)),
            _ => null,
        };
        // The code leaves in the answer only to be printed (or handed over when sending failed).
        var shown = delivery is ActivationDelivery.Print or ActivationDelivery.Online || warning is not null ? code : null;
        return new OpenRecordResult(patient, registered, opening, delivery, shown, warning);
    }

    private void CheckDelivery(string delivery, OpenRecordCommand c)
    {
        if (delivery == ActivationDelivery.Email)
        {
            EmailAddress.Require(c.Email ?? string.Empty, "email");
            if (!messaging.Enabled)
            {
                throw DmpException.Invalid("this platform sends no e-mail: deliver the activation code by print or sms", "activation-delivery");
            }
        }

        if (delivery == ActivationDelivery.Sms)
        {
            PhoneNumber.Require(c.Phone ?? string.Empty, "phone");
            if (!sms.Enabled)
            {
                throw DmpException.Invalid("this platform has no SMS gateway: deliver the activation code by print or email", "activation-delivery");
            }
        }

        if (c.Language is not ("fr" or "en"))
        {
            throw DmpException.Invalid($"the patient's language is fr or en, got '{c.Language}'", "language");
        }
    }

    /// <summary>The patient named, or found by INS (traits compared), or registered now.</summary>
    private async Task<(Patient Patient, bool Registered)> PatientAsync(OpenRecordCommand c, Actor actor, string channel, CancellationToken ct)
    {
        if (c.PatientId is { Length: > 0 } id)
        {
            return (await records.RequirePatientAsync(id, ct), false);
        }

        var identity = c.Identity ?? throw DmpException.Invalid("the patient is required: their identity (INS and strict traits) or their Patient id", "patient");
        var system = Core.Identity.Ins.KindOf(identity.InsSystem) is { } kind && kind != Core.Identity.InsKind.Local ? identity.InsSystem : null;
        if (system is not null && await records.FindByInsAsync(identity.Ins, ct, system) is { } known)
        {
            if (!SameTraits(known, identity))
            {
                throw new DmpException(ErrorKind.Conflict, "the identity traits sent (family name, birth date, sex) differ from those registered for this INS: check the patient's identity (INSi teleservice, identity document) before opening");
            }

            return (known, false);
        }

        return (await records.AddPatientAsync(identity, actor, channel, ct), true);
    }

    private static bool SameTraits(Patient known, NewPatient sent) =>
        string.Equals(known.Family, sent.Family.Trim(), StringComparison.OrdinalIgnoreCase)
        && known.BirthDate == sent.BirthDate
        && known.Sex == sent.Sex;

    private static async Task<string?> TryAsync(Func<Task> send)
    {
        try
        {
            await send();
            return null;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or MailKit.ServiceNotConnectedException or MailKit.Net.Smtp.SmtpCommandException or MailKit.Net.Smtp.SmtpProtocolException or MailKit.Security.AuthenticationException or HttpRequestException or TaskCanceledException)
        {
            return $"the activation code could not be sent ({ex.GetType().Name}): give it to the patient printed";
        }
    }

    private async Task EmailAsync(string to, string code, string language, CancellationToken ct)
    {
        var culture = Portal.Ui.Culture(language);
        var message = PatientMail.Create(messaging.DepositAddress, to, Portal.Ui.Resources.GetString("opening.mail.subject", culture) ?? "OpenDMP",
            string.Format(culture, Portal.Ui.Resources.GetString("opening.mail.body", culture)!, code) + "\r\n", culture);
        using var smtp = await MailConnections.ConnectSmtpAsync(messaging.Smtp, ct);
        await smtp.SendAsync(message, MailboxAddress.Parse(messaging.DepositAddress), message.To.Mailboxes, ct);
        await smtp.DisconnectAsync(true, ct);
    }

    private async Task SmsAsync(string phone, string code, string language, string reference, CancellationToken ct)
    {
        var culture = Portal.Ui.Culture(language);
        var status = await sms.SendAsync(PhoneNumber.Require(phone, "phone"), string.Format(culture, Portal.Ui.Resources.GetString("opening.sms", culture)!, code), "opening-" + reference, ct);
        if (status is not (>= 200 and < 300))
        {
            throw new HttpRequestException($"the SMS gateway answered {status}");
        }
    }
}
