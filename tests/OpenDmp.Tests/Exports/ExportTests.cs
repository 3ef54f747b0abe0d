using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Exports;

/// <summary>
/// The patient's encrypted export and the portable record, checked with tools that are not OpenDMP:
/// the export is opened by the Debian <c>age</c> tool and <c>unzip</c>, and holds exactly the documents
/// the patient may see, byte for byte; the portable record is opened from a file:// URL in Chromium with
/// the network cut, shows the synthesis after the right code and nothing after a wrong one.
/// </summary>
public abstract class ExportTests(IStorageUnderTest storage, BrowserFixture browser) : ServerTestBase(storage)
{
    private const string Passphrase = "cheval agrafe pile correcte";
    private static readonly string[] LetterType = ["34133-9"];

    // age's own default is 18; a lighter work factor keeps the suite quick (age reads any from 10 to 22).
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Exports:ScryptWorkFactor"] = "14", ["Portable:Iterations"] = "100000" };

    private static DocumentToSubmit Note(string title, byte[] content, string contentType = "text/plain", string? visibility = null, string type = "11488-4") =>
        new(content, contentType, title, TypeCode: type, FormatCode: contentType == "text/plain" ? "urn:ihe:iti:xds-sd:text:2008" : "urn:ihe:iti:xds-sd:pdf:2008", Visibility: visibility);

    [Fact]
    public async Task PatientExport_OpensWithAge_AndHoldsExactlyTheDocumentsThePatientMaySee()
    {
        var gp = await Server.AddProfessionalAsync(family: "Traitant", given: "Paul");
        var patient = await Server.AddPatientAsync(gp);
        var report = Encoding.UTF8.GetBytes("Compte rendu de consultation : tension 12/8, pas de traitement.");
        var pdf = RandomNumberGenerator.GetBytes(150_000); // spans several age chunks, incompressible
        pdf[0] = (byte)'%';
        var hiddenText = "Annonce diagnostique réservée à la consultation d'annonce";
        await Server.SubmitAsync(gp, patient, Note("Consultation de suivi", report));
        await Server.SubmitAsync(gp, patient, Note("Lettre de liaison", pdf, "application/pdf", type: "34133-9") with { Date = new DateTimeOffset(2024, 3, 15, 10, 0, 0, TimeSpan.Zero) });
        var hiddenId = await Server.SubmitAsync(gp, patient, Note("Annonce", Encoding.UTF8.GetBytes(hiddenText), visibility: "INVISIBLE_PATIENT"));
        var draftText = "Brouillon de compte rendu non validé";
        await Server.SubmitAsync(gp, patient, Note("Brouillon", Encoding.UTF8.GetBytes(draftText)) with { Draft = true });
        var minorSecret = Encoding.UTF8.GetBytes("Consultation confidentielle de l'adolescente");
        await Server.SubmitAsync(gp, patient, Note("Consultation confidentielle", minorSecret, visibility: "INVISIBLE_REPRESENTANTS_LEGAUX"));
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);

