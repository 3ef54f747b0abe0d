using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Hl7.Fhir.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using OpenDmp.Bench;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Import;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Server.Hosting;

// Portal benchmark: the professional's synthesis page for a patient with 500 documents and 2,000
// numeric results (LOINC-coded), rendered by the real server (separate process, HTTPS, client
// certificate). Measures (1) the page's response time at an HTTP client on loopback — an upper
// bound of the server time — and (2) first paint in the Debian Chromium driven by Playwright
// (Paint Timing API), navigation by navigation.
string? Get(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
var postgres = Get("--postgres");
var documents = int.Parse(Get("--documents") ?? "500", CultureInfo.InvariantCulture);
var results = int.Parse(Get("--results") ?? "2000", CultureInfo.InvariantCulture);
var requests = int.Parse(Get("--requests") ?? "300", CultureInfo.InvariantCulture);
var navigations = int.Parse(Get("--navigations") ?? "40", CultureInfo.InvariantCulture);

var data = new DataDirectory(Path.Combine(Path.GetTempPath(), "opendmp-portalbench-" + Guid.NewGuid().ToString("N")[..8]));
data.Ensure();
var overrides = new Dictionary<string, string?>();
if (postgres is not null)
{
    overrides["Database:Provider"] = "Postgres";
    overrides["Database:ConnectionString"] = postgres;
}

Console.WriteLine($"# OpenDMP portal benchmark — {(postgres is null ? "SQLite" : "PostgreSQL")}: synthesis page, {documents} documents, {results} numeric results");
var config = OpenDmpConfiguration.Build(data, overrides);
var services = new ServiceCollection().AddLogging().AddOpenDmpCore(config, data).BuildServiceProvider();
var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
ca.IssueServer(data.Pki, [], TimeProvider.System);
await CoreServices.MigrateAsync(services, CancellationToken.None);

const string GpRpps = "10000000017";
var certDir = Path.Combine(data.Root, "bench");
string recordId;
var seed = Stopwatch.StartNew();
using (var scope = services.CreateScope())
{
    var sp = scope.ServiceProvider;
    var gp = await sp.GetRequiredService<DirectoryService>().AddProfessionalAsync(GpRpps, "10", "SM54", "Martin", "Claire", Actor.Operator, Channels.Admin, CancellationToken.None);
    ca.IssueProfessional(GpRpps, gp.DisplayName, null, certDir, TimeProvider.System);
    var records = sp.GetRequiredService<RecordService>();
    var p = await records.AddPatientAsync(new NewPatient(Ins.WithKey("2700575056001"), Ins.TestSystem, "SYNTHESE", "Jeanne", new DateOnly(1970, 5, 17), "F", "75056"), Actor.Operator, Channels.Admin, CancellationToken.None);
    await records.OpenAsync(p.RecordId, GpRpps, GpRpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, CancellationToken.None);
    recordId = p.RecordId;
    var actor = new Actor(ActorKind.Professional, gp.Id, gp.DisplayName, "10");

    // Documents of several types and classes over 20 years, in submissions of 25.
    (string Type, string Class, string Setting)[] kinds =
    [
        ("11488-4", "10", "AMBULATOIRE"), ("34112-3", "10", "ETABLISSEMENT"), ("60591-5", "11", "AMBULATOIRE"), ("11502-2", "10", "AMBULATOIRE"),
        ("18748-4", "31", "ETABLISSEMENT"), ("57833-6", "42", "AMBULATOIRE"), ("11490-0", "10", "ETABLISSEMENT"),
    ];
    var start = DateTimeOffset.UtcNow.AddYears(-20);
    for (var i = 0; i < documents; i += 25)
    {
        var batch = Enumerable.Range(i, Math.Min(25, documents - i)).Select(n =>
        {
            var k = kinds[n % kinds.Length];
            var title = string.Create(CultureInfo.InvariantCulture, $"Document {n + 1} du dossier");
            return new DocumentToSubmit(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, k.Type, k.Class, PracticeSettingCode: k.Setting, Date: start.AddDays(n * 14.6));
        }).ToList();
        using var s = services.CreateScope();
        await s.ServiceProvider.GetRequiredService<ProvideDocumentBundle>().HandleAsync(SubmissionBuilder.Build("Patient/" + recordId, GpRpps, gp.DisplayName, batch), actor, Channels.Api, CancellationToken.None);
    }

    // Numeric results: 10 LOINC codes, 200 values each, imported in bundles of 250.
    (string Code, string Display, string Unit, decimal Base)[] codes =
    [
        ("2339-0", "Glucose [Mass/volume] in Blood", "g/L", 0.9m), ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/L", 8m),
        ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 13m), ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 6m),
        ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "g/L", 2m), ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "g/L", 1.2m),
        ("8480-6", "Systolic blood pressure", "mm[Hg]", 130m), ("8462-4", "Diastolic blood pressure", "mm[Hg]", 80m),
        ("29463-7", "Body weight", "kg", 70m), ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 4.2m),
    ];
    var rnd = new Random(7);
    var bundle = new Bundle { Type = Bundle.BundleType.Transaction };
    for (var i = 0; i < results; i++)
    {
        var c = codes[i % codes.Length];
        bundle.Entry.Add(new Bundle.EntryComponent
        {
            FullUrl = "urn:uuid:" + Guid.NewGuid(),
            Resource = new Observation
            {
                Status = ObservationStatus.Final,
                Category = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
                Code = new CodeableConcept("http://loinc.org", c.Code, c.Display),
                Subject = new ResourceReference("Patient/" + recordId),
                Effective = new FhirDateTime(start.AddDays(i * 3.65)),
                Value = new Quantity(Math.Round(c.Base * (0.85m + (decimal)rnd.NextDouble() * 0.3m), 2), c.Unit),
            },
            Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "Observation" },
        });
        if (bundle.Entry.Count == 250 || i == results - 1)
        {
            using var s = services.CreateScope();
            await s.ServiceProvider.GetRequiredService<FhirImporter>().ImportAsync(bundle, Actor.Operator, null, CancellationToken.None);
            bundle = new Bundle { Type = Bundle.BundleType.Transaction };
        }
    }

    // The patient's declared allergies and history (shown on the synthesis).
    var patientActor = new Actor(ActorKind.Patient, recordId, "patient");
    var personal = sp.GetRequiredService<PersonalSpaceService>();
    await personal.SaveAsync(recordId, "allergy", new Dictionary<string, string?> { ["substance"] = "Pénicilline", ["severity"] = "severe" }, patientActor, Channels.Portal, CancellationToken.None);
    await personal.SaveAsync(recordId, "family-history", new Dictionary<string, string?> { ["condition"] = "Diabète de type 2", ["relative"] = "mother" }, patientActor, Channels.Portal, CancellationToken.None);
    await personal.SaveAsync(recordId, "surgery", new Dictionary<string, string?> { ["procedure"] = "Appendicectomie", ["date"] = "1988-06-01" }, patientActor, Channels.Portal, CancellationToken.None);
}

