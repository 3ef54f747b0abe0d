using System.Globalization;
using System.Resources;

namespace OpenDmp.Server.Portal;

/// <summary>
/// The portal's texts, from resource files: <c>Resources/Ui.resx</c> (French, the default) and
/// <c>Resources/Ui.en.resx</c> (English). The culture comes from the request (cookie set by the
/// language switch, remembered for a year).
/// </summary>
public static class Ui
{
    public static readonly ResourceManager Resources = new("OpenDmp.Server.Portal.Resources.Ui", typeof(Ui).Assembly);

    public static string T(string key) => Resources.GetString(key, CultureInfo.CurrentUICulture) ?? key;

    /// <summary>The French text of a key (texts shown to patients outside the portal, e.g. in their AuditEvents), or null.</summary>
    public static string? French(string key) => Resources.GetString(key, CultureInfo.GetCultureInfo("fr-FR"));

    public static string T(string key, params object?[] args) => string.Format(CultureInfo.CurrentCulture, T(key), args);

    public static bool English => CultureInfo.CurrentUICulture.TwoLetterISOLanguageName == "en";

    public static string Lang => English ? "en" : "fr";

    public static string Date(DateTimeOffset? d) => d is null ? "—" : d.Value.ToLocalTime().ToString(English ? "yyyy-MM-dd" : "dd/MM/yyyy", CultureInfo.InvariantCulture);

    /// <summary>
    /// A patient notification in one language (the reader's by default): rendered from the event's
    /// kind, who accessed and how; a notification stored before those were kept shows its stored text.
    /// </summary>
    public static string Notification(OpenDmp.Core.Notifications.PatientNotification n, CultureInfo? culture = null)
    {
        culture ??= CultureInfo.CurrentUICulture;
        string Text(string key) => Resources.GetString(key, culture) ?? key;
        switch (n.Kind)
        {
            case OpenDmp.Core.Notifications.NotificationEvents.NewDocument:
                return Text("notification.new-document");
            case OpenDmp.Core.Notifications.NotificationEvents.IdentityMerge:
            case OpenDmp.Core.Notifications.NotificationEvents.IdentityUnmerge:
                return Text("notification." + n.Kind);
            case OpenDmp.Core.Notifications.NotificationEvents.Reminder:
                {
                    // The reminder's own title (written by the patient or taken from the vaccination schedule), at its local time.
                    var at = OpenDmp.Core.Reminders.Recurrence.ToLocal(n.DueAt ?? n.CreatedAt);
                    var english = culture.TwoLetterISOLanguageName == "en";
                    return string.Format(culture, Text("notification.reminder"), n.Text,
                        at.ToString(english ? "yyyy-MM-dd" : "dd/MM/yyyy", CultureInfo.InvariantCulture), at.ToString("HH:mm", CultureInfo.InvariantCulture));
                }
        }

        if (n.ActorDisplay is null)
        {
            return n.Text;
        }

        var mode = n.Mode is null ? string.Empty : Resources.GetString("mode." + n.Mode, culture) ?? n.Mode;
        var key = n.Kind == "emergency-access" ? (n.Mode == "centre-15" ? "notification.centre-15" : "notification.break-glass") : "notification.first-access";
        return string.Format(culture, Text(key), n.ActorDisplay, mode);
    }

    /// <summary>The subject of a notification's e-mail, in one language.</summary>
    public static string NotificationSubject(string kind, CultureInfo culture) =>
        Resources.GetString("notification.subject." + kind switch { "emergency-access" => "emergency", "first-access" => "first", _ => kind }, culture) ?? "OpenDMP";

    /// <summary>The culture of a patient's messages (their account's language).</summary>
    public static CultureInfo Culture(string? language) => CultureInfo.GetCultureInfo(language == "en" ? "en" : "fr-FR");

    public static string DateTime(DateTimeOffset? d) => d is null ? "—" : d.Value.ToLocalTime().ToString(English ? "yyyy-MM-dd HH:mm" : "dd/MM/yyyy HH:mm", CultureInfo.InvariantCulture);
}