        // A weak passphrase is refused with the rule, before anything is read.
        using (var weak = await patientHttp.PostAsJsonAsync("/patient/export", new { passphrase = "court" }))
        {
            Assert.True(weak.StatusCode == HttpStatusCode.UnprocessableEntity, await weak.Content.ReadAsStringAsync());
            Assert.Contains("at least 12 characters", await weak.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A professional has no patient session: the patient's export is not theirs to call.
        using (var pro = await Server.Http(gp.Certificate).PostAsJsonAsync("/patient/export", new { passphrase = Passphrase }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, pro.StatusCode);
        }

        var dir = Directory.CreateTempSubdirectory("opendmp-export-");
        try
        {
            using var response = await patientHttp.PostAsJsonAsync("/patient/export", new { passphrase = Passphrase });
            var encrypted = await response.Content.ReadAsByteArrayAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(encrypted));
            Assert.Equal(response.Content.Headers.ContentLength, encrypted.LongLength);
            Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
            Assert.StartsWith("age-encryption.org/v1\n-> scrypt ", Encoding.ASCII.GetString(encrypted, 0, 40), StringComparison.Ordinal);
            Assert.DoesNotContain(report, Chunks(encrypted, report.Length));
            var file = Path.Combine(dir.FullName, "export.zip.age");
            await File.WriteAllBytesAsync(file, encrypted);

            // Not with OpenDMP: the age tool (passphrase typed on its terminal), then unzip.
            var wrong = await AgeDecryptAsync(file, Path.Combine(dir.FullName, "wrong.zip"), "une autre phrase de passe");
            Assert.NotEqual(0, wrong.Exit);
            Assert.Contains("incorrect passphrase", wrong.Output, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(dir.FullName, "wrong.zip")) && new FileInfo(Path.Combine(dir.FullName, "wrong.zip")).Length > 0);
            var zipPath = Path.Combine(dir.FullName, "export.zip");
            var ok = await AgeDecryptAsync(file, zipPath, Passphrase);
            Assert.True(ok.Exit == 0, ok.Output);
            var test = await RunAsync("unzip", ["-t", zipPath]);
            Assert.True(test.Exit == 0, test.Output);
            Assert.Contains("No errors detected", test.Output, StringComparison.Ordinal);

            using var zip = ZipFile.OpenRead(zipPath);
            var names = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("INDEX.HTM", names);
            Assert.Contains("README.TXT", names);
            Assert.Contains("IHE_XDM/SUBSET01/METADATA.XML", names);
            var documents = zip.Entries.Where(e => e.FullName.StartsWith("IHE_XDM/SUBSET01/DOC", StringComparison.Ordinal)).Select(e => Read(e)).ToList();
            Assert.Equal(3, documents.Count);
            Assert.Contains(documents, d => d.AsSpan().SequenceEqual(minorSecret));
            Assert.Contains(documents, d => d.AsSpan().SequenceEqual(report));
            Assert.Contains(documents, d => d.AsSpan().SequenceEqual(pdf));
            // Nothing of the document hidden from the patient, anywhere in the archive.
            foreach (var entry in zip.Entries)
            {
                var text = Encoding.UTF8.GetString(Read(entry));
                Assert.DoesNotContain(hiddenText, text, StringComparison.Ordinal);
                Assert.DoesNotContain(draftText, text, StringComparison.Ordinal);
                Assert.DoesNotContain(hiddenId, text, StringComparison.Ordinal);
            }

            var index = Encoding.UTF8.GetString(Read(zip.GetEntry("INDEX.HTM")!));
            Assert.Contains("Consultation de suivi", index, StringComparison.Ordinal);
            Assert.Contains("Lettre de liaison", index, StringComparison.Ordinal);
            var metadata = Encoding.UTF8.GetString(Read(zip.GetEntry("IHE_XDM/SUBSET01/METADATA.XML")!));
#pragma warning disable CA5350 // XDS hash is SHA-1 by definition.
            Assert.Contains(Convert.ToHexStringLower(SHA1.HashData(pdf)), metadata, StringComparison.Ordinal);
#pragma warning restore CA5350

            // A legal representative gets what they may see: not the document kept from representatives.
            var representative = await Server.LoginRepresentativeAsync(patient);
            var forRepresentative = await ExportedDocumentsAsync(representative, new { passphrase = Passphrase }, dir, "representative");
            Assert.Equal(2, forRepresentative.Count);
            Assert.DoesNotContain(forRepresentative, d => d.AsSpan().SequenceEqual(minorSecret));

            // A part: a date range (both ends included) — only the letter of March 2024.
            var dated = await ExportedDocumentsAsync(patientHttp, new { passphrase = Passphrase, from = "2024-03-15", to = "2024-03-15" }, dir, "dated");
            Assert.Single(dated);
            Assert.True(dated[0].AsSpan().SequenceEqual(pdf));

            // A part: one type only.
            var letters = await ExportedDocumentsAsync(patientHttp, new { passphrase = Passphrase, types = LetterType }, dir, "letters");
            Assert.Single(letters);
            Assert.True(letters[0].AsSpan().SequenceEqual(pdf));
        }
        finally
        {
            dir.Delete(recursive: true);
        }

