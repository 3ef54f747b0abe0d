using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Patients;
using OpenDmp.Tests.Infrastructure;
using FhirJson = OpenDmp.Core.Fhir.FhirJson;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>
/// The consent regime end to end over real HTTPS with real client certificates and real patient
/// logins (password + TOTP): declarations, emergencies, the patient's controls, masking, release of
/// documents, notifications, the patient's reading of the audit trail. SQLite and PostgreSQL.
/// </summary>
public abstract class TrustServicesTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private const string Password = Sessions.PatientPassword;

    public static Parameters Declare(string mode, bool? confirm, params (string Name, DataType Value)[] more)
    {
        var p = new Parameters();
        p.Add("mode", new Code(mode));
        if (confirm is not null)
        {
            p.Add("confirm", new FhirBoolean(confirm));
        }

        foreach (var (name, value) in more)
        {
            p.Add(name, value);
        }

        return p;
    }

    private static DocumentToSubmit Doc(string title, string type = "11488-4", string cls = "10", string? visibility = null, bool draft = false) =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: type, ClassCode: cls, Visibility: visibility, Draft: draft);

    private Task<string> SubmitAsync(TestProfessional author, TestPatient patient, params DocumentToSubmit[] docs) => Server.SubmitAsync(author, patient, docs);

    private static async Task<HttpStatusCode> PostAsync(HttpClient http, string url, Resource? body = null)
    {
        using var r = await http.PostAsync(url, body is null ? null : FhirAssert.Json(body));
        return r.StatusCode;
    }

    private static async Task<Bundle> SearchAsync(HttpClient http, string url)
    {
        using var r = await http.GetAsync(url);
        return await FhirAssert.BundleAsync(r);
    }

    private static IEnumerable<string> Ids(Bundle b) => b.Entry.Where(e => e.Resource is DocumentReference).Select(e => e.Resource.Id!);

    private Task<(HttpClient Http, string Cookie)> LoginAsync(TestPatient patient) => Server.LoginPatientAsync(patient);

    internal static byte[] FromBase32(string s) => Sessions.FromBase32(s);

    [Fact]
    public async Task DeclareAccess_NeedsConfirmedConsent_ThenGivesAccess_AndNotifiesThePatient()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var docId = await SubmitAsync(gp, patient, Doc("CR"));
        var cardio = await Server.AddProfessionalAsync("10", "SM04", "Bernard", "Louis");
        var http = Server.Http(cardio.Certificate);

        using (var status = await http.GetAsync($"/fhir/Patient/{patient.Id}/$access-status"))
        {
            var p = FhirJson.Parse<Parameters>(await status.Content.ReadAsStringAsync());
            Assert.Equal("none", p.GetSingleValue<Code>("status").Value);
        }

        using (var unconfirmed = await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("alleged", null))))
        {
            await FhirAssert.OutcomeAsync(unconfirmed, (HttpStatusCode)422, "consent must be confirmed");
        }

        using (var badMode = await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("friendship", true))))
        {
            await FhirAssert.OutcomeAsync(badMode, (HttpStatusCode)422, "mode must be");
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"/fhir/DocumentReference/{docId}")).StatusCode);
        using (var declared = await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
            var consent = FhirJson.Parse<Consent>(await declared.Content.ReadAsStringAsync());
            Assert.Equal(Consent.ConsentState.Active, consent.Status);
            Assert.Equal("alleged", consent.PolicyRule.Coding[0].Code);
            var end = DateTimeOffset.Parse(consent.Provision.Period.End, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(end - DateTimeOffset.UtcNow, TimeSpan.FromDays(29.9), TimeSpan.FromDays(30.1));
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/fhir/DocumentReference/{docId}")).StatusCode);
        using (var status = await http.GetAsync($"/fhir/Patient/{patient.Id}/$access-status"))
        {
            var p = FhirJson.Parse<Parameters>(await status.Content.ReadAsStringAsync());
            Assert.Equal("valid", p.GetSingleValue<Code>("status").Value);
            Assert.Equal("alleged", p.GetSingleValue<Code>("mode").Value);
        }

        // Declaring the same access again extends the grant in force: the same Consent (200), not a
        // second one the patient would see twice.
        string grantId;
        using (var again = await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            grantId = FhirJson.Parse<Consent>(await again.Content.ReadAsStringAsync()).Id;
        }

        var (patientView, _) = await LoginAsync(patient);
        var cardioGrants = (await SearchAsync(patientView, $"/fhir/Consent?patient={patient.Id}")).Entry.Select(e => (Consent)e.Resource)
            .Where(c => c.Provision.Actor[0].Reference.Reference == "Practitioner/" + cardio.Id).ToList();
        Assert.Equal(grantId, Assert.Single(cardioGrants).Id);

        // The first access of a new professional is notified to the patient.
        var (patientHttp, _) = await LoginAsync(patient);
        var notes = await SearchAsync(patientHttp, "/fhir/Communication");
        var first = notes.Entry.Select(e => (Communication)e.Resource).Where(c => c.Category[0].Coding[0].Code == "first-access").ToList();
        Assert.Contains(first, c => c.Sender.Reference == "Practitioner/" + cardio.Id);
        Assert.Single(first, c => c.Sender.Reference == "Practitioner/" + cardio.Id);

        // Each notification in one language: French by default, English when asked — never both.
        var french = ((FhirString)first.Single(c => c.Sender.Reference == "Practitioner/" + cardio.Id).Payload[0].Content).Value;
        Assert.Equal($"{cardio.Display} a accédé pour la première fois à votre dossier (Consentement du patient).", french);
        using var inEnglish = new HttpRequestMessage(HttpMethod.Get, "/fhir/Communication");
        inEnglish.Headers.AcceptLanguage.ParseAdd("en-GB,en;q=0.9,fr;q=0.5");
        using var englishResponse = await patientHttp.SendAsync(inEnglish);
        var english = (await FhirAssert.BundleAsync(englishResponse)).Entry.Select(e => (Communication)e.Resource).Single(c => c.Category[0].Coding[0].Code == "first-access" && c.Sender.Reference == "Practitioner/" + cardio.Id);
        Assert.Equal("en", english.Language);
        Assert.Equal($"{cardio.Display} accessed your record for the first time (Patient's consent).", ((FhirString)english.Payload[0].Content).Value);
    }

    [Fact]
    public async Task Emergency_IsReadOnly_TimeBoxed_Notified_AndCanBeOpposed()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var docId = await SubmitAsync(gp, patient, Doc("CR"));
        var er = await Server.AddProfessionalAsync("10", "SM54", "Urgence", "Ana");
        var http = Server.Http(er.Certificate);

        using (var noReason = await http.PostAsync($"/fhir/Patient/{patient.Id}/$emergency-access", FhirAssert.Json(Declare("break-glass", null))))
        {
            await FhirAssert.OutcomeAsync(noReason, (HttpStatusCode)422, "reason");
        }

        using (var granted = await http.PostAsync($"/fhir/Patient/{patient.Id}/$emergency-access", FhirAssert.Json(Declare("break-glass", null, ("reason", new FhirString("patient inconscient aux urgences"))))))
        {
            Assert.Equal(HttpStatusCode.Created, granted.StatusCode);
            var consent = FhirJson.Parse<Consent>(await granted.Content.ReadAsStringAsync());
            var end = DateTimeOffset.Parse(consent.Provision.Period.End, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(end - DateTimeOffset.UtcNow, TimeSpan.FromHours(3.9), TimeSpan.FromHours(4.1));
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/fhir/Binary/{docId}")).StatusCode);
        using (var write = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, er.Rpps, er.Display, [Doc("urgence")]))))
        {
            await FhirAssert.OutcomeAsync(write, HttpStatusCode.Forbidden, "read-only");
        }

        var (patientHttp, _) = await LoginAsync(patient);
        var notes = await SearchAsync(patientHttp, "/fhir/Communication");
        Assert.Single(notes.Entry, e => ((Communication)e.Resource).Category[0].Coding[0].Code == "emergency-access");
        Assert.DoesNotContain(notes.Entry, e => ((Communication)e.Resource).Category[0].Coding[0].Code == "first-access" && ((Communication)e.Resource).Sender.Reference == "Practitioner/" + er.Id);

        // The patient's trail names the emergency physician as IHE BALP asks (IdNatPs and name) with the purpose of the access.
        var emergencyRead = (await SearchAsync(patientHttp, $"/fhir/AuditEvent?patient={patient.Id}&_count=50")).Entry.Select(e => (AuditEvent)e.Resource)
            .First(a => a.Agent[0].Who.Reference == "Practitioner/" + er.Id && a.Entity.Any(en => en.What.Reference == "Binary/" + docId));
        Assert.Equal(("urn:oid:1.2.250.1.71.4.2.1", "8" + er.Rpps), (emergencyRead.Agent[0].Who.Identifier.System, emergencyRead.Agent[0].Who.Identifier.Value));
        Assert.Contains("Urgence", emergencyRead.Agent[0].Who.Display, StringComparison.Ordinal);
        Assert.Equal(["ETREAT", "BTG"], emergencyRead.PurposeOfEvent.Single().Coding.Select(c => c.Code));
        Assert.Equal("Ouverture du contenu", emergencyRead.Subtype.Single(c => c.System == OpenDmp.Core.Audit.AuditQueries.ActionSystem).Display);

        // The patient opposes break-glass: another emergency physician is refused; centre 15 is a separate setting.
        var prefs = new Parameters();
        prefs.Add("oppose-break-glass", new FhirBoolean(true));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Patient/{patient.Id}/$emergency-preferences", prefs));
        var er2 = await Server.AddProfessionalAsync("10");
        var http2 = Server.Http(er2.Certificate);
        using (var refused = await http2.PostAsync($"/fhir/Patient/{patient.Id}/$emergency-access", FhirAssert.Json(Declare("break-glass", null, ("reason", new FhirString("urgence vitale"))))))
        {
            await FhirAssert.OutcomeAsync(refused, HttpStatusCode.Forbidden, "opposed");
        }

        Assert.Equal(HttpStatusCode.Created, await PostAsync(http2, $"/fhir/Patient/{patient.Id}/$emergency-access", Declare("centre-15", null, ("reason", new FhirString("régulation")))));
    }

    [Fact]
    public async Task Patient_RevokesBlocksAndMasks_AndNothingLeaks()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var plain = await SubmitAsync(gp, patient, Doc("CR 1"));
        var sensitive = await SubmitAsync(gp, patient, Doc("CR 2"));
        var cardio = await Server.AddProfessionalAsync("10", "SM04");
        var http = Server.Http(cardio.Certificate);
        Assert.Equal(HttpStatusCode.Created, await PostAsync(http, $"/fhir/Patient/{patient.Id}/$declare-access", Declare("alleged", true)));
        var (patientHttp, cookie) = await LoginAsync(patient);

        // The patient masks a document: the cardiologist no longer sees it, nor its count; the treating physician does.
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/DocumentReference/{sensitive}/$mask"));
        var seen = await SearchAsync(http, $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate&_count=1");
        Assert.Equal(1, seen.Total);
        Assert.Equal([plain], Ids(seen));
        Assert.DoesNotContain(seen.Link, l => l.Relation == "next");
        var absentId = Guid.NewGuid().ToString();
        using (var masked = await http.GetAsync($"/fhir/DocumentReference/{sensitive}"))
        using (var absent = await http.GetAsync($"/fhir/DocumentReference/{absentId}"))
        {
            // A masked document is answered exactly like one that does not exist.
            Assert.Equal(HttpStatusCode.NotFound, masked.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
            Assert.Equal(
                Diagnostics(await absent.Content.ReadAsStringAsync()).Replace(absentId, "ID", StringComparison.Ordinal),
                Diagnostics(await masked.Content.ReadAsStringAsync()).Replace(sensitive, "ID", StringComparison.Ordinal));
        }

        Assert.Equal(2, (await SearchAsync(Server.Http(gp.Certificate), $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate")).Total);

        // The patient still sees both. The portal's session cookie does not open the API (bearer only):
        // content fetched from /fhir can never act with the patient's browser session.
        Assert.Equal(2, (await SearchAsync(patientHttp, $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate")).Total);
        var portal = Server.Http(null);
        portal.DefaultRequestHeaders.Add("Cookie", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.GetAsync($"/fhir/Binary/{sensitive}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.PostAsync($"/fhir/DocumentReference/{sensitive}/$unmask", null)).StatusCode);

        // The patient lists grants (the treating physician first), revokes the cardiologist's: expired status, refusal.
        var consents = await SearchAsync(patientHttp, $"/fhir/Consent?patient={patient.Id}");
        var list = consents.Entry.Select(e => (Consent)e.Resource).ToList();
        Assert.Equal("treating-physician", list[0].PolicyRule.Coding[0].Code);
        var cardioGrant = list.Single(c => c.Provision.Actor[0].Reference.Reference == "Practitioner/" + cardio.Id);
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Consent/{cardioGrant.Id}/$revoke"));
        using (var after = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            await FhirAssert.OutcomeAsync(after, HttpStatusCode.Forbidden, "expired or was revoked");
        }

        // A professional cannot use the patient's operations.
        Assert.Equal(HttpStatusCode.Unauthorized, await PostAsync(http, $"/fhir/Consent/{cardioGrant.Id}/$revoke"));

        // The patient blocks the cardiologist: even an emergency access is refused, status "forbidden".
        var block = new Parameters();
        block.Add("practitioner", new FhirString(cardio.Rpps));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Patient/{patient.Id}/$block", block));
        using (var status = await http.GetAsync($"/fhir/Patient/{patient.Id}/$access-status"))
        {
            Assert.Equal("forbidden", FhirJson.Parse<Parameters>(await status.Content.ReadAsStringAsync()).GetSingleValue<Code>("status").Value);
        }

        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(http, $"/fhir/Patient/{patient.Id}/$emergency-access", Declare("break-glass", null, ("reason", new FhirString("urgence")))));
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(http, $"/fhir/Patient/{patient.Id}/$declare-access", Declare("alleged", true)));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Patient/{patient.Id}/$unblock", block));
        Assert.Equal(HttpStatusCode.Created, await PostAsync(http, $"/fhir/Patient/{patient.Id}/$declare-access", Declare("alleged", true)));

        // The patient extends the new grant, then makes it permanent.
        var renewed = (await SearchAsync(patientHttp, $"/fhir/Consent?patient={patient.Id}")).Entry.Select(e => (Consent)e.Resource)
            .Single(c => c.Status == Consent.ConsentState.Active && c.Provision.Actor[0].Reference.Reference == "Practitioner/" + cardio.Id);
        var permanent = new Parameters();
        permanent.Add("permanent", new FhirBoolean(true));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Consent/{renewed.Id}/$extend", permanent));
        using (var status = await http.GetAsync($"/fhir/Patient/{patient.Id}/$access-status"))
        {
            var p = FhirJson.Parse<Parameters>(await status.Content.ReadAsStringAsync());
            Assert.Equal("valid", p.GetSingleValue<Code>("status").Value);
            Assert.Null(p.Parameter.FirstOrDefault(x => x.Name == "end"));
        }

        // The patient designates the cardiologist as treating physician: that is now their standing.
        var designate = new Parameters();
        designate.Add("practitioner", new FhirString(cardio.Rpps));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Patient/{patient.Id}/$designate-treating-physician", designate));
        using (var status = await http.GetAsync($"/fhir/Patient/{patient.Id}/$access-status"))
        {
            Assert.Equal("treating-physician", FhirJson.Parse<Parameters>(await status.Content.ReadAsStringAsync()).GetSingleValue<Code>("mode").Value);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/fhir/DocumentReference/{sensitive}")).StatusCode);

        // The patient reads the access history: the cardiologist's refused search is there, within a second.
        var trail = await SearchAsync(patientHttp, $"/fhir/AuditEvent?patient={patient.Id}&_count=200");
        var events = trail.Entry.Select(e => (AuditEvent)e.Resource).ToList();
        var denied = events.First(a => a.Agent[0].Who.Reference == "Practitioner/" + cardio.Id && a.Outcome != AuditEvent.AuditEventOutcome.N0);
        Assert.True(DateTimeOffset.UtcNow - denied.Recorded!.Value < TimeSpan.FromMinutes(1));
        using (await http.GetAsync($"/fhir/DocumentReference/{plain}"))
        {
        }

        var newest = (AuditEvent)(await SearchAsync(patientHttp, $"/fhir/AuditEvent?patient={patient.Id}&_count=5")).Entry
            .First(e => ((AuditEvent)e.Resource).Agent[0].Who.Reference == "Practitioner/" + cardio.Id).Resource;
        Assert.True(DateTimeOffset.UtcNow - newest.Recorded!.Value < TimeSpan.FromSeconds(1), $"recorded {newest.Recorded:O}");
        Assert.Contains(newest.Entity, en => en.What.Reference == "DocumentReference/" + plain);
    }

    private static string Diagnostics(string outcome) => JsonDocument.Parse(outcome).RootElement.GetProperty("issue")[0].GetProperty("diagnostics").GetString()!;

    [Fact]
    public async Task InvisibleAndDraftDocuments_AreHiddenFromThePatientUntilReleased()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var visible = await SubmitAsync(gp, patient, Doc("CR visible"));
        var hidden = await SubmitAsync(gp, patient, Doc("Annonce diagnostique", visibility: "INVISIBLE_PATIENT"));
        var draft = await SubmitAsync(gp, patient, Doc("Brouillon", draft: true));
        var (patientHttp, _) = await LoginAsync(patient);

        var mine = await SearchAsync(patientHttp, $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        Assert.Equal(1, mine.Total);
        Assert.Equal([visible], Ids(mine));
        Assert.Equal(HttpStatusCode.NotFound, (await patientHttp.GetAsync($"/fhir/Binary/{hidden}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await patientHttp.GetAsync($"/fhir/DocumentReference/{draft}")).StatusCode);
        var trail = await (await patientHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_count=500")).Content.ReadAsStringAsync();
        Assert.DoesNotContain(hidden, trail, StringComparison.Ordinal);
        Assert.DoesNotContain(draft, trail, StringComparison.Ordinal);

        // The treating physician sees all three; the patient cannot release; the author releases and validates.
        Assert.Equal(3, (await SearchAsync(Server.Http(gp.Certificate), $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate")).Total);
        Assert.Equal(HttpStatusCode.Unauthorized, await PostAsync(patientHttp, $"/fhir/DocumentReference/{hidden}/$release"));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(Server.Http(gp.Certificate), $"/fhir/DocumentReference/{hidden}/$release"));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(Server.Http(gp.Certificate), $"/fhir/DocumentReference/{draft}/$finalize"));
        Assert.Equal(HttpStatusCode.Conflict, await PostAsync(Server.Http(gp.Certificate), $"/fhir/DocumentReference/{draft}/$finalize"));
        mine = await SearchAsync(patientHttp, $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        Assert.Equal(3, mine.Total);
        var finalized = (DocumentReference)mine.Entry.Single(e => e.Resource.Id == draft).Resource;
        Assert.Equal(CompositionStatus.Final, finalized.DocStatus);
        Assert.Contains(hidden, await (await patientHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_count=500")).Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LegalRepresentative_ActsForThePatient_ButNeverSeesWhatIsKeptFromThem()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var visible = await SubmitAsync(gp, patient, Doc("Carnet de vaccination"));
        var secret = await SubmitAsync(gp, patient, Doc("Consultation confidentielle", visibility: "INVISIBLE_REPRESENTANTS_LEGAUX"));
        var hidden = await SubmitAsync(gp, patient, Doc("Annonce diagnostique", visibility: "INVISIBLE_PATIENT"));
        var (repId, code) = await Server.WithScopeAsync(sp => sp.GetRequiredService<PatientAuthService>().AddRepresentativeAsync(patient.Id, "Paul Parent", "parent", null, null, Actor.Operator, Channels.Admin, CancellationToken.None));

        // The representative signs in with their own credentials: the sign-in identifier, the child's INS, password and TOTP.
        var http = Server.Http(null);
        using (var wrong = await http.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = Password }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using var activate = await http.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = Password, representative = repId.ToLowerInvariant() });
        var body = await activate.Content.ReadAsStringAsync();
        Assert.True(activate.IsSuccessStatusCode, body);
        var secretKey = FromBase32(JsonDocument.Parse(body).RootElement.GetProperty("totpSecret").GetString()!);
        using var login = await http.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = Password, totp = Totp.Code(secretKey, Totp.StepAt(DateTimeOffset.UtcNow)), representative = repId });
        var loginBody = await login.Content.ReadAsStringAsync();
        Assert.True(login.IsSuccessStatusCode, loginBody);
        Assert.Equal(repId, JsonDocument.Parse(loginBody).RootElement.GetProperty("representative").GetString());
        var rep = Server.Http(null);
        rep.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", JsonDocument.Parse(loginBody).RootElement.GetProperty("access_token").GetString());

        // Search, count, read and content: the minor's secret and the unreleased document do not exist for the representative.
        var seen = await SearchAsync(rep, $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        Assert.Equal(1, seen.Total);
        Assert.Equal([visible], Ids(seen));
        Assert.DoesNotContain(secret, FhirJson.Serialize(seen), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await rep.GetAsync($"/fhir/DocumentReference/{secret}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await rep.GetAsync($"/fhir/Binary/{secret}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await rep.GetAsync($"/fhir/DocumentReference/{hidden}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await rep.GetAsync($"/fhir/Binary/{visible}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, await PostAsync(rep, $"/fhir/DocumentReference/{secret}/$mask"));

        // The representative exercises the patient's rights: masking, and cannot write as a professional.
        Assert.Equal(HttpStatusCode.OK, await PostAsync(rep, $"/fhir/DocumentReference/{visible}/$mask"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await rep.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Doc("x")])))).StatusCode);

        // The GP reads the secret document: the representative's trail does not show it, the patient's does, and shows the representative.
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(gp.Certificate).GetAsync($"/fhir/Binary/{secret}")).StatusCode);
        var repTrail = await (await rep.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_count=500")).Content.ReadAsStringAsync();
        Assert.DoesNotContain(secret, repTrail, StringComparison.Ordinal);
        Assert.Contains(visible, repTrail, StringComparison.Ordinal);
        var (patientHttp, _) = await LoginAsync(patient);
        var patientTrail = await (await patientHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_count=500")).Content.ReadAsStringAsync();
        Assert.Contains(secret, patientTrail, StringComparison.Ordinal);
        Assert.Contains("RelatedPerson/" + repId, patientTrail, StringComparison.Ordinal);
        Assert.Equal(2, Ids(await SearchAsync(patientHttp, $"/fhir/DocumentReference?patient={patient.Id}")).Count());

        // Another patient's record is out of reach; revoking the representation ends the session at once.
        var other = await Server.AddPatientAsync(gp);
        await SubmitAsync(gp, other, Doc("Autre"));
        Assert.Equal(HttpStatusCode.Forbidden, (await rep.GetAsync($"/fhir/DocumentReference?patient={other.Id}")).StatusCode);
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<PatientAuthService>().RevokeRepresentativeAsync(repId, Actor.Operator, Channels.Admin, CancellationToken.None);
            return true;
        });
        Assert.Equal(HttpStatusCode.Unauthorized, (await rep.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);
        using var again = await http.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = Password, totp = Totp.Code(secretKey, Totp.StepAt(DateTimeOffset.UtcNow)), representative = repId });
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
    }

    [Fact]
    public async Task GroupDelegationAndCareTeam_GiveAccessAsDeclared()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var doc = await SubmitAsync(gp, patient, Doc("CR", "11502-2"));
        var (patientHttp, _) = await LoginAsync(patient);

        // Group practice: one declaration covers the members, except the one the patient excludes.
        var m1 = await Server.AddProfessionalAsync("10");
        var m2 = await Server.AddProfessionalAsync("60", null);
        var m3 = await Server.AddProfessionalAsync("10");
        var group = await Server.WithScopeAsync(sp => sp.GetRequiredService<DirectoryService>().AddGroupAsync("MSP des Lilas", "msp", [m1.Rpps, m2.Rpps, m3.Rpps], CancellationToken.None));
        var outsider = await Server.AddProfessionalAsync("10");
        // The members are shown to the patient before the declaration; the list's version comes back with it.
        var shown = FhirJson.Parse<Group>(await Server.Http(m1.Certificate).GetStringAsync($"/fhir/Group/{group.Id}"));
        Assert.Equal(3, shown.Member.Count);
        Assert.Contains(shown.Member, m => m.Entity.Reference == "Practitioner/" + m2.Id && m.Entity.Display == m2.Display);
        var version = shown.Meta.VersionId;
        var membersShown = ("members-version", (DataType)new FhirString(version));
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(Server.Http(outsider.Certificate), $"/fhir/Patient/{patient.Id}/$declare-access", Declare("group", true, ("group", new FhirString(group.Id)), membersShown)));
        using (var unshown = await Server.Http(m1.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("group", true, ("group", new FhirString(group.Id))))))
        {
            await FhirAssert.OutcomeAsync(unshown, (HttpStatusCode)422, "members-version");
        }

        Assert.Equal(HttpStatusCode.Conflict, await PostAsync(Server.Http(m1.Certificate), $"/fhir/Patient/{patient.Id}/$declare-access", Declare("group", true, ("group", new FhirString(group.Id)), ("members-version", new FhirString("0123456789abcdef")))));
        // The patient excludes a member in the same step.
        using (var declared = await Server.Http(m1.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("group", true, ("group", new FhirString(group.Id)), membersShown, ("exclude", new FhirString(m3.Rpps))))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
            var consent = FhirJson.Parse<Consent>(await declared.Content.ReadAsStringAsync());
            var deny = Assert.Single(consent.Provision.Provision);
            Assert.Equal(Consent.ConsentProvisionType.Deny, deny.Type);
            Assert.Equal("Practitioner/" + m3.Id, deny.Actor.Single().Reference.Reference);
        }

        Assert.Equal(HttpStatusCode.OK, (await Server.Http(m2.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Server.Http(m3.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        var groupGrant = (await SearchAsync(patientHttp, $"/fhir/Consent?patient={patient.Id}")).Entry.Select(e => (Consent)e.Resource).Single(c => c.PolicyRule.Coding[0].Code == "group");
        var exclude = new Parameters();
        exclude.Add("practitioner", new FhirString(m2.Rpps));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Consent/{groupGrant.Id}/$exclude", exclude));
        Assert.Equal(HttpStatusCode.Forbidden, (await Server.Http(m2.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(m1.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);

        // Delegation: a biologist under the treating physician's standing, then under a grant that the patient revokes.
        var bio = await Server.AddProfessionalAsync("10", "SM05");
        using (var noRef = await Server.Http(bio.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("delegation", true))))
        {
            await FhirAssert.OutcomeAsync(noRef, (HttpStatusCode)422, "delegating-grant");
        }

        var prescriber = await Server.AddProfessionalAsync("10", "SM04");
        using var prescriberGrant = await Server.Http(prescriber.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("alleged", true)));
        var prescriberConsent = FhirJson.Parse<Consent>(await prescriberGrant.Content.ReadAsStringAsync());
        using (var delegated = await Server.Http(bio.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(Declare("delegation", true, ("delegating-grant", new FhirString("Consent/" + prescriberConsent.Id))))))
        {
            Assert.Equal(HttpStatusCode.Created, delegated.StatusCode);
            var c = FhirJson.Parse<Consent>(await delegated.Content.ReadAsStringAsync());
            var end = DateTimeOffset.Parse(c.Provision.Period.End, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(end - DateTimeOffset.UtcNow, TimeSpan.FromDays(6.9), TimeSpan.FromDays(7.1));
        }

        Assert.Equal(HttpStatusCode.OK, (await Server.Http(bio.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Consent/{prescriberConsent.Id}/$revoke"));
        Assert.Equal(HttpStatusCode.Forbidden, (await Server.Http(bio.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);

        // Hospital care team: the establishment declares the admission and attests a member; the patient restricts to named doctors.
        var hospitalId = await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            var org = new OpenDmp.Core.Directory.Organization { Id = Guid.NewGuid().ToString(), Name = "CHU de test", CreatedAt = DateTimeOffset.UtcNow };
            db.Organizations.Add(org);
            await db.SaveChangesAsync();
            return org.Id;
        });
        var admitting = await Server.AddProfessionalAsync("10");
        var nurse = await Server.AddProfessionalAsync("60", null);
        var surgeon = await Server.AddProfessionalAsync("10", "SM54");
        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            await db.Professionals.Where(x => x.Id == admitting.Id || x.Id == nurse.Id || x.Id == surgeon.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.OrganizationId, hospitalId));
            return 0;
        });
        // No admission by the surgeon's establishment: the policy refuses (403), and the refusal is in the trail.
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(Server.Http(surgeon.Certificate), $"/fhir/Patient/{patient.Id}/$declare-access", Declare("care-team", true)));
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AnyAsync(e => e.RecordId == patient.Id && e.ActorId == surgeon.Id && e.Action == "grant" && e.Outcome == "denied")));
        var admission = new Parameters();
        admission.Add("member", new FhirString(nurse.Rpps));
        using var admitted = await Server.Http(admitting.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-admission", FhirAssert.Json(admission));
        Assert.Equal(HttpStatusCode.Created, admitted.StatusCode);
        var admissionId = FhirJson.Parse<Consent>(await admitted.Content.ReadAsStringAsync()).Id;
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(nurse.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, await PostAsync(Server.Http(surgeon.Certificate), $"/fhir/Patient/{patient.Id}/$declare-access", Declare("care-team", true)));
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(surgeon.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        var restrict = new Parameters();
        restrict.Add("practitioner", new FhirString(surgeon.Rpps));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(patientHttp, $"/fhir/Consent/{admissionId}/$restrict", restrict));
        Assert.Equal(HttpStatusCode.Forbidden, (await Server.Http(nurse.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(surgeon.Certificate).GetAsync($"/fhir/DocumentReference/{doc}")).StatusCode);
    }

    [Fact]
    public async Task Matrix_LimitsWhatAPharmacistReadsAndDeposits()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var report = await SubmitAsync(gp, patient, Doc("CR de consultation"));
        var summary = await SubmitAsync(gp, patient, Doc("Synthèse", "60591-5", "11"));
        var pharmacist = await Server.AddProfessionalAsync("21", null);
        var http = Server.Http(pharmacist.Certificate);
        Assert.Equal(HttpStatusCode.Created, await PostAsync(http, $"/fhir/Patient/{patient.Id}/$declare-access", Declare("alleged", true)));
        var seen = await SearchAsync(http, $"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        Assert.Equal(1, seen.Total);
        Assert.Equal([summary], Ids(seen));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/fhir/Binary/{report}")).StatusCode);
        var before = await Server.CountDocumentsAsync();
        using (var write = await http.PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, pharmacist.Rpps, pharmacist.Display, [Doc("CR")]))))
        {
            await FhirAssert.OutcomeAsync(write, HttpStatusCode.Forbidden, "may not deposit");
        }

        Assert.Equal(before, await Server.CountDocumentsAsync());
        await SubmitAsync(pharmacist, patient, Doc("Dispensation", "60593-1", "43"));
    }

    [Fact]
    public async Task PatientLogin_WrongFactors_LockOut_AndActivationIsOneUse()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var auth = Server.Http(null);
        var code = await Server.WithScopeAsync(sp => sp.GetRequiredService<PatientAuthService>().IssueActivationAsync(patient.Id, null, Actor.Operator, Channels.Admin, CancellationToken.None));
        using (var weak = await auth.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = "short" }))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, weak.StatusCode);
            Assert.Contains("12 characters", await weak.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal("application/problem+json", weak.Content.Headers.ContentType!.MediaType);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await auth.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code = "AAAA-BBBB-CCCC", password = Password })).StatusCode);
        using var ok = await auth.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = Password });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var secret = FromBase32(JsonDocument.Parse(await ok.Content.ReadAsStringAsync()).RootElement.GetProperty("totpSecret").GetString()!);
        Assert.Equal(HttpStatusCode.Unauthorized, (await auth.PostAsJsonAsync("/patient/activate", new { ins = patient.Ins, code, password = Password })).StatusCode);

        // Stored: a standard password hash, a sealed TOTP secret.
        var account = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().PatientAccounts.AsNoTracking().SingleAsync(x => x.RecordId == patient.Id));
        Assert.DoesNotContain(Password, account.PasswordHash!, StringComparison.Ordinal);
        Assert.False(account.TotpSecret!.AsSpan().IndexOf(secret) >= 0);

        var now = Totp.StepAt(DateTimeOffset.UtcNow);
        Assert.Equal(HttpStatusCode.Unauthorized, (await auth.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = Password, totp = "000000" == Totp.Code(secret, now) ? "111111" : "000000" })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await auth.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = "wrong password 1", totp = Totp.Code(secret, now) })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await auth.PostAsJsonAsync("/patient/login", new { ins = "299999999999999", password = Password, totp = Totp.Code(secret, now) })).StatusCode);
        using (var good = await auth.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = Password, totp = Totp.Code(secret, now) }))
        {
            Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        }

        // A one-time code is accepted once.
        Assert.Equal(HttpStatusCode.Unauthorized, (await auth.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = Password, totp = Totp.Code(secret, now) })).StatusCode);

        // Five failures lock the account for unknown devices, even with the right factors afterwards;
        // the answer is the same as for a wrong password (nothing tells that the account is locked).
        for (var i = 0; i < 4; i++)
        {
            using var bad = await auth.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = "wrong password " + i, totp = Totp.Code(secret, now + 1) });
        }

        using (var locked = await auth.PostAsJsonAsync("/patient/login", new { ins = patient.Ins, password = Password, totp = Totp.Code(secret, now + 1) }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, locked.StatusCode);
            Assert.DoesNotContain("locked", await locked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The attempts are in the patient's audit trail.
        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking().Where(x => x.RecordId == patient.Id && x.Action == "login").ToListAsync());
        Assert.Contains(entries, e => e.Outcome == "success");
        Assert.True(entries.Count(e => e.Outcome == "denied") >= 6);

        // A bad or missing bearer token is a 401 on the patient API.
        var stranger = Server.Http(null);
        stranger.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "forged");
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync($"/fhir/Consent?patient={patient.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Server.Http(null).GetAsync("/fhir/Communication")).StatusCode);
    }

    [Fact]
    public async Task Patient_CannotReachAnotherPatientsRecord()
    {
        var gp = await Server.AddProfessionalAsync();
        var alice = await Server.AddPatientAsync(gp);
        var bob = await Server.AddPatientAsync(gp);
        var bobDoc = await SubmitAsync(gp, bob, Doc("CR de Bob"));
        var (aliceHttp, _) = await LoginAsync(alice);
        Assert.Equal(HttpStatusCode.Forbidden, (await aliceHttp.GetAsync($"/fhir/DocumentReference?patient={bob.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await aliceHttp.GetAsync($"/fhir/DocumentReference/{bobDoc}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await aliceHttp.GetAsync($"/fhir/AuditEvent?patient={bob.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(aliceHttp, $"/fhir/DocumentReference/{bobDoc}/$mask"));
        Assert.Equal(HttpStatusCode.Forbidden, (await aliceHttp.GetAsync($"/fhir/Consent?patient={bob.Id}")).StatusCode);
    }
}

public sealed class TrustServicesTests_Sqlite() : TrustServicesTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class TrustServicesTests_Postgres(PostgresCluster pg) : TrustServicesTests(new PostgresStorage(pg, "trust"));

/// <summary>The deployment setting "professionals see that documents are masked", turned on.</summary>
public sealed class MaskedExistenceShownTests() : ServerTestBase(new SqliteStorage())
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Access:ProfessionalsSeeMaskedExistence"] = "true" };

    [Fact]
    public async Task MaskedDocuments_AreAnnounced_WithoutCountOrContent()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("secret"), "application/pdf", "Secret", Visibility: "MASQUE_PS")]);
        using var submitted = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(bundle));
        Assert.Equal(HttpStatusCode.OK, submitted.StatusCode);
        var docId = FhirJson.Parse<Bundle>(await submitted.Content.ReadAsStringAsync()).Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
        var cardio = await Server.AddProfessionalAsync("10", "SM04");
        var http = Server.Http(cardio.Certificate);
        using (await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
        }

        using var search = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_total=accurate");
        var body = await search.Content.ReadAsStringAsync();
        var result = FhirJson.Parse<Bundle>(body);
        Assert.Equal(0, result.Total);
        var notice = Assert.IsType<OperationOutcome>(Assert.Single(result.Entry).Resource);
        Assert.Contains("masqué", notice.Issue[0].Diagnostics, StringComparison.Ordinal);
        Assert.DoesNotContain("Secret", body, StringComparison.Ordinal);
        await FhirAssert.OutcomeAsync(await http.GetAsync($"/fhir/DocumentReference/{docId}"), HttpStatusCode.Forbidden, "masked by the patient");
    }
}