Console.WriteLine($"seeded {documents} documents and {results} results in {seed.Elapsed.TotalSeconds:F1} s");
await services.DisposeAsync();

var port = BenchSupport.FreePort();
var baseUrl = $"https://127.0.0.1:{port}";
var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "opendmp.dll"), "serve", "--data", data.Root, "--urls", baseUrl, "--no-demo"])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
};
foreach (var kv in overrides)
{
    psi.Environment["OPENDMP_" + kv.Key.Replace(":", "__", StringComparison.Ordinal)] = kv.Value;
}

using var server = Process.Start(psi)!;
server.OutputDataReceived += (_, _) => { };
server.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
server.BeginOutputReadLine();
server.BeginErrorReadLine();
var exit = 0;
try
{
    var certBase = Path.Combine(certDir, GpRpps);
    var cert = X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(certBase + ".crt", certBase + ".key").Export(X509ContentType.Pkcs12), null);
    using var handler = new SocketsHttpHandler
    {
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            ClientCertificates = [cert],
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.Issuer == ca.Certificate.Subject,
        },
    };
    using var http = new HttpClient(handler) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromMinutes(1) };
    await BenchSupport.WaitReadyAsync(http);
    var path = $"/pro/patients/{recordId}/synthese";

    // (1) The page's response time, sequential requests on a kept-alive connection.
    var html = string.Empty;
    for (var i = 0; i < 30; i++)
    {
        using var r = await http.GetAsync(path);
        html = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"synthesis page answered {(int)r.StatusCode}");
        }
    }

    var curves = html.Split("<svg class=\"curve\"").Length - 1;
    if (curves != 10 || !System.Net.WebUtility.HtmlDecode(html).Contains("Pénicilline", StringComparison.Ordinal))
    {
        throw new InvalidOperationException($"the synthesis page does not show what is expected ({curves} curves)");
    }

    var latencies = new List<double>(requests);
    for (var i = 0; i < requests; i++)
    {
        var sw = Stopwatch.StartNew();
        using var r = await http.GetAsync(path, HttpCompletionOption.ResponseContentRead);
        _ = await r.Content.ReadAsByteArrayAsync();
        latencies.Add(sw.Elapsed.TotalMilliseconds);
    }

    latencies.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"synthesis page (HTTP client, {requests} sequential requests after 30 warm-up): p50 {BenchSupport.P(latencies, 50):F1} ms, p95 {BenchSupport.P(latencies, 95):F1} ms, p99 {BenchSupport.P(latencies, 99):F1} ms, max {latencies[^1]:F1} ms; page {html.Length / 1024.0:F0} KB, {curves} curves"));

    // (1b) "_content": the text of all the patient's documents is read (decrypted, extracted) per search.
    var contentLatencies = new List<double>();
    for (var i = 0; i < 60; i++)
    {
        var sw = Stopwatch.StartNew();
        using var r = await http.GetAsync($"/fhir/DocumentReference?patient={recordId}&_content=dossier&_count=10&_total=accurate");
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode || !body.Contains($"\"total\":{documents}", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"_content search answered {(int)r.StatusCode} without the expected total");
        }

        if (i >= 10)
        {
            contentLatencies.Add(sw.Elapsed.TotalMilliseconds);
        }
    }

    contentLatencies.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"_content search over the {documents} documents' text (50 requests after 10 warm-up): p50 {BenchSupport.P(contentLatencies, 50):F1} ms, p95 {BenchSupport.P(contentLatencies, 95):F1} ms"));

    // (2) First paint in Chromium (Playwright), each navigation in a fresh page of one context.
    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = "/usr/bin/chromium",
        Headless = true,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    await using var context = await browser.NewContextAsync(new BrowserNewContextOptions
    {
        IgnoreHTTPSErrors = true,
        Locale = "fr-FR",
        ClientCertificates = [new ClientCertificate { Origin = baseUrl, CertPath = certBase + ".crt", KeyPath = certBase + ".key" }],
    });
    var firstPaint = new List<double>();
    var ttfb = new List<double>();
    var loaded = new List<double>();
    for (var i = 0; i < navigations + 5; i++)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(baseUrl + path, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        // Paint entries are queued once the frame is presented, which can come just after "load".
        await page.WaitForFunctionAsync("() => performance.getEntriesByType('paint').length > 0", null, new PageWaitForFunctionOptions { Timeout = 10_000 });
        var t = await page.EvaluateAsync<double[]>(@"() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const fp = performance.getEntriesByType('paint').find(p => p.name === 'first-paint') || performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint');
            return [fp ? fp.startTime : -1, nav.responseStart, nav.loadEventEnd];
        }");
        await page.CloseAsync();
        if (i < 5)
        {
            continue; // warm-up (TLS session, JIT on the server)
        }

        if (t[0] < 0)
        {
            throw new InvalidOperationException("the browser reported no paint entry");
        }

        firstPaint.Add(t[0]);
        ttfb.Add(t[1]);
        loaded.Add(t[2]);
    }

    firstPaint.Sort();
    ttfb.Sort();
    loaded.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"synthesis page in Chromium ({navigations} navigations after 5 warm-up): first paint p50 {BenchSupport.P(firstPaint, 50):F0} ms, p95 {BenchSupport.P(firstPaint, 95):F0} ms, max {firstPaint[^1]:F0} ms; response start p50 {BenchSupport.P(ttfb, 50):F0} ms; load event p50 {BenchSupport.P(loaded, 50):F0} ms"));
    var (hwm, _) = BenchSupport.Memory(server.Id);
    Console.WriteLine($"server peak resident memory: {hwm / 1024} MB");
}
catch (Exception ex)
{
    Console.Error.WriteLine("benchmark failed: " + ex.Message);
    exit = 1;
}
finally
{
    if (!server.HasExited)
    {
        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
    }

    if (!args.Contains("--keep"))
    {
        Directory.Delete(data.Root, recursive: true);
    }
}

return exit;