        // Every export is on the patient's chain and in their history; the document ids are not in it.
        var chain = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id && e.Action == "export").Select(e => new { e.ActorId, e.Outcome, e.Detail }).ToListAsync());
        Assert.Equal(3, chain.Count(e => e.ActorId == patient.Id && e.Outcome == "success"));
        Assert.Equal(4, chain.Count(e => e.Outcome == "success"));
        Assert.Contains(chain, e => e.Detail!.Contains("from 2024-03-15; to 2024-03-15", StringComparison.Ordinal));
        Assert.Contains(chain, e => e.Detail!.StartsWith("3 documents", StringComparison.Ordinal));
        Assert.Contains(chain, e => e.Detail!.StartsWith("2 documents", StringComparison.Ordinal));
        Assert.Contains(chain, e => e.Detail!.Contains("types 34133-9", StringComparison.Ordinal));
        using var history = await patientHttp.GetAsync($"/fhir/AuditEvent?patient={patient.Id}&_count=200");
        Assert.Contains("\"export\"", await history.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PortableRecord_OpensOfflineFromAFile_WithTheRightCodeOnly_AndItsCodeCanBeChanged()
    {
        var gp = await Server.AddProfessionalAsync(family: "Traitant", given: "Paul");
        var stranger = await Server.AddProfessionalAsync(family: "Inconnu", given: "Jean");
        var patient = await Server.AddPatientAsync(gp);
        var family = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Patients.AsNoTracking().Where(p => p.RecordId == patient.Id).Select(p => p.Family).SingleAsync());
        var keyText = "Synthèse médicale : diabète de type 2 équilibré, HbA1c 6,8 %.";
        var key = await Server.SubmitAsync(gp, patient, Note("Volet de synthèse médicale", Encoding.UTF8.GetBytes(keyText), type: "60591-5"));
        await Server.SubmitAsync(gp, patient, Note("Consultation de cardiologie", Encoding.UTF8.GetBytes("ECG normal.")));
        var hidden = await Server.SubmitAsync(gp, patient, Note("Annonce", Encoding.UTF8.GetBytes("réservé"), visibility: "INVISIBLE_PATIENT"));
        // The patient declared an allergy in their personal space: part of the synthesis.
        await Server.WithScopeAsync(sp => sp.GetRequiredService<OpenDmp.Core.Records.PersonalSpaceService>().SaveAsync(patient.Id, "allergy", new Dictionary<string, string?> { ["substance"] = "Pénicilline", ["severity"] = "severe" },
            new OpenDmp.Core.Common.Actor(OpenDmp.Core.Common.ActorKind.Patient, patient.Id, "Patiente"), OpenDmp.Core.Common.Channels.Portal, CancellationToken.None));

        // Refusals: a stranger, a short code, a document the producer may not carry.
        var args = new Parameters();
        args.Add("code", new FhirString("7391-soleil"));
        args.Add("document", new ResourceReference("DocumentReference/" + key));
        using (var refused = await Server.Http(stranger.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$portable-record", FhirAssert.Json(args)))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        var shortCode = new Parameters();
        shortCode.Add("code", new FhirString("123"));
        using (var refused = await Server.Http(gp.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$portable-record", FhirAssert.Json(shortCode)))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        }

        var (patientHttp, cookie) = await Server.LoginPatientAsync(patient);
        var hiddenArgs = new Parameters();
        hiddenArgs.Add("code", new FhirString("7391-soleil"));
        hiddenArgs.Add("document", new ResourceReference("DocumentReference/" + hidden));
        using (var refused = await patientHttp.PostAsync($"/fhir/Patient/{patient.Id}/$portable-record", FhirAssert.Json(hiddenArgs)))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        }

        // The treating physician produces it from the record (FHIR operation).
        using var produced = await Server.Http(gp.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$portable-record", FhirAssert.Json(args));
        var html = await produced.Content.ReadAsByteArrayAsync();
        Assert.True(produced.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(html));
        Assert.Equal("attachment", produced.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("application/octet-stream", produced.Content.Headers.ContentType?.MediaType);
        var text = Encoding.UTF8.GetString(html);
        // Pseudonymous and sealed: no INS, no name, no content in clear.
        Assert.DoesNotContain(patient.Ins, text, StringComparison.Ordinal);
        Assert.DoesNotContain(family, text, StringComparison.Ordinal);
        Assert.DoesNotContain("diabète", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Pénicilline", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<script src", text, StringComparison.Ordinal);

        var dir = Directory.CreateTempSubdirectory("opendmp-portable-");
        try
        {
            var path = Path.Combine(dir.FullName, "dossier-medical-portable.html");
            await File.WriteAllBytesAsync(path, html);
            await using var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { Locale = "fr-FR", ViewportSize = new ViewportSize { Width = 390, Height = 844 }, AcceptDownloads = true });
            var outside = new List<string>();
            await context.RouteAsync("**/*", async route =>
            {
                if (route.Request.Url.StartsWith("file:", StringComparison.Ordinal) || route.Request.Url.StartsWith("blob:", StringComparison.Ordinal))
                {
                    await route.ContinueAsync();
                    return;
                }

                outside.Add(route.Request.Url);
                await route.AbortAsync();
            });
            await context.SetOfflineAsync(true);
            var page = await context.NewPageAsync();
            var console = new List<string>();
            page.Console += (_, m) => console.Add(m.Type + ": " + m.Text);
            page.PageError += (_, e) => console.Add("error: " + e);
            await page.GotoAsync(new Uri(path).AbsoluteUri);
            await page.WaitForTimeoutAsync(500);
            Assert.True(console.Count == 0, string.Join("\n", console));
            await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Dossier médical portable");
            await BrowserFixture.AssertAccessibleAsync(page);

            // A wrong code: a message, nothing of the record.
            await page.FillAsync("#code", "mauvais-code");
            await page.ClickAsync("#open");
            await Assertions.Expect(page.Locator("#status")).ToContainTextAsync("Code incorrect");
            Assert.False(await page.Locator("#record").IsVisibleAsync());
            Assert.DoesNotContain("diabète", await page.ContentAsync(), StringComparison.Ordinal);

            // The right code: the synthesis and the key document.
            await page.FillAsync("#code", "7391-soleil");
            await page.ClickAsync("#open");
            var record = page.Locator("#record");
            await Assertions.Expect(record).ToBeVisibleAsync();
            await Assertions.Expect(record).ToContainTextAsync("Derniers documents du dossier");
            await Assertions.Expect(record.Locator("h2", new() { HasText = "Allergies" })).ToBeVisibleAsync();
            await Assertions.Expect(record).ToContainTextAsync("Pénicilline (déclarée par le patient)");
            await Assertions.Expect(record).ToContainTextAsync("Consultation de cardiologie");
            await Assertions.Expect(record.Locator("pre")).ToContainTextAsync("diabète de type 2");
            await Assertions.Expect(record).ToContainTextAsync("DMP-");
            await Assertions.Expect(record).Not.ToContainTextAsync("réservé");
            await BrowserFixture.AssertAccessibleAsync(page);
            await BrowserFixture.ScreenshotAsync(page, "portable-record-open");

            // The patient changes the code from the file itself: the new file opens with the new code only.
            await page.FillAsync("#new-code", "nouveau-code-42");
            await page.FillAsync("#new-code2", "nouveau-code-42");
            var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#change-form button[type=submit]"));
            var changed = Path.Combine(dir.FullName, "nouveau.html");
            await download.SaveAsAsync(changed);
            var again = await context.NewPageAsync();
            await again.GotoAsync(new Uri(changed).AbsoluteUri);
            await again.FillAsync("#code", "7391-soleil");
            await again.ClickAsync("#open");
            await Assertions.Expect(again.Locator("#status")).ToContainTextAsync("Code incorrect");
            await again.FillAsync("#code", "nouveau-code-42");
            await again.ClickAsync("#open");
            await Assertions.Expect(again.Locator("#record pre")).ToContainTextAsync("diabète de type 2");
            Assert.Empty(outside);
        }
        finally
        {
            dir.Delete(recursive: true);
        }

        // The physician updates it from the synthesis page with a consultation note, which is filed into the record too.
        await using (var context = await browser.ContextAsync(Server, Path.Combine(Server.Data.Root, "test-certs", gp.Rpps)))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync($"/pro/patients/{patient.Id}/synthese");
            await BrowserFixture.AssertAccessibleAsync(page);
            await page.FillAsync("#portable-note", "Glycémie stable : poursuivre le traitement, revoir dans trois mois.");
            await page.FillAsync("#portable-code", "7391-soleil");
            await page.FillAsync("#portable-code2", "7391-soleil");
            var update = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#h-portable ~ form button[type=submit]"));
            Assert.Null(await update.FailureAsync());
            Assert.Equal("dossier-medical-portable.html", update.SuggestedFilename);
        }

        using (var search = await Server.Http(gp.Certificate).GetAsync($"/fhir/DocumentReference?patient={patient.Id}"))
        {
            Assert.Contains("Note de consultation (dossier portable)", await search.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The patient produces one from the portal (and the page passes axe).
        await using (var context = await browser.ContextAsync(Server))
        {
            var parts = cookie.Split('=', 2);
            await context.AddCookiesAsync([new Microsoft.Playwright.Cookie { Name = parts[0], Value = parts[1], Url = Server.BaseUrl }]);
            var page = await context.NewPageAsync();
            await page.GotoAsync("/patient/exporter");
            await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Exporter mon dossier");
            await Assertions.Expect(page.Locator("[role=status]").First).ToContainTextAsync("3 documents");
            await BrowserFixture.AssertAccessibleAsync(page);
            await page.FillAsync("#portable-code", "123456");
            await page.FillAsync("#portable-code2", "999999");
            await page.ClickAsync("#h-portable ~ form button[type=submit]");
            await Assertions.Expect(page.Locator("p.error")).ToContainTextAsync("Les deux codes ne sont pas identiques");
            await page.FillAsync("#portable-code", "mon-code-2026");
            await page.FillAsync("#portable-code2", "mon-code-2026");
            var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#h-portable ~ form button[type=submit]"));
            Assert.Equal("dossier-medical-portable.html", download.SuggestedFilename);
            Assert.Null(await download.FailureAsync());
            await page.FillAsync("#passphrase", Passphrase);
            await page.FillAsync("#passphrase2", Passphrase);
            var export = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("form[action='/patient/exporter/archive'] button[type=submit]"));
            Assert.EndsWith(".zip.age", export.SuggestedFilename, StringComparison.Ordinal);
            Assert.Null(await export.FailureAsync());
        }

        var chain = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id && (e.Action == "portable-record" || e.Action == "export")).Select(e => new { e.Action, e.ActorId, e.Outcome }).ToListAsync());
        Assert.Contains(chain, e => e.Action == "portable-record" && e.ActorId == gp.Id && e.Outcome == "success");
        Assert.Contains(chain, e => e.Action == "portable-record" && e.ActorId == stranger.Id && e.Outcome == "denied");
        Assert.Contains(chain, e => e.Action == "portable-record" && e.ActorId == patient.Id && e.Outcome == "success");
        Assert.Contains(chain, e => e.Action == "export" && e.ActorId == patient.Id && e.Outcome == "success");
    }

    /// <summary>Asks for an export, decrypts it with the age tool and returns the documents of its XDM subset.</summary>
    private static async Task<List<byte[]>> ExportedDocumentsAsync(HttpClient http, object request, DirectoryInfo dir, string name)
    {
        var encrypted = Path.Combine(dir.FullName, name + ".zip.age");
        using (var response = await http.PostAsJsonAsync("/patient/export", request))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await File.WriteAllBytesAsync(encrypted, await response.Content.ReadAsByteArrayAsync());
        }

        var zipPath = Path.Combine(dir.FullName, name + ".zip");
        var decrypted = await AgeDecryptAsync(encrypted, zipPath, Passphrase);
        Assert.True(decrypted.Exit == 0, decrypted.Output);
        using var zip = ZipFile.OpenRead(zipPath);
        return zip.Entries.Where(e => e.FullName.StartsWith("IHE_XDM/SUBSET01/DOC", StringComparison.Ordinal)).Select(Read).ToList();
    }

    private static byte[] Read(ZipArchiveEntry entry)
    {
        using var s = entry.Open();
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    private static IEnumerable<byte[]> Chunks(byte[] data, int size)
    {
        for (var i = 0; i + size <= data.Length; i += Math.Max(1, size / 4))
        {
            yield return data[i..(i + size)];
        }
    }

    /// <summary>age reads a passphrase from its terminal only: <c>script</c> gives it one, fed from our stdin.</summary>
    private static Task<(int Exit, string Output)> AgeDecryptAsync(string input, string output, string passphrase) =>
        RunAsync("script", ["-qec", $"age --decrypt -o '{output}' '{input}'", "/dev/null"], passphrase + "\n");

    private static async Task<(int Exit, string Output)> RunAsync(string program, string[] args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await Task.Delay(300);
            await process.StandardInput.WriteAsync(stdin);
            await process.StandardInput.FlushAsync();
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}

public sealed class ExportTests_Sqlite(BrowserFixture browser) : ExportTests(new SqliteStorage(), browser), IClassFixture<BrowserFixture>;

[Collection(PostgresCollection.Name)]
public sealed class ExportTests_Postgres(PostgresCluster pg, BrowserFixture browser) : ExportTests(new PostgresStorage(pg, "exports"), browser), IClassFixture<BrowserFixture>;
