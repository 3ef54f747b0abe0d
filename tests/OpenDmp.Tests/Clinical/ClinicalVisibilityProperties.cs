using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Access;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Clinical;

/// <summary>
/// Property test of the structured content against the access policy, on the real storage: in
/// random worlds of documents (every class, masked, invisible to the patient, drafts, erased,
/// dispensing of a prescriber under the patient's opposition, hidden from legal representatives), each
/// carrying structured entries and results, every reader (treating physician, other physician,
/// pharmacist, nurse, the patient, a legal representative) gets
/// through every path — the entry scope, search totals, curves, the medication list, the summary —
/// exactly the entries of the documents the policy function lets them read, and nothing else.
/// </summary>
public abstract class ClinicalVisibilityProperties(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private const int Worlds = 25;

    private static readonly (string Class, string Type)[] Kinds =
    [
        ("10", "11488-4"), ("10", "11490-0"), ("60", "REMB"), ("10", "11502-2"), ("42", "57833-6"), ("43", "60593-1"), ("52", "87273-9"), ("11", "60591-5"),
    ];

    private static readonly string[] EntryTypes = ["MedicationRequest", "MedicationDispense", "MedicationStatement", "ExplanationOfBenefit", "Condition", "Encounter", "Procedure", "Immunization", "AllergyIntolerance"];

    [Fact]
    public async Task EveryPath_ShowsExactlyTheEntriesOfTheDocumentsThePolicyAdmits()
    {
        var treating = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(treating);
        var other = await Server.AddProfessionalAsync();
        var pharmacist = await Server.AddProfessionalAsync("21", null, "Pharma", "Paul");
        var nurse = await Server.AddProfessionalAsync("60", null, "Infi", "Inès");
        foreach (var p in new[] { other, pharmacist, nurse })
        {
            using var declared = await Server.Http(p.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true)));
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        var actors = new[]
        {
            new Actor(ActorKind.Professional, treating.Id, "treating", "10"),
            new Actor(ActorKind.Professional, other.Id, "other", "10"),
            new Actor(ActorKind.Professional, pharmacist.Id, "pharmacist", "21"),
            new Actor(ActorKind.Professional, nurse.Id, "nurse", "60"),
            new Actor(ActorKind.Patient, patient.Id, "patient"),
            new Actor(ActorKind.Representative, "RL-" + patient.Id, "representative", null, patient.Id),
        };
        var pros = new[] { treating.Id, other.Id, pharmacist.Id, nurse.Id };
        for (var seed = 0; seed < Worlds; seed++)
        {
            var world = await SeedAsync(patient.Id, pros, treating.Id, seed);
            foreach (var actor in actors)
            {
                await Server.WithScopeAsync(async sp =>
                {
                    await CheckAsync(sp, patient.Id, actor, world, $"seed {seed}, {actor.Display}");
                    return true;
                });
            }
        }
    }

    private sealed record SeededWorld(IReadOnlyList<DocumentEntry> Documents, IReadOnlyList<ClinicalEntry> Entries, IReadOnlyList<ObservationEntry> Results);

    private async Task<SeededWorld> SeedAsync(string recordId, string[] pros, string treatingId, int seed)
    {
        var r = new Random(seed);
        return await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            await db.ClinicalEntries.Where(x => x.RecordId == recordId).ExecuteDeleteAsync();
            await db.Observations.Where(x => x.RecordId == recordId).ExecuteDeleteAsync();
            await db.Documents.Where(x => x.RecordId == recordId).ExecuteDeleteAsync();
            var record = await db.Records.FirstAsync(x => x.RecordId == recordId);
            record.OpposeDispensingToPrescriber = r.Next(2) == 0;
            var docs = new List<DocumentEntry>();
            var entries = new List<ClinicalEntry>();
            var results = new List<ObservationEntry>();
            var now = DateTimeOffset.UtcNow;
            for (var i = r.Next(4, 12); i > 0; i--)
            {
                var (cls, type) = Kinds[r.Next(Kinds.Length)];
                var id = Ids.New();
                var doc = new DocumentEntry
                {
                    RecordId = recordId,
                    Id = id,
                    MasterIdentifier = "urn:uuid:" + Guid.NewGuid(),
                    Status = "current",
                    ClassCode = cls,
                    TypeCode = type,
                    ContentType = "application/pdf",
                    Sha1 = string.Empty,
                    ContentKey = id,
                    ResourceJson = "{}",
                    Masked = r.Next(3) == 0,
                    HiddenFromPatient = r.Next(6) == 0,
                    Draft = r.Next(8) == 0,
                    HiddenFromRepresentatives = r.Next(5) == 0,
                    Erased = r.Next(8) == 0,
                    AuthorProfessionalId = r.Next(4) == 0 ? null : pros[r.Next(pros.Length)],
                    PrescriberId = cls == "43" && r.Next(3) > 0 ? (r.Next(2) == 0 ? treatingId : pros[1]) : null,
                    Date = now.AddDays(-r.Next(1, 400)),
                };
                docs.Add(doc);
                var entryType = EntryTypes[r.Next(EntryTypes.Length)];
                entries.Add(new ClinicalEntry
                {
                    RecordId = recordId,
                    Id = Ids.New(),
                    ResourceType = entryType,
                    DocumentId = id,
                    CodeSystem = "urn:test",
                    Code = "C" + r.Next(5),
                    Date = doc.Date,
                    Quantity = 10,
                    Repeats = 1,
                    ValidUntil = now.AddMonths(3),
                    RequestId = null,
                    GroupId = entryType == "ExplanationOfBenefit" ? "pharmacy" : null,
                    ResourceJson = entryType == "Encounter"
                        ? FhirJson.Serialize(new Encounter { Status = Encounter.EncounterStatus.Finished, Class = new Coding("urn:test", "IMP") })
                        : "{\"resourceType\":\"" + entryType + "\"}",
                });
                results.Add(Result(recordId, id, r, now));
            }

            results.Add(Result(recordId, null, r, now));
            db.Documents.AddRange(docs);
            db.ClinicalEntries.AddRange(entries);
            db.Observations.AddRange(results);
            await db.SaveChangesAsync();
            return new SeededWorld(docs, entries, results);
        });
    }

    private static ObservationEntry Result(string recordId, string? documentId, Random r, DateTimeOffset now)
    {
        var id = Ids.New();
        return new ObservationEntry
        {
            RecordId = recordId,
            Id = id,
            CodeSystem = "http://loinc.org",
            Code = "L" + r.Next(3),
            Status = "final",
            ValueNumber = r.Next(1, 100),
            Unit = r.Next(2) == 0 ? "g/L" : "mg/dL",
            Effective = now.AddDays(-r.Next(1, 400)),
            DocumentId = documentId,
            ResourceJson = FhirJson.Serialize(new Observation { Id = id, Status = ObservationStatus.Final, Code = new CodeableConcept("http://loinc.org", "L") }),
        };
    }

    private static async Task CheckAsync(IServiceProvider sp, string recordId, Actor actor, SeededWorld world, string label)
    {
        var db = sp.GetRequiredService<DmpDbContext>();
        var guard = sp.GetRequiredService<RecordGuard>();
        var ct = CancellationToken.None;
        var facts = (await guard.FactsAsync(recordId, ct))!;

        // What the policy function itself says, document by document.
        var admitted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in world.Documents.Where(d => !d.Erased))
        {
            var request = await guard.CompleteAsync(new AccessRequest(actor, AccessAction.ReadDocument, facts, DocumentResources.Facts(d)), ct);
            if (AccessPolicy.Decide(request).Permitted)
            {
                admitted.Add(d.Id);
            }
        }

        var search = await guard.CompleteAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), ct);
        var decisionOnRecord = AccessPolicy.Decide(search);
        Assert.True(decisionOnRecord.Permitted, label);
        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), OpenDmp.Core.Audit.AuditAction.Search, "Test", null, "test", auditPermit: false, ct);
        var expectedEntries = world.Entries.Where(e => admitted.Contains(e.DocumentId)).Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        var biology = decision.Admits(ResultIntake.BiologyResult);
        var expectedResults = world.Results.Where(o => biology && (o.DocumentId is null || admitted.Contains(o.DocumentId))).Select(o => o.Id).ToHashSet(StringComparer.Ordinal);

        // The entry scope.
        var visible = await ClinicalQueries.Visible(db, recordId, null, decision).Select(e => e.Id).ToListAsync(ct);
        Assert.True(expectedEntries.SetEquals(visible), $"{label}: entries {string.Join(',', visible.Except(expectedEntries))} / missing {string.Join(',', expectedEntries.Except(visible))}");

        // Search totals, per type and for results.
        var clinical = sp.GetRequiredService<ClinicalQueries>();
        foreach (var type in ClinicalQueries.Types)
        {
            var page = await clinical.SearchAsync(type, new SearchParams([new("patient", recordId), new("_total", "accurate")]), actor, "test", ct);
            Assert.True(page.Total == world.Entries.Count(e => e.ResourceType == type && expectedEntries.Contains(e.Id)), $"{label}: _total of {type}");
        }

        var observations = sp.GetRequiredService<ObservationQueries>();
        var obsPage = await observations.SearchAsync(new SearchParams([new("patient", recordId), new("_total", "accurate"), new("_count", "100")]), actor, "test", ct);
        Assert.True(obsPage.Total == expectedResults.Count && obsPage.Hits.All(h => expectedResults.Contains(h.Id)), $"{label}: results");

        // Curves: every admitted numeric result, and no other.
        var curves = await observations.NumericSeriesAsync(recordId, actor, "test", ct);
        Assert.True(curves.Sum(c => c.Points.Count) == expectedResults.Count, $"{label}: curve points");

        // The medication list: exactly the admitted prescription lines and dispensings, each once.
        var medications = await sp.GetRequiredService<MedicationQueries>().MedicationsAsync(recordId, decision, ct);
        var sources = medications.SelectMany(m => m.Sources).Select(s => s.Id).ToList();
        var expectedMeds = world.Entries.Where(e => e.ResourceType is "MedicationRequest" or "MedicationDispense" or "MedicationStatement" or "ExplanationOfBenefit" && expectedEntries.Contains(e.Id)).Select(e => e.Id).ToHashSet(StringComparer.Ordinal);
        Assert.True(sources.Count == sources.Distinct().Count() && expectedMeds.SetEquals(sources), $"{label}: medication list");

        // The summary: nothing outside the admitted entries and results.
        var summary = await sp.GetRequiredService<PatientSummary>().BuildAsync(recordId, actor, "test", ct);
        var shown = (summary.Problems ?? []).Concat(summary.Procedures ?? []).Concat(summary.Vaccinations ?? []).Concat((summary.Stays ?? []).SelectMany(s => s.MainDiagnosis is null ? [s.Stay] : new[] { s.Stay, s.MainDiagnosis })).Select(e => e.Id);
        Assert.True(shown.Concat(summary.RecordedAllergies.Select(a => a.Id)).All(expectedEntries.Contains), $"{label}: summary entries");
        Assert.True((summary.Results ?? []).All(o => expectedResults.Contains(o.Id)), $"{label}: summary results");
        Assert.True((summary.Medications ?? []).SelectMany(m => m.Sources).All(s => expectedMeds.Contains(s.Id)), $"{label}: summary medications");
        guard.DiscardPending();
    }
}

public sealed class ClinicalVisibilityProperties_Sqlite() : ClinicalVisibilityProperties(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class ClinicalVisibilityProperties_Postgres(PostgresCluster pg) : ClinicalVisibilityProperties(new PostgresStorage(pg, "clinicalprops"));
