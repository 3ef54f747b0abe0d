using System.Net;
using Hl7.Fhir.Model;
using Task = System.Threading.Tasks.Task;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Import;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Records;
using OpenDmp.Server.Patients;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Integration;

/// <summary>
/// End to end in the Debian Chromium driven by Playwright, against the real Kestrel over HTTPS:
/// a patient activates the account, logs in with TOTP, sees a new document, masks it (a
/// professional then no longer sees it) and reads the access history; professionals log in with
/// their client certificate, declare access, open the synthesis (curves), and break the glass,
/// which the patient then sees highlighted. axe-core checks every page; screenshots are kept.
/// </summary>
public abstract class PortalTests(IStorageUnderTest storage, string name) : ServerTestBase(storage), IClassFixture<BrowserFixture>
{
    private const string Password = "un mot de passe 2026";

    private BrowserFixture Chromium { get; set; } = null!;

    public void Use(BrowserFixture browser) => Chromium = browser;

    private static DocumentToSubmit Pdf(string title, string type = "11488-4", string cls = "10") =>
        new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: type, ClassCode: cls);

    private async Task<string> SubmitAsync(TestProfessional author, TestPatient patient, DocumentToSubmit doc)
    {
        using var response = await Server.Http(author.Certificate).PostAsync("/fhir", FhirAssert.Json(SubmissionBuilder.Build(patient.Reference, author.Rpps, author.Display, [doc])));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return FhirJson.Parse<Bundle>(body).Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
    }

    private string CertificateBase(TestProfessional p) => Path.Combine(Server.Data.Root, "test-certs", p.Rpps);

    /// <summary>Activation and sign-in through the pages; returns the TOTP secret.</summary>
    private async Task<byte[]> SignInAsync(IPage page, TestPatient patient, string shot)
    {
        var code = await Server.WithScopeAsync(sp => sp.GetRequiredService<PatientAuthService>().IssueActivationAsync(patient.Id, null, Actor.Operator, Channels.Admin, CancellationToken.None));
        await page.GotoAsync("/patient/activation");
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByLabel("Matricule INS").FillAsync(patient.Ins);
        await page.GetByLabel("Code d'activation").FillAsync(code);
        await page.GetByLabel("Nouveau mot de passe").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Activer" }).ClickAsync();
        var secretText = await page.Locator("#totp-secret").InnerTextAsync();
        Assert.Equal(1, await page.Locator("svg[role=img]").CountAsync());
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-activation");
        var secret = TrustServicesTests.FromBase32(secretText.Trim());

        await page.GotoAsync("/patient");
        Assert.Contains("/patient/connexion", page.Url, StringComparison.Ordinal);
        await page.GetByLabel("Mot de passe").FillAsync("wrong password 1");
        await page.GetByLabel("Matricule INS").FillAsync(patient.Ins);
        await page.GetByLabel("Code à usage unique").FillAsync(Totp.Code(secret, Totp.StepAt(DateTimeOffset.UtcNow)));
        await page.GetByRole(AriaRole.Button, new() { Name = "Se connecter" }).ClickAsync();
        Assert.Contains("incorrect", await page.GetByRole(AriaRole.Alert).InnerTextAsync(), StringComparison.Ordinal);
        await BrowserFixture.AssertAccessibleAsync(page);

        await page.GetByLabel("Matricule INS").FillAsync(patient.Ins);
        await page.GetByLabel("Mot de passe").FillAsync(Password);
        // A code is accepted once: wait for the next time step if this one was used by the failed attempt.
        await page.GetByLabel("Code à usage unique").FillAsync(Totp.Code(secret, Totp.StepAt(DateTimeOffset.UtcNow.AddSeconds(30))));
        await page.GetByRole(AriaRole.Button, new() { Name = "Se connecter" }).ClickAsync();
        // Polls the address and the heading (WaitForURL also waits for a "load" event of that navigation,
        // which it sometimes missed when the redirect had already completed: the page was there, the wait timed out).
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/patient$"), new() { Timeout = 30_000 });
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Mon dossier");
        await BrowserFixture.ScreenshotAsync(page, shot);
        return secret;
    }

    [Fact]
    public async Task Patient_SeesNewDocument_MasksIt_AndReadsTheHistory()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var cardio = await Server.AddProfessionalAsync(family: "Bernard", given: "Louis");
        var patient = await Server.AddPatientAsync(gp);
        var docId = await SubmitAsync(gp, patient, Pdf("Compte rendu cardiologique"));
        var cardioHttp = Server.Http(cardio.Certificate);
        using (var declared = await cardioHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        Assert.Single((await FhirAssert.BundleAsync(await cardioHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))).Entry, e => e.Resource is DocumentReference);

        await using var context = await Chromium.ContextAsync(Server);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        Assert.Equal("fr", await page.GetAttributeAsync("html", "lang"));
        await BrowserFixture.AssertAccessibleAsync(page);
        await SignInAsync(page, patient, $"{name}-patient-home");

        // Home: the new document, with its badge.
        var item = page.Locator("li", new() { HasText = "Compte rendu cardiologique" });
        await Assertions.Expect(item.Locator(".badge.new")).ToHaveTextAsync("Nouveau");
        await BrowserFixture.AssertAccessibleAsync(page);

        // The document: shown inline (PDF), masked after the warning is acknowledged.
        await item.GetByRole(AriaRole.Link).ClickAsync();
        await Assertions.Expect(page.Locator("iframe.doc")).ToHaveCountAsync(1);
        await BrowserFixture.AssertAccessibleAsync(page);
        // Without acknowledging the warning the form does not go (the browser's required check; the server checks too).
        await page.GetByRole(AriaRole.Button, new() { Name = "Masquer" }).ClickAsync();
        Assert.True(await page.Locator("#mask-confirm").EvaluateAsync<bool>("e => e.validity.valueMissing"));
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveCountAsync(0);
        await page.GetByLabel("J'ai compris et je veux masquer ce document").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Masquer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("masqué");
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-document-masked");

        // The cardiologist (alleged consent, not the author) no longer sees it; the treating physician does.
        var after = await FhirAssert.BundleAsync(await cardioHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&_total=accurate"));
        Assert.Equal(0, after.Total);
        Assert.Equal(HttpStatusCode.NotFound, (await cardioHttp.GetAsync($"/fhir/DocumentReference/{docId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference/{docId}")).StatusCode);

        // The history shows the cardiologist's earlier access and the masking.
        await page.GetByRole(AriaRole.Link, new() { Name = "Historique des accès" }).First.ClickAsync();
        var history = page.Locator("table");
        await Assertions.Expect(history.Locator("tr", new() { HasText = "Louis Bernard" }).Filter(new() { HasText = "Recherche" }).Filter(new() { HasText = "Consentement du patient" }).First).ToBeVisibleAsync();
        await Assertions.Expect(history.Locator("tr", new() { HasText = "Louis Bernard" }).Filter(new() { HasText = "Refusé" }).First).ToBeVisibleAsync();
        await Assertions.Expect(history.Locator("tr", new() { HasText = "Masquage" }).First).ToContainTextAsync("Vous");
        await BrowserFixture.AssertAccessibleAsync(page);
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-history");

        // Authorisations: the cardiologist's grant is listed and can be revoked.
        await page.GetByRole(AriaRole.Link, new() { Name = "Autorisations" }).First.ClickAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "Retirer l'autorisation de Louis Bernard" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("retirée");
        Assert.Equal(HttpStatusCode.Forbidden, (await cardioHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);

        // The patient opposes that prescribers see the dispensing of their prescriptions.
        await page.GetByLabel("Je m'oppose à ce que le prescripteur voie la délivrance de ses ordonnances").CheckAsync();
        await page.Locator("form", new() { Has = page.Locator("#oppose-dispensing") }).GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("enregistrés");
        Assert.True(await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().Records.Where(r => r.RecordId == patient.Id).Select(r => r.OpposeDispensingToPrescriber).FirstAsync()));

        // My health: the results the laboratory wrote, as a curve.
        foreach (var (value, days) in new[] { (5.1m, 40), (6.3m, 3) })
        {
            using var result = await Server.Http(gp.Certificate).PostAsync("/fhir/Observation", FhirAssert.Json(new Observation
            {
                Status = ObservationStatus.Final,
                Code = new CodeableConcept("http://loinc.org", "2345-7", "Glucose"),
                Subject = new ResourceReference(patient.Reference),
                Effective = new FhirDateTime(DateTimeOffset.UtcNow.AddDays(-days)),
                Value = new Quantity { Value = value, Unit = "mmol/L", Code = "mmol/L", System = "http://unitsofmeasure.org" },
            }));
            Assert.Equal(HttpStatusCode.Created, result.StatusCode);
        }

        await page.GetByRole(AriaRole.Link, new() { Name = "Ma santé" }).First.ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Ma santé");
        await Assertions.Expect(page.Locator("figure", new() { HasText = "Glucose" }).Locator("svg")).ToHaveCountAsync(1);
        await BrowserFixture.AssertAccessibleAsync(page);

        // Documents list, English remembered across pages, and a phone-width screen without horizontal scrolling.
        await page.GotoAsync("/patient/documents?ordre=asc&vue=type");
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByRole(AriaRole.Link, new() { Name = "English" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("My documents");
        await page.GotoAsync("/patient");
        Assert.Equal("en", await page.GetAttributeAsync("html", "lang"));
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("My record");
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.SetViewportSizeAsync(375, 800);
        await page.GotoAsync("/patient/historique");
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), "the history page scrolls horizontally at 375 px");
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-history-phone-en");

        // Sign-out ends the session.
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.GotoAsync("/patient");
        Assert.Contains("/patient/connexion", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Patient_KeepsThePersonalSpace_Uploads_SearchesText_SavesAView_SetsNotifications_AndClosesThenReopens()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var patient = await Server.AddPatientAsync(gp);
        var gpHttp = Server.Http(gp.Certificate);
        // A text document whose words are only in its content, not in its metadata.
        await SubmitAsync(gp, patient, new DocumentToSubmit("Suivi : glycémie stable, poursuivre la metformine."u8.ToArray(), "text/plain", "Courrier de suivi", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        await SubmitAsync(gp, patient, Pdf("Bilan annuel"));

        await using var context = await Chromium.ContextAsync(Server);
        var page = await context.NewPageAsync();
        await SignInAsync(page, patient, $"{name}-patient-personal-signin");

        // Personal space: structured forms; a wrong telephone number is refused with the reason, nothing written.
        await page.GetByRole(AriaRole.Link, new() { Name = "Espace personnel" }).First.ClickAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        var allergy = page.Locator("section", new() { Has = page.Locator("#h-allergy") });
        await allergy.Locator("summary").ClickAsync();
        await allergy.GetByLabel("Substance ou aliment").FillAsync("Pénicilline");
        await allergy.GetByLabel("Réaction").FillAsync("Urticaire");
        await allergy.GetByLabel("Gravité").SelectOptionAsync("severe");
        await allergy.GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Enregistré.");
        await Assertions.Expect(page.Locator("section", new() { Has = page.Locator("#h-allergy") }).Locator("li")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("Pénicilline — Réaction : Urticaire — Gravité : sévère"));
        var contact = page.Locator("section", new() { Has = page.Locator("#h-emergency-contact") });
        await contact.Locator("summary").ClickAsync();
        await contact.GetByLabel("Nom et prénom").FillAsync("Paul Durand");
        await contact.GetByLabel("Téléphone").FillAsync("pas un numéro");
        await contact.GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("telephone");
        await Assertions.Expect(page.Locator("section", new() { Has = page.Locator("#h-emergency-contact") }).Locator("li")).ToHaveCountAsync(0);
        var organ = page.Locator("section", new() { Has = page.Locator("#h-organ-donation") });
        await organ.GetByLabel("Ma volonté").SelectOptionAsync("refusal");
        await organ.GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.Locator("section", new() { Has = page.Locator("#h-organ-donation") }).Locator("li")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("Je refuse le don de mes organes"));

        // A document uploaded by the patient (class 90), shown to professionals as such.
        await page.Locator("#file").SetInputFilesAsync(new FilePayload { Name = "directives.txt", MimeType = "text/plain", Buffer = "Je refuse tout acharnement thérapeutique."u8.ToArray() });
        await page.GetByLabel("Titre du document").FillAsync("Mes directives anticipées");
        await page.Locator("#doctype").SelectOptionAsync(new SelectOptionValue { Label = "Directives anticipées" });
        await page.GetByRole(AriaRole.Button, new() { Name = "Déposer dans mon dossier" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Votre document est déposé.");
        await BrowserFixture.AssertAccessibleAsync(page);
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-personal-space");
        var fromPatient = (await FhirAssert.BundleAsync(await gpHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&category=90")))
            .Entry.Select(e => e.Resource).OfType<DocumentReference>().Single();
        Assert.Equal("Mes directives anticipées", fromPatient.Description);
        Assert.Single(fromPatient.Contained.OfType<Hl7.Fhir.Model.Patient>());
        // A patient cannot sign as a professional, nor deposit another class; nothing is written.
        var me = new Actor(ActorKind.Patient, patient.Id, "patient");
        var asDoctor = await Assert.ThrowsAsync<DmpException>(() => Server.WithScopeAsync(sp => sp.GetRequiredService<ProvideDocumentBundle>().HandleAsync(
            SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [Pdf("Faux compte rendu", "EXPPAT_2", "90")]), me, Channels.Portal, CancellationToken.None)));
        Assert.Equal(ErrorKind.Unprocessable, asDoctor.Kind);
        var otherClass = await Assert.ThrowsAsync<DmpException>(() => Server.WithScopeAsync(sp => sp.GetRequiredService<ProvideDocumentBundle>().HandleAsync(
            SubmissionBuilder.BuildByPatient(patient.Reference, [Pdf("Compte rendu", "11488-4", "10")]), me, Channels.Portal, CancellationToken.None)));
        Assert.Equal(ErrorKind.Forbidden, otherClass.Kind);
        Assert.Equal(3, await Server.CountDocumentsAsync());

        // Search in the documents' text (the words are in no title), then save the view.
        await page.GotoAsync("/patient/documents");
        await page.Locator("#q").FillAsync("metformine");
        await page.GetByRole(AriaRole.Button, new() { Name = "Afficher" }).ClickAsync();
        await Assertions.Expect(page.Locator("tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("tbody tr")).ToContainTextAsync("Courrier de suivi");
        await Assertions.Expect(page.Locator("tbody tr .badge")).ToHaveTextAsync("Trouvé dans le texte");
        await page.GetByLabel("Nom de la vue (filtres actuels)").FillAsync("Diabète");
        await page.GetByRole(AriaRole.Button, new() { Name = "Enregistrer cette vue" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToHaveTextAsync("Vue enregistrée.");
        await page.GotoAsync("/patient/documents");
        await Assertions.Expect(page.Locator("tbody tr")).ToHaveCountAsync(3);
        await page.GetByRole(AriaRole.Link, new() { Name = "Diabète" }).ClickAsync();
        await Assertions.Expect(page.Locator("tbody tr")).ToHaveCountAsync(1);
        await page.Locator("#q").FillAsync("acharnement");
        await page.GetByRole(AriaRole.Button, new() { Name = "Afficher" }).ClickAsync();
        await Assertions.Expect(page.Locator("tbody tr")).ToContainTextAsync("Mes directives anticipées");
        await Assertions.Expect(page.Locator("tbody tr .badge").First).ToHaveTextAsync("Déposé par le patient");
        await BrowserFixture.AssertAccessibleAsync(page);

        // The view by specialty: the authors' specialties from the directory; the patient's own documents apart.
        await page.GotoAsync("/patient/documents?vue=specialty");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 2, Name = "Médecine générale" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 2, Name = "Le patient" })).ToBeVisibleAsync();
        await BrowserFixture.AssertAccessibleAsync(page);

        // The agenda: a daily medication reminder, a date in the past refused with the reason, the
        // vaccination schedule added, the .ics export.
        await page.GetByRole(AriaRole.Link, new() { Name = "Agenda" }).First.ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Mon agenda");
        await BrowserFixture.AssertAccessibleAsync(page);
        var tomorrow = DateOnly.FromDateTime(OpenDmp.Core.Reminders.Recurrence.ToLocal(DateTimeOffset.UtcNow)).AddDays(1);
        await page.GetByLabel("Type *").SelectOptionAsync("medication");
        await page.GetByLabel("Titre *").FillAsync("Metformine 500 mg");
        await page.GetByLabel("Date *", new() { Exact = true }).FillAsync(tomorrow.AddDays(-3).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByLabel("Heure (heure de Paris) *").FillAsync("08:00");
        await page.GetByRole(AriaRole.Button, new() { Name = "Ajouter ce rappel" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("in the past");
        // Refused: what was typed is still there, only the date is corrected.
        await Assertions.Expect(page.GetByLabel("Titre *")).ToHaveValueAsync("Metformine 500 mg");
        await page.GetByLabel("Date *", new() { Exact = true }).FillAsync(tomorrow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByLabel("Répétition").SelectOptionAsync("daily");
        await page.GetByLabel("Jusqu'au (facultatif)").FillAsync(tomorrow.AddDays(2).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        await page.GetByLabel("Me prévenir", new() { Exact = true }).SelectOptionAsync("0");
        await page.GetByRole(AriaRole.Button, new() { Name = "Ajouter ce rappel" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("ajouté");
        await Assertions.Expect(page.Locator("ul.agenda li", new() { HasText = "Metformine 500 mg" })).ToHaveCountAsync(3);
        await page.GetByRole(AriaRole.Button, new() { Name = "Ajouter ces vaccinations à mon agenda" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("vaccinations");
        await Assertions.Expect(page.Locator("#h-vaccinations ~ ul .badge").First).ToHaveTextAsync("dans mon agenda");
        await BrowserFixture.AssertAccessibleAsync(page);
        // The export link, with the browser's session (the page's own scripts may not fetch: the CSP forbids it).
        var export = await page.APIRequest.GetAsync("/patient/agenda.ics");
        Assert.Equal(200, export.Status);
        Assert.StartsWith("text/calendar", export.Headers["content-type"], StringComparison.Ordinal);
        var icsText = await export.TextAsync();
        Assert.Contains("SUMMARY:Metformine 500 mg", icsText, StringComparison.Ordinal);
        Assert.Contains("RRULE:FREQ=DAILY;UNTIL=", icsText, StringComparison.Ordinal);
        Assert.Contains("CATEGORIES:VACCINATION", icsText, StringComparison.Ordinal);

        // Self-monitoring on a phone-sized screen: the treating physician set a glycaemia threshold
        // with what to do; the patient records a value above it and sees the warning with that advice,
        // then the curve (with its text alternative) and the table.
        const string advice = "Contrôlez à nouveau dans deux heures ; si la glycémie reste au-dessus de 2 g/L, appelez le cabinet.";
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<OpenDmp.Core.SelfMonitoring.SelfMonitoringService>().SetThresholdAsync(patient.Id, "2339-0", 0.7, 1.8, advice, true,
                new Actor(ActorKind.Professional, gp.Id, gp.Display, ProfessionCode: "10"), Channels.Portal, CancellationToken.None);
            return 0;
        });
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync("/patient/auto-surveillance");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Mon auto-surveillance");
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.Locator("#quantity").SelectOptionAsync("2339-0");
        await page.Locator("#value").FillAsync("2,4");
        await page.GetByRole(AriaRole.Button, new() { Name = "Enregistrer la mesure" }).ClickAsync();
        var warning = page.Locator("#threshold-warning");
        await Assertions.Expect(warning).ToContainTextAsync("votre mesure de glycémie capillaire (2,4 g/L) est en dehors du seuil fixé (entre 0,7 et 1,8)");
        await Assertions.Expect(warning).ToContainTextAsync(advice);
        await Assertions.Expect(page.Locator("svg#curve-glycemie desc")).ToContainTextAsync("2,4");
        await Assertions.Expect(page.Locator("figure.monitoring table tbody tr")).ToContainTextAsync("hors seuil");
        await BrowserFixture.AssertAccessibleAsync(page);
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-self-monitoring");
        // No horizontal scrolling on the phone-sized screen.
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"));
        await page.SetViewportSizeAsync(1280, 800);

        // Notification settings.
        await page.GetByRole(AriaRole.Link, new() { Name = "Paramètres" }).First.ClickAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByLabel("Adresse électronique").FillAsync("pas-une-adresse");
        await page.EvaluateAsync("() => document.getElementById('email').type = 'text'");
        await page.GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("e-mail");
        await page.GetByLabel("Adresse électronique").FillAsync("anne.testpatient@example.org");
        await page.GetByRole(AriaRole.Checkbox, new() { Name = "Premier accès d'un professionnel à mon dossier Courriel" }).UncheckAsync();
        await page.GetByRole(AriaRole.Checkbox, new() { Name = "Nouveau document dans mon dossier SMS" }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("SMS");
        await page.GetByLabel("Téléphone mobile").FillAsync("06 12 34 56 78");
        await page.GetByLabel("Langue des courriels et des SMS").SelectOptionAsync("en");
        await page.GetByRole(AriaRole.Button, new() { Name = "Enregistrer" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("enregistrées");
        var account = await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().PatientAccounts.AsNoTracking().SingleAsync(a => a.RecordId == patient.Id));
        Assert.Equal("anne.testpatient@example.org", account.Email);
        Assert.Equal("+33612345678", account.Phone);
        Assert.Equal("en", account.Language);
        var choices = await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().NotificationChoices.AsNoTracking().Where(c => c.RecordId == patient.Id).Select(c => c.Event + ":" + c.Channel).ToListAsync());
        Assert.Equal(["new-document:sms", "reminder:email"], choices.Order(StringComparer.Ordinal));
        // The page shows what was saved: the mandatory emergency e-mail checked and locked.
        await Assertions.Expect(page.GetByRole(AriaRole.Checkbox, new() { Name = "Accès en urgence à mon dossier Courriel" })).ToBeCheckedAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Checkbox, new() { Name = "Accès en urgence à mon dossier Courriel" })).ToBeDisabledAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Checkbox, new() { Name = "Nouveau document dans mon dossier SMS" })).ToBeCheckedAsync();

        // Close: consequences, first confirmation, second confirmation (the word); a wrong word closes nothing.
        await page.GetByRole(AriaRole.Button, new() { Name = "Fermer mon dossier" }).ClickAsync();
        Assert.True(await page.Locator("#close-ack").EvaluateAsync<bool>("e => e.validity.valueMissing"));
        await page.GetByLabel("J'ai lu et je comprends ces conséquences").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Fermer mon dossier" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Confirmez la fermeture" })).ToBeVisibleAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByLabel("Pour confirmer, saisissez le mot FERMER").FillAsync("non");
        await page.GetByRole(AriaRole.Button, new() { Name = "Je confirme la fermeture" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("pas confirmée");
        Assert.Equal(HttpStatusCode.OK, (await gpHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);
        await page.GetByLabel("Pour confirmer, saisissez le mot FERMER").FillAsync("FERMER");
        await page.GetByRole(AriaRole.Button, new() { Name = "Je confirme la fermeture" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Votre dossier est fermé.");
        await Assertions.Expect(page.Locator("#record-state")).ToContainTextAsync("Fermé");
        await BrowserFixture.ScreenshotAsync(page, $"{name}-patient-record-closed");
        Assert.Equal(HttpStatusCode.Forbidden, (await gpHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);
        // Closed: the patient still reads the record; the personal space accepts nothing.
        await page.GotoAsync("/patient/documents");
        await Assertions.Expect(page.Locator("tbody tr")).ToHaveCountAsync(3);

        // Reopen.
        await page.GotoAsync("/patient/parametres");
        await page.GetByLabel("Je veux rouvrir mon dossier").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Rouvrir mon dossier" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("Votre dossier est rouvert.");
        Assert.Equal(HttpStatusCode.OK, (await gpHttp.GetAsync($"/fhir/DocumentReference?patient={patient.Id}")).StatusCode);

        // Everything above is in the patient's history.
        await page.GotoAsync("/patient/historique");
        await Assertions.Expect(page.Locator("tr", new() { HasText = "Fermeture du dossier" }).First).ToContainTextAsync("Vous");
        await Assertions.Expect(page.Locator("tr", new() { HasText = "Réouverture du dossier" }).First).ToContainTextAsync("Vous");
        await BrowserFixture.AssertAccessibleAsync(page);
    }

    [Fact]
    public async Task Professional_DeclaresAccess_OpensTheSynthesis_AndBreakTheGlassIsSeenByThePatient()
    {
        var gp = await Server.AddProfessionalAsync(family: "Martin", given: "Claire");
        var pro = await Server.AddProfessionalAsync(family: "Roux", given: "Anne");
        var er = await Server.AddProfessionalAsync(family: "Urgence", given: "Marc");
        var patient = await Server.AddPatientAsync(gp);
        await SubmitAsync(gp, patient, Pdf("Compte rendu d'hospitalisation", "34112-3"));
        await SubmitAsync(gp, patient, Pdf("Synthèse médicale", "60591-5", "11"));
        var observations = new Bundle { Type = Bundle.BundleType.Transaction };
        for (var i = 0; i < 12; i++)
        {
            observations.Entry.Add(new Bundle.EntryComponent
            {
                FullUrl = "urn:uuid:" + Guid.NewGuid(),
                Resource = new Observation
                {
                    Status = ObservationStatus.Final,
                    Category = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
                    Code = new CodeableConcept("http://loinc.org", "2339-0", "Glucose [Mass/volume] in Blood"),
                    Subject = new ResourceReference("Patient/" + patient.Id),
                    Effective = new FhirDateTime(DateTimeOffset.UtcNow.AddDays(-30 * (12 - i))),
                    Value = new Quantity(0.9m + (i * 0.05m), "g/L"),
                },
                Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "Observation" },
            });
        }

        await Server.WithScopeAsync(sp => sp.GetRequiredService<FhirImporter>().ImportAsync(observations, Actor.Operator, null, CancellationToken.None));
        // The patient declared an allergy in the personal space (the patient's page is tested in its own test).
        await Server.WithScopeAsync(sp => sp.GetRequiredService<PersonalSpaceService>().SaveAsync(patient.Id, "allergy",
            new Dictionary<string, string?> { ["substance"] = "Pénicilline", ["reaction"] = "Urticaire", ["severity"] = "severe" },
            new Actor(ActorKind.Patient, patient.Id, "patient"), Channels.Portal, CancellationToken.None));

        await using var context = await Chromium.ContextAsync(Server, CertificateBase(pro));
        var page = await context.NewPageAsync();
        await page.GotoAsync("/pro");
        await Assertions.Expect(page.GetByText("Anne Roux", new() { Exact = false }).First).ToBeVisibleAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByLabel("INS du patient").FillAsync(patient.Ins);
        await page.GetByRole(AriaRole.Button, new() { Name = "Rechercher" }).ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "TESTPATIENT Anne" }).ClickAsync();

        // The authorisation status comes first; the declaration needs the explicit confirmation.
        await Assertions.Expect(page.Locator("#access-status")).ToHaveTextAsync("Aucune autorisation");
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "Déclarer l'accès" }).ClickAsync();
        Assert.True(await page.Locator("#confirm").EvaluateAsync<bool>("e => e.validity.valueMissing"));
        await Assertions.Expect(page.Locator("#access-status")).ToHaveTextAsync("Aucune autorisation");
        await page.GetByLabel("Je confirme que le patient a donné son consentement").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Déclarer l'accès" }).ClickAsync();
        await Assertions.Expect(page.Locator("#access-status")).ToContainTextAsync("Accès autorisé");

        // The synthesis in one click: latest documents, stays, timeline, a curve per numeric result code.
        await page.GetByRole(AriaRole.Link, new() { Name = "Ouvrir la synthèse" }).ClickAsync();
        await Assertions.Expect(page.Locator("#latest + ul li")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("section[aria-labelledby=stays] li")).ToContainTextAsync("hospitalisation");
        await Assertions.Expect(page.Locator("svg.curve")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("svg.curve circle")).ToHaveCountAsync(12);
        await Assertions.Expect(page.Locator("section[aria-labelledby=declared]")).ToContainTextAsync("Pénicilline — Réaction : Urticaire — Gravité : sévère");
        await BrowserFixture.AssertAccessibleAsync(page);
        await BrowserFixture.ScreenshotAsync(page, $"{name}-pro-synthesis");
        await page.GetByRole(AriaRole.Link, new() { Name = "Synthèse médicale" }).First.ClickAsync();
        await Assertions.Expect(page.Locator("iframe.doc")).ToHaveCountAsync(1);
        await BrowserFixture.AssertAccessibleAsync(page);

        // Upload from the browser with the metadata from the lists, invisible to the patient until released.
        await page.GotoAsync($"/pro/patients/{patient.Id}/synthese");
        await page.GetByRole(AriaRole.Link, new() { Name = "Déposer un document" }).ClickAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        // Nothing chosen: the server says what is missing (the browser's checks are bypassed on purpose).
        await page.EvaluateAsync("() => document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))");
        await page.GetByRole(AriaRole.Button, new() { Name = "Déposer", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("titre");
        await page.Locator("#file").SetInputFilesAsync(new FilePayload { Name = "irm.pdf", MimeType = "application/pdf", Buffer = SubmissionBuilder.MinimalPdf("IRM cerebrale sans anomalie") });
        await page.GetByLabel("Titre du document").FillAsync("IRM cérébrale");
        await page.Locator("#doctype").SelectOptionAsync(new SelectOptionValue { Label = "CR d'imagerie médicale" });
        await page.GetByLabel("Classe de document").SelectOptionAsync(new SelectOptionValue { Label = "Imagerie médicale" });
        await page.GetByLabel("Secteur d'activité").SelectOptionAsync(new SelectOptionValue { Label = "Etablissement public de santé" });
        await page.GetByLabel("Cadre d'exercice").SelectOptionAsync(new SelectOptionValue { Label = "Etablissement de santé" });
        await page.GetByLabel("Non visible par le patient avant une consultation d'annonce").CheckAsync();
        await page.GetByLabel("Non visible par les représentants légaux").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Déposer", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("Document déposé.");
        await BrowserFixture.ScreenshotAsync(page, $"{name}-pro-upload");
        var uploaded = (await FhirAssert.BundleAsync(await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}&type=18748-4")))
            .Entry.Select(e => e.Resource).OfType<DocumentReference>().Single();
        Assert.Equal("IRM cérébrale", uploaded.Description);
        Assert.Equal("SA01", uploaded.Context.FacilityType.Coding[0].Code);
        Assert.Contains(uploaded.SecurityLabel.SelectMany(l => l.Coding), c => c.Code == "INVISIBLE_PATIENT");
        Assert.Contains(uploaded.SecurityLabel.SelectMany(l => l.Coding), c => c.Code == "INVISIBLE_REPRESENTANTS_LEGAUX");
        Assert.Contains("Roux", uploaded.Contained.OfType<PractitionerRole>().Single().Practitioner.Display, StringComparison.Ordinal);
        var patientActor = new Actor(ActorKind.Patient, patient.Id, "patient");
        var patientView = await Server.WithScopeAsync(sp => sp.GetRequiredService<DocumentQueries>().SearchDocumentsAsync(new SearchParams([new("patient", patient.Id)]), patientActor, Channels.Portal, CancellationToken.None));
        Assert.DoesNotContain(patientView.Hits, h => h.Id == uploaded.Id);

        // The author releases it from the document's page; the patient then sees it.
        await page.GetByRole(AriaRole.Link, new() { Name = "Ouvrir le document" }).ClickAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "Rendre visible au patient" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("maintenant visible");
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Rendre visible au patient" })).ToHaveCountAsync(0);
        patientView = await Server.WithScopeAsync(sp => sp.GetRequiredService<DocumentQueries>().SearchDocumentsAsync(new SearchParams([new("patient", patient.Id)]), patientActor, Channels.Portal, CancellationToken.None));
        Assert.Contains(patientView.Hits, h => h.Id == uploaded.Id);

        // A CDA document (the ANS VSM example, made out for this patient) needs nothing but the file:
        // the header gives type, class, format, facility and dates; the page then shows its sections.
        var vsm = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "ans-cda", "VSM_1.4_2022.01.xml"))
            .Replace("extension=\"279035121518989\" root=\"1.2.250.1.213.1.4.10\"", $"extension=\"{patient.Ins}\" root=\"1.2.250.1.213.1.4.8\"", StringComparison.Ordinal)
            .Replace("PAT-TROIS", "TESTPATIENT", StringComparison.Ordinal).Replace("<given qualifier=\"BR\">DOMINIQUE</given>", "<given qualifier=\"BR\">Anne</given>", StringComparison.Ordinal)
            .Replace("<birthTime value=\"19790328\"/>", "<birthTime value=\"19700517\"/>", StringComparison.Ordinal);
        await page.GotoAsync($"/pro/patients/{patient.Id}/deposer");
        await page.Locator("#file").SetInputFilesAsync(new FilePayload { Name = "vsm.xml", MimeType = "text/xml", Buffer = System.Text.Encoding.UTF8.GetBytes(vsm) });
        await page.GetByRole(AriaRole.Button, new() { Name = "Déposer", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("Document déposé.");
        await page.GetByRole(AriaRole.Link, new() { Name = "Ouvrir le document" }).ClickAsync();
        await Assertions.Expect(page.Locator("article.cda section").First).ToBeVisibleAsync();
        await BrowserFixture.AssertAccessibleAsync(page);
        var vsmDoc = (await FhirAssert.BundleAsync(await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}&type=SYNTH")))
            .Entry.Select(e => e.Resource).OfType<DocumentReference>().Single();
        Assert.Equal(("11", "urn:asip:ci-sis:vsm:2012", "SA04"), (vsmDoc.Category[0].Coding[0].Code, vsmDoc.Content[0].Format.Code, vsmDoc.Context.FacilityType.Coding[0].Code));

        // Without a certificate the professional space explains what is needed.
        await using (var anonymous = await Chromium.ContextAsync(Server))
        {
            var p = await anonymous.NewPageAsync();
            var response = await p.GotoAsync("/pro");
            Assert.Equal(401, response!.Status);
            await Assertions.Expect(p.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Carte de professionnel requise");
        }

        // Break-glass by an emergency physician, with a reason.
        await using var erContext = await Chromium.ContextAsync(Server, CertificateBase(er));
        var erPage = await erContext.NewPageAsync();
        await erPage.GotoAsync($"/pro/patients/{patient.Id}");
        await erPage.GetByLabel("Motif (obligatoire)").FillAsync("Patient inconscient aux urgences");
        await erPage.GetByRole(AriaRole.Button, new() { Name = "Accéder en urgence" }).ClickAsync();
        await Assertions.Expect(erPage.Locator("#access-status")).ToContainTextAsync("Bris de glace");
        await BrowserFixture.ScreenshotAsync(erPage, $"{name}-pro-break-glass");

        // The patient sees it, highlighted, in the history.
        await using var patientContext = await Chromium.ContextAsync(Server);
        var patientPage = await patientContext.NewPageAsync();
        await SignInAsync(patientPage, patient, $"{name}-patient-alert");
        await Assertions.Expect(patientPage.Locator("#alerts")).ToBeVisibleAsync();
        await patientPage.GotoAsync("/patient/historique");
        var row = patientPage.Locator("tr.emergency", new() { HasText = "Marc Urgence" }).First;
        await Assertions.Expect(row).ToContainTextAsync("Accès en urgence");
        await BrowserFixture.AssertAccessibleAsync(patientPage);
        await BrowserFixture.ScreenshotAsync(patientPage, $"{name}-patient-history-emergency");
    }
}

public sealed class PortalTests_Sqlite : PortalTests
{
    public PortalTests_Sqlite(BrowserFixture browser) : base(new SqliteStorage(), "sqlite") => Use(browser);
}

[Collection("postgres")]
public sealed class PortalTests_Postgres : PortalTests
{
    public PortalTests_Postgres(PostgresCluster pg, BrowserFixture browser) : base(new PostgresStorage(pg, "portal"), "postgres") => Use(browser);
}