/// <summary>The default: nothing tells a professional that masked documents exist.</summary>
public sealed class MaskedExistenceHiddenTests() : ServerTestBase(new SqliteStorage())
{
    [Fact]
    public async Task MaskedDocuments_LeaveNoTrace()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("secret"), "application/pdf", "Secret", Visibility: "MASQUE_PS")]);
        using var submitted = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(bundle));
        Assert.Equal(HttpStatusCode.OK, submitted.StatusCode);
        var cardio = await Server.AddProfessionalAsync("10", "SM04");
        var http = Server.Http(cardio.Certificate);
        using (await http.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
        }

        var result = FhirJson.Parse<Bundle>(await (await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_total=accurate")).Content.ReadAsStringAsync());
        Assert.Equal(0, result.Total);
        Assert.Empty(result.Entry);
    }
}

/// <summary>Sign-in endpoints are rate limited per client address (here 3 attempts a minute).</summary>
public sealed class PatientSignInRateLimitTests() : ServerTestBase(new SqliteStorage())
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["PatientAuth:LoginPermitsPerMinute"] = "3" };

    [Fact]
    public async Task FourthAttemptInAMinute_Is429_WithRetryAfter()
    {
        var http = Server.Http(null);
        for (var i = 0; i < 3; i++)
        {
            using var attempt = await http.PostAsJsonAsync("/patient/login", new { ins = "299999999999999", password = "wrong password 1", totp = "123456" });
            Assert.Equal(HttpStatusCode.Unauthorized, attempt.StatusCode);
        }

        using var limited = await http.PostAsJsonAsync("/patient/login", new { ins = "299999999999999", password = "wrong password 1", totp = "123456" });
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter is not null);
        Assert.Contains("too many sign-in attempts", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
