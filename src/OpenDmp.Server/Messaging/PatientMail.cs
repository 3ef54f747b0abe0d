using System.Globalization;
using MimeKit;

namespace OpenDmp.Server.Messaging;

/// <summary>An e-mail to a patient: from the platform's patient-facing sender, in one language (Content-Language), marked automatic.</summary>
public static class PatientMail
{
    public static MimeMessage Create(string fromAddress, string to, string subject, string text, CultureInfo culture)
    {
        var language = culture.TwoLetterISOLanguageName;
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(language == "en" ? "OpenDMP — my record" : "OpenDMP — mon dossier", fromAddress));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("opendmp.notifications");
        message.Headers.Add("Auto-Submitted", "auto-generated");
        var body = new TextPart("plain") { Text = text };
        body.ContentType.Charset = "utf-8";
        body.Headers.Add(HeaderId.ContentLanguage, language);
        message.Body = body;
        return message;
    }
}
