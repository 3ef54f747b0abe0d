using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Notifications;

/// <summary>
/// The patient's notifications by SMS (issue 15), through the real server and an SMS gateway
/// stand-in on loopback (the gateway is an outside service): a new document a professional files
/// reaches the patient who asked for it, in the patient's language, holding nothing of the
/// document; a document hidden from the patient, or one the patient filed, tells nothing; a gateway
/// outage delays, never loses; events the patient did not choose by SMS are not sent.
/// </summary>
public abstract class PatientNotificationTests(IStorageUnderTest storage) : ServerTestBase(storage), IDisposable
{
    private readonly HookReceiver _gateway = new();

    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?>
    {
        ["Sms:GatewayUrl"] = _gateway.Url,
        ["Sms:Token"] = "jeton-passerelle",
        ["Sms:Seconds"] = "0.2",
    };

    public void Dispose()
    {
        _gateway.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed record Sms(string To, string From, string Text, string Reference);

    private List<Sms> Received() => _gateway.Accepted.Select(r => JsonSerializer.Deserialize<Sms>(r.Body, JsonSerializerOptions.Web)!).ToList();

    private async Task<Actor> AccountAsync(TestPatient patient, string? phone, string language, params string[] choices)
    {
        await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>().IssueActivationAsync(patient.Id, null, Actor.Operator, Channels.Admin, default));
        var me = new Actor(ActorKind.Patient, patient.Id, "patient");
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<PatientPreferences>().SetNotificationSettingsAsync(new NotificationSettings(null, phone, language, choices.ToHashSet()), me, Channels.Portal, default);
            return 0;
        });
        return me;
    }

    private static DocumentToSubmit Note(string text, string? visibility = null) =>
        new(Encoding.UTF8.GetBytes(text), "text/plain", text, FormatCode: "urn:ihe:iti:xds-sd:text:2008", Visibility: visibility);

    [Fact]
    public async Task NewDocument_ReachesThePatientBySms_InTheirLanguage_AndNothingOfIt()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        await AccountAsync(patient, "06 12 34 56 78", "en", "new-document:sms");
        Assert.Equal("+33612345678", await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().PatientAccounts.AsNoTracking().Where(a => a.RecordId == patient.Id).Select(a => a.Phone).SingleAsync()));

        // Hidden from the patient until the announcement consultation: nothing is said of it.
        await Server.SubmitAsync(gp, patient, Note("Annonce diagnostique", "INVISIBLE_PATIENT"));
        await Server.SubmitAsync(gp, patient, Note("Compte rendu de consultation cardiologique"));
        await Wait.UntilAsync(() => Task.FromResult(!_gateway.Accepted.IsEmpty));
        await Task.Delay(1000);
        var sms = Assert.Single(Received());
        Assert.Equal("+33612345678", sms.To);
        Assert.Equal("OpenDMP", sms.From);
        Assert.Equal("A new document was added to your shared medical record. — OpenDMP", sms.Text);
        Assert.DoesNotContain("cardio", sms.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("Bearer jeton-passerelle", _gateway.Accepted.Single().Authorization);
        var notification = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking().SingleAsync(n => n.RecordId == patient.Id && n.Kind == "new-document"));
        Assert.Equal(notification.Id, sms.Reference);
        Assert.Equal(NotificationStatus.Sent, notification.SmsStatus);
        // Not chosen by e-mail: settled, not left waiting (the e-mail sender is off here, so it is still pending).
        Assert.Equal(NotificationStatus.Pending, notification.Status);
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .AnyAsync(x => x.RecordId == patient.Id && x.Action == "notify" && x.Detail == "sent by SMS" && x.ObjectId == notification.Id)));

        // In the patient space, the same notification reads in the reader's language.
        Assert.Equal("Un nouveau document a été ajouté à votre dossier médical partagé.", OpenDmp.Server.Portal.Ui.Notification(notification, System.Globalization.CultureInfo.GetCultureInfo("fr-FR")));
    }

    [Fact]
    public async Task GatewayOutage_DelaysTheSms_NeverLosesIt_AndUnchosenEventsAreNotSent()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        await AccountAsync(patient, "+33 7 00 00 00 01", "fr", "new-document:sms");
        var quiet = await Server.AddPatientAsync(gp);
        await AccountAsync(quiet, "0700000002", "fr", "first-access:sms");

        _gateway.Failing = true;
        await Server.SubmitAsync(gp, patient, Note("Ordonnance"));
        await Server.SubmitAsync(gp, quiet, Note("Ordonnance"));
        await Wait.UntilAsync(() => Task.FromResult(_gateway.Refused >= 1));
        Assert.Empty(_gateway.Accepted);
        Assert.Equal(NotificationStatus.Pending, await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking()
            .Where(n => n.RecordId == patient.Id && n.Kind == "new-document").Select(n => n.SmsStatus).SingleAsync()));

        _gateway.Failing = false;
        await Wait.UntilAsync(() => Task.FromResult(_gateway.Accepted.Count >= 2));
        await Task.Delay(1000);
        // Each patient gets what they chose: the first a new document (not the doctor's first access),
        // the second the doctor's first access (not the new document: no row was even written for it).
        var sms = Received().OrderBy(x => x.To, StringComparer.Ordinal).ToList();
        Assert.Equal(2, sms.Count);
        Assert.Equal("+33700000001", sms[0].To);
        Assert.Equal("Un nouveau document a été ajouté à votre dossier médical partagé. — OpenDMP", sms[0].Text);
        Assert.Equal("+33700000002", sms[1].To);
        Assert.EndsWith("a accédé pour la première fois à votre dossier (Médecin traitant). — OpenDMP", sms[1].Text, StringComparison.Ordinal);
        Assert.False(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking().AnyAsync(n => n.RecordId == quiet.Id && n.Kind == "new-document")));
        Assert.Equal(NotificationStatus.NotChosen, await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Notifications.AsNoTracking()
            .Where(n => n.RecordId == patient.Id && n.Kind == "first-access").Select(n => n.SmsStatus).SingleAsync()));
    }

    [Fact]
    public async Task Settings_AreChecked_SmsNeedsANumber_AndTheEmergencyEmailStays()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var me = await AccountAsync(patient, null, "fr");
        await Server.WithScopeAsync(async sp =>
        {
            var prefs = sp.GetRequiredService<PatientPreferences>();
            var noNumber = await Assert.ThrowsAsync<DmpException>(() => prefs.SetNotificationSettingsAsync(new(null, null, "fr", new HashSet<string> { "reminder:sms" }), me, Channels.Portal, default));
            Assert.Contains("phone number", noNumber.Message, StringComparison.Ordinal);
            var badNumber = await Assert.ThrowsAsync<DmpException>(() => prefs.SetNotificationSettingsAsync(new(null, "12", "fr", new HashSet<string>()), me, Channels.Portal, default));
            Assert.Contains("mobile phone number", badNumber.Message, StringComparison.Ordinal);
            await Assert.ThrowsAsync<DmpException>(() => prefs.SetNotificationSettingsAsync(new(null, null, "de", new HashSet<string>()), me, Channels.Portal, default));
            await Assert.ThrowsAsync<DmpException>(() => prefs.SetNotificationSettingsAsync(new(null, null, "fr", new HashSet<string> { "everything:pigeon" }), me, Channels.Portal, default));
            // Unticking the emergency e-mail changes nothing: it is always on.
            await prefs.SetNotificationSettingsAsync(new(null, "+44 7700 900123", "en", new HashSet<string>()), me, Channels.Portal, default);
            var saved = await prefs.NotificationSettingsAsync(me, Channels.Portal, default);
            Assert.True(saved.Chosen("emergency-access", "email"));
            Assert.False(saved.Chosen("first-access", "email"));
            Assert.Equal("+447700900123", saved.Phone);
            Assert.Equal("en", saved.Language);
            return 0;
        });
        // The trail names the choices, never the number.
        var details = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(x => x.RecordId == patient.Id && x.ObjectType == "NotificationSettings").Select(x => x.Detail).ToListAsync());
        Assert.Contains("no optional notification", details);
        Assert.DoesNotContain(details, d => d != null && d.Contains("7700", StringComparison.Ordinal));
    }
}

public sealed class PatientNotificationTests_Sqlite() : PatientNotificationTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class PatientNotificationTests_Postgres(PostgresCluster pg) : PatientNotificationTests(new PostgresStorage(pg, "patientnotif"));
