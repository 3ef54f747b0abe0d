using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Research;

/// <summary>
/// The public-health extract: nothing without an authorisation in force; opted-out patients and
/// masked documents are absent; groups below k are suppressed and reported; no re-identification key
/// in the files; pseudonyms stable within a study and different across studies; every included record
/// has its entry on its chain.
/// </summary>
public abstract class StudyExtractTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    protected override IDictionary<string, string?>? ExtraConfig => new Dictionary<string, string?> { ["Research:Enabled"] = "true", ["Research:PollSeconds"] = "0.3" };

    private async Task<(int Code, string Out)> CliAsync(IDictionary<string, string?>? config, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", Server.Data.Root], config ?? Server.Config, stdout, stderr);
        return (code, stdout + stderr.ToString());
    }

    private static DocumentToSubmit Note(string text, string? visibility = null) => new(Encoding.UTF8.GetBytes(text), "text/plain", text, FormatCode: "urn:ihe:iti:xds-sd:text:2008", Visibility: visibility);

    /// <summary>Requests an extract by the CLI and waits for its manifest through the Bulk Data status endpoint.</summary>
    private async Task<(string Id, HttpClient Warehouse, JsonElement Manifest)> ExtractAsync(string studyId)
    {
        var (code, output) = await CliAsync(null, "study", "extract", "--study", studyId);
        Assert.True(code == 0, output);
        var id = output.Split('\n')[0].Split(' ')[1];
        var token = output.Split('\n').Single(l => l.StartsWith("token: ", StringComparison.Ordinal))[7..].Trim();
        var warehouse = Server.Http(null);
        warehouse.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var status = await warehouse.GetAsync($"/research/extracts/{id}");
            var body = await status.Content.ReadAsStringAsync();
            if (status.StatusCode == HttpStatusCode.OK)
            {
                return (id, warehouse, JsonDocument.Parse(body).RootElement.Clone());
            }

            Assert.True(status.StatusCode == HttpStatusCode.Accepted, body);
            Assert.True(DateTime.UtcNow < deadline, "the extract did not complete in 60 s");
            await Task.Delay(300);
        }
    }

    private static async Task<List<JsonElement>> LinesAsync(HttpClient warehouse, string url)
    {
        using var response = await warehouse.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("application/fhir+ndjson", response.Content.Headers.ContentType?.MediaType);
        return body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }

    [Fact]
    public async Task AnAuthorisedStudyGetsPseudonymisedData_WithoutOptedOutPatientsMaskedDocumentsOrSmallGroups()
    {
        var gp = await Server.AddProfessionalAsync(family: "Traitant", given: "Paul");
        var cohort = new List<TestPatient>();
        for (var i = 0; i < 8; i++)
        {
            cohort.Add(await Server.AddPatientAsync(new NewPatient(TestIds.NewIns(), Ins.NirSystem, "COHORTE" + (char)('A' + i), "Marie", new DateOnly(1970, 3 + i, 10), "F", "75056"), gp));
        }

        var alone = await Server.AddPatientAsync(new NewPatient(TestIds.NewIns(), Ins.NirSystem, "UNIQUE", "Jeanne", new DateOnly(1990, 6, 1), "F", "69123"), gp);
        foreach (var p in cohort.Append(alone))
        {
            await Server.SubmitAsync(gp, p, Note("Consultation de suivi"));
            await Server.SubmitAsync(gp, p, Note("Document masqué confidentiel", "MASQUE_PS"));
        }

        // One patient of the cohort objects (her own choice, through the API).
        var (objector, _) = await Server.LoginPatientAsync(cohort[7]);
        var prefs = new Parameters();
        prefs.Add("oppose-research", new FhirBoolean(true));
        using (var r = await objector.PostAsync($"/fhir/Patient/{cohort[7].Id}/$emergency-preferences", FhirAssert.Json(prefs)))
        {
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        // Nothing without an authorisation; nothing while extracts are disabled.
        var (code, output) = await CliAsync(null, "study", "extract", "--study", "no-such-study");
        Assert.NotEqual(0, code);
        Assert.Contains("no authorised study", output, StringComparison.Ordinal);
        var authorise = new[] { "study", "authorise", "--purpose", "Suivi des consultations de médecine générale", "--authorised-by", "CNIL — Mme la présidente", "--reference", "DR-2026-042", "--valid-until", DateTime.UtcNow.AddYears(1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), "--data-kinds", "documents" };
        (code, output) = await CliAsync(null, [.. authorise, "--name", "Étude A"]);
        Assert.True(code == 0, output);
        var studyA = output.Split(' ')[0];
        (code, output) = await CliAsync(null, [.. authorise, "--name", "Étude B"]);
        Assert.True(code == 0, output);
        var studyB = output.Split(' ')[0];
        var disabled = new Dictionary<string, string?>(Server.Config) { ["Research:Enabled"] = "false" };
        (code, output) = await CliAsync(disabled, "study", "extract", "--study", studyA);
        Assert.NotEqual(0, code);
        Assert.Contains("disabled", output, StringComparison.Ordinal);

        var (extractId, warehouse, manifest) = await ExtractAsync(studyA);
        var report = manifest.GetProperty("extension");
        Assert.Equal(7, report.GetProperty("included").GetInt32());
        Assert.Equal(1, report.GetProperty("optedOut").GetInt32());
        Assert.Equal(1, report.GetProperty("suppressedBelowK").GetInt32());
        Assert.Equal(7, report.GetProperty("smallestGroup").GetInt32());
        Assert.True(manifest.GetProperty("requiresAccessToken").GetBoolean());

        // Without the extract's token: nothing.
        using (var anonymous = await Server.Http(null).GetAsync($"/research/extracts/{extractId}/Patient.ndjson"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        var patientsA = await LinesAsync(warehouse, $"/research/extracts/{extractId}/Patient.ndjson");
        var documentsA = await LinesAsync(warehouse, $"/research/extracts/{extractId}/DocumentReference.ndjson");
        Assert.Equal(7, patientsA.Count);
        Assert.Equal(7, documentsA.Count); // one visible document each; the masked ones are absent
        Assert.All(patientsA, p => Assert.Equal("1970", p.GetProperty("birthDate").GetString()));
        // The birth place generalised to its département: "75", never the commune "75056".
        Assert.All(patientsA, p => Assert.Equal("75", p.GetProperty("extension")[0].GetProperty("valueString").GetString()));
        var all = string.Join('\n', patientsA.Concat(documentsA).Select(e => e.GetRawText()));
        var rows = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Patients.AsNoTracking().ToListAsync());
        foreach (var row in rows)
        {
            // No re-identification key: no record id, no INS, no name, no birth day.
            Assert.DoesNotContain(row.RecordId, all, StringComparison.Ordinal);
            Assert.DoesNotContain(row.Ins, all, StringComparison.Ordinal);
            Assert.DoesNotContain(row.Family, all, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("masqué", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Consultation de suivi", all, StringComparison.Ordinal); // titles are not extracted
        Assert.DoesNotContain("1970-03-10", all, StringComparison.Ordinal);
        Assert.DoesNotContain("75056", all, StringComparison.Ordinal);
        var pseudonymsA = patientsA.Select(p => p.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal);
        Assert.All(documentsA, d => Assert.Contains(d.GetProperty("subject").GetProperty("reference").GetString()![8..], pseudonymsA));

        // Stable within the study, unlinkable across studies.
        var (againId, againWarehouse, _) = await ExtractAsync(studyA);
        Assert.Equal(pseudonymsA, (await LinesAsync(againWarehouse, $"/research/extracts/{againId}/Patient.ndjson")).Select(p => p.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal));
        var (bId, bWarehouse, _) = await ExtractAsync(studyB);
        var pseudonymsB = (await LinesAsync(bWarehouse, $"/research/extracts/{bId}/Patient.ndjson")).Select(p => p.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(7, pseudonymsB.Count);
        Assert.Empty(pseudonymsA.Intersect(pseudonymsB));
        // Another extract's token opens nothing of this one.
        using (var crossed = await bWarehouse.GetAsync($"/research/extracts/{extractId}"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, crossed.StatusCode);
        }

        // Every included record has its entries on its chain (three extracts: A twice, B once); the others none.
        var entries = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.Action == "study-extract" && e.RecordId != null).Select(e => new { e.RecordId, e.Detail }).ToListAsync());
        foreach (var p in cohort.Take(7))
        {
            Assert.Equal(3, entries.Count(e => e.RecordId == p.Id));
        }

        Assert.DoesNotContain(entries, e => e.RecordId == cohort[7].Id || e.RecordId == alone.Id);
        Assert.Contains(entries, e => e.Detail == "included in authorised study Étude A");
        var (patientHttp, _) = await Server.LoginPatientAsync(cohort[0]);
        using (var history = await patientHttp.GetAsync($"/fhir/AuditEvent?patient={cohort[0].Id}&_count=200"))
        {
            Assert.Contains("study-extract", await history.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A withdrawn study extracts nothing more, and its secret is gone.
        (code, output) = await CliAsync(null, "study", "revoke", "--study", studyB);
        Assert.True(code == 0, output);
        Assert.False(File.Exists(Path.Combine(Server.Data.Root, "study-secrets", studyB + ".key")));
        (code, output) = await CliAsync(null, "study", "extract", "--study", studyB);
        Assert.NotEqual(0, code);
        Assert.Contains("not in force", output, StringComparison.Ordinal);

        // The warehouse deletes the files once it has them.
        using (var deleted = await warehouse.DeleteAsync($"/research/extracts/{extractId}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, deleted.StatusCode);
        }

        using (var gone = await warehouse.GetAsync($"/research/extracts/{extractId}/Patient.ndjson"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }
    }
}

public sealed class StudyExtractTests_Sqlite() : StudyExtractTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class StudyExtractTests_Postgres(PostgresCluster pg) : StudyExtractTests(new PostgresStorage(pg, "research"));
