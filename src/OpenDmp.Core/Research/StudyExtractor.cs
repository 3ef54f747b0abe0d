using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Research;

/// <summary>Where extracts' files are written (one folder per extract).</summary>
public sealed class ResearchFiles(string root)
{
    public string Root { get; } = root;

    public string FolderOf(string extractId) => Path.Combine(Root, extractId);

    /// <summary>The file of one resource type of an extract, or null for a name that is not one.</summary>
    public string? FileOf(string extractId, string type) =>
        StudyExtractor.Types.Contains(type, StringComparer.Ordinal) ? Path.Combine(FolderOf(extractId), type + ".ndjson") : null;
}

/// <summary>One file of an extract's manifest.</summary>
public sealed record ExtractFile(string Type, int Count);

/// <summary>
/// Runs the queued extracts of authorised studies: every record the policy admits for the study
/// (<see cref="AccessAction.IncludeInStudy"/>: authorisation in force, no opposition; masked
/// documents out) is written pseudonymised — a keyed pseudonym per study, birth year, sex and
/// département of birth only, dates to the month, no author, no title, no content — as FHIR NDJSON,
/// after a k-anonymity check over (birth year, sex, département): patients of a smaller group are
/// left out and counted. Every record included gets an entry on its chain, which its patient sees.
/// </summary>
public sealed class StudyExtractor(DmpDbContext db, RecordGuard guard, StudySecrets secrets, ResearchFiles files, ResearchOptions options, TimeProvider time)
{
    public static readonly string[] Types = ["Patient", "DocumentReference", "Observation", "Condition"];
    private const int Batch = 500;
    private static readonly JsonWriterOptions Compact = new() { Indented = false };

    /// <summary>Runs the oldest queued extract, if any; returns whether one ran.</summary>
    public async Task<bool> RunNextAsync(CancellationToken ct)
    {
        // Only the lease holder runs extracts, one at a time: one still "running" here was cut short
        // (the process stopped); its partial files go and it runs again from the start.
        foreach (var orphan in await db.ResearchExtracts.Where(e => e.Status == "running").ToListAsync(ct))
        {
            if (System.IO.Directory.Exists(files.FolderOf(orphan.Id)))
            {
                System.IO.Directory.Delete(files.FolderOf(orphan.Id), recursive: true);
            }

            orphan.Status = "queued";
        }

        await db.SaveChangesAsync(ct);
        var extract = await db.ResearchExtracts.Where(e => e.Status == "queued").OrderBy(e => e.RequestedAt).FirstOrDefaultAsync(ct);
        if (extract is null)
        {
            return false;
        }

        extract.Status = "running";
        await db.SaveChangesAsync(ct);
        var folder = files.FolderOf(extract.Id);
        try
        {
            await RunAsync(extract, folder, ct);
            extract.Status = "completed";
        }
        catch (Exception ex) when (ex is DmpException or IOException or ExtractAbandoned)
        {
            extract.Status = "failed";
            extract.Error = ex.Message;
            if (System.IO.Directory.Exists(folder))
            {
                System.IO.Directory.Delete(folder, recursive: true);
            }
        }

        extract.CompletedAt = time.GetUtcNow();
        db.ChangeTracker.Clear();
        db.ResearchExtracts.Update(extract);
        await db.SaveChangesAsync(ct);
        return true;
    }

    private async Task RunAsync(ResearchExtract extract, string folder, CancellationToken ct)
    {
        if (!options.Enabled)
        {
            throw new DmpException(ErrorKind.Forbidden, "public-health extracts are disabled on this platform (Research:Enabled)");
        }

        var study = await db.ResearchStudies.AsNoTracking().FirstAsync(s => s.Id == extract.StudyId, ct);
        var facts = StudyService.FactsOf(study);
        var secret = secrets.Find(study.Id) ?? throw new DmpException(ErrorKind.Conflict, "the study's pseudonym secret is missing (withdrawn study?)");
        var dataset = JsonSerializer.Deserialize<StudyDataset>(study.Dataset, StudyService.Json) ?? new StudyDataset();
        var actor = new Actor(ActorKind.System, "study:" + study.Id, "Étude autorisée : " + study.Name);

        // First pass: the size of each group of quasi-identifiers among the records the policy admits.
        var groups = new Dictionary<string, int>(StringComparer.Ordinal);
        var (considered, opposed) = (0, 0);
        await foreach (var (patient, admitted) in AdmittedAsync(facts, ct))
        {
            considered++;
            if (admitted is null)
            {
                opposed++;
                continue;
            }

            var key = GroupOf(patient);
            groups[key] = groups.GetValueOrDefault(key) + 1;
        }

        // Second pass: write the records of groups large enough; a choice changed in between is caught below.
        System.IO.Directory.CreateDirectory(folder);
        var writers = Types.ToDictionary(t => t, t => new NdjsonFile(Path.Combine(folder, t + ".ndjson")), StringComparer.Ordinal);
        var included = new Dictionary<string, int>(StringComparer.Ordinal);
        var suppressed = 0;
        try
        {
            await foreach (var (patient, admitted) in AdmittedAsync(facts, ct))
            {
                if (admitted is null)
                {
                    continue;
                }

                var key = GroupOf(patient);
                if (groups.GetValueOrDefault(key) < study.MinGroupSize)
                {
                    suppressed++;
                    continue;
                }

                var pseudonym = StudySecrets.Pseudonym(secret, patient.RecordId);
                await WriteRecordAsync(patient, admitted, pseudonym, secret, dataset, writers, ct);
                included[key] = included.GetValueOrDefault(key) + 1;
                await guard.AuditAsync(new AuditItem(patient.RecordId, actor, AuditAction.StudyExtract, "success", Channels.Admin, "Group", study.Id, "research", $"included in authorised study {study.Name}"), ct);
            }
        }
        finally
        {
            foreach (var w in writers.Values)
            {
                await w.DisposeAsync();
            }
        }

        if (included.Values.Any(n => n < study.MinGroupSize))
        {
            throw new ExtractAbandoned($"a patient's choice changed during the extract and a group fell below {study.MinGroupSize}: the extract was discarded; request it again");
        }

        extract.Considered = considered;
        extract.OptedOut = opposed;
        extract.Suppressed = suppressed;
        extract.Included = included.Values.Sum();
        extract.SmallestGroup = included.Count == 0 ? null : included.Values.Min();
        extract.Files = JsonSerializer.Serialize(writers.Select(w => new ExtractFile(w.Key, w.Value.Count)).ToList(), StudyService.Json);
    }

    /// <summary>The (birth year, sex, département of birth) group of a patient.</summary>
    public static string GroupOf(Patient p) => $"{p.BirthDate.Year}|{p.Sex}|{Departement(p.BirthPlace)}";

    /// <summary>The département of an INSEE place code (97x overseas, 99 abroad, "?" unknown).</summary>
    public static string Departement(string? insee) => insee switch
    {
        null or { Length: < 2 } => "?",
        _ when insee.StartsWith("97", StringComparison.Ordinal) && insee.Length >= 3 => insee[..3],
        _ => insee[..2],
    };

    /// <summary>Every patient with their decision for the study (null: refused), in batches.</summary>
    private async IAsyncEnumerable<(Patient Patient, GuardedAccess? Admitted)> AdmittedAsync(StudyFacts study, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        string? after = null;
        while (true)
        {
            var q = db.Patients.AsNoTracking().Where(p => db.Records.Any(r => r.RecordId == p.RecordId && r.Status != RecordStatus.Merged));
            if (after is not null)
            {
                q = q.Where(p => p.RecordId.CompareTo(after) > 0);
            }

            var batch = await q.OrderBy(p => p.RecordId).Take(Batch).ToListAsync(ct);
            if (batch.Count == 0)
            {
                yield break;
            }

            var facts = await guard.FactsManyAsync(batch.Select(p => p.RecordId).ToList(), ct);
            foreach (var p in batch)
            {
                if (!facts.TryGetValue(p.RecordId, out var f))
                {
                    continue;
                }

                var request = new AccessRequest(Actor.Operator, AccessAction.IncludeInStudy, f, Now: time.GetUtcNow(), Study: study);
                var decision = AccessPolicy.Decide(request);
                yield return (p, decision.Permitted ? new GuardedAccess(decision, request) : null);
            }

            after = batch[^1].RecordId;
        }
    }

    private async Task WriteRecordAsync(Patient patient, GuardedAccess access, string pseudonym, byte[] secret, StudyDataset dataset, Dictionary<string, NdjsonFile> writers, CancellationToken ct)
    {
        var subject = "Patient/" + pseudonym;
        await writers["Patient"].WriteAsync(w =>
        {
            w.WriteString("resourceType", "Patient");
            w.WriteString("id", pseudonym);
            w.WriteString("gender", patient.Sex switch { "F" => "female", "M" => "male", _ => "unknown" });
            w.WriteString("birthDate", patient.BirthDate.Year.ToString("D4", CultureInfo.InvariantCulture));
            w.WriteStartArray("extension");
            w.WriteStartObject();
            w.WriteString("url", "urn:opendmp:research:birth-departement");
            w.WriteString("valueString", Departement(patient.BirthPlace));
            w.WriteEndObject();
            w.WriteEndArray();
        }, ct);

        var recordId = patient.RecordId;
        var visible = db.Documents.AsNoTracking().Where(d => d.RecordId == recordId && !d.Erased && !d.Draft).Where(access.Scope.ToExpression());
        if (dataset.From is { } from)
        {
            var start = new DateTimeOffset(from.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            visible = visible.Where(d => d.Date >= start);
        }

        if (dataset.To is { } to)
        {
            var end = new DateTimeOffset(to.ToDateTime(TimeOnly.MaxValue), TimeSpan.Zero);
            visible = visible.Where(d => d.Date <= end);
        }

        if (dataset.Documents)
        {
            foreach (var d in await visible.OrderBy(d => d.Date).ThenBy(d => d.Id).ToListAsync(ct))
            {
                if (!access.Admits(Documents.DocumentResources.Facts(d)))
                {
                    continue;
                }

                await writers["DocumentReference"].WriteAsync(w =>
                {
                    w.WriteString("resourceType", "DocumentReference");
                    w.WriteString("id", StudySecrets.Pseudonym(secret, "document:" + d.Id));
                    w.WriteString("status", d.Status);
                    Coding(w, "type", d.TypeSystem, d.TypeCode, d.TypeDisplay);
                    if (d.ClassCode is not null)
                    {
                        w.WriteStartArray("category");
                        CodingValue(w, d.ClassSystem, d.ClassCode, d.ClassDisplay);
                        w.WriteEndArray();
                    }

                    Reference(w, "subject", subject);
                    if (d.Date is { } date)
                    {
                        w.WriteString("date", Month(date));
                    }

                    w.WriteStartArray("content");
                    w.WriteStartObject();
                    w.WriteStartObject("attachment");
                    w.WriteString("contentType", d.ContentType);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndArray();
                }, ct);
            }
        }

        var documentIds = visible.Select(d => d.Id);
        if (dataset.Results)
        {
            var codes = dataset.ResultCodes;
            var results = db.Observations.AsNoTracking().Where(o => o.RecordId == recordId && o.DocumentId != null && documentIds.Contains(o.DocumentId) && (o.Status == "final" || o.Status == "amended" || o.Status == "corrected"));
            if (codes is { Count: > 0 })
            {
                results = results.Where(o => codes.Contains(o.Code));
            }

            foreach (var o in await results.OrderBy(o => o.Effective).ThenBy(o => o.Id).ToListAsync(ct))
            {
                await writers["Observation"].WriteAsync(w =>
                {
                    w.WriteString("resourceType", "Observation");
                    w.WriteString("id", StudySecrets.Pseudonym(secret, "observation:" + o.Id));
                    w.WriteString("status", o.Status);
                    Coding(w, "code", o.CodeSystem ?? "http://loinc.org", o.Code, o.CodeDisplay);
                    Reference(w, "subject", subject);
                    if (o.Effective is { } at)
                    {
                        w.WriteString("effectiveDateTime", Month(at));
                    }

                    if (o.ValueNumber is { } v)
                    {
                        w.WriteStartObject("valueQuantity");
                        w.WriteNumber("value", v);
                        if (o.Unit is { } unit)
                        {
                            w.WriteString("unit", unit);
                        }

                        w.WriteEndObject();
                    }

                    if (o.Interpretation is { } i)
                    {
                        w.WriteStartArray("interpretation");
                        CodingValue(w, "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", i, null);
                        w.WriteEndArray();
                    }
                }, ct);
            }
        }

        if (dataset.Conditions)
        {
            var conditions = db.ClinicalEntries.AsNoTracking().Where(c => c.RecordId == recordId && c.ResourceType == "Condition" && documentIds.Contains(c.DocumentId));
            foreach (var c in await conditions.OrderBy(c => c.Date).ThenBy(c => c.Id).ToListAsync(ct))
            {
                await writers["Condition"].WriteAsync(w =>
                {
                    w.WriteString("resourceType", "Condition");
                    w.WriteString("id", StudySecrets.Pseudonym(secret, "condition:" + c.Id));
                    Coding(w, "code", c.CodeSystem, c.Code ?? "unknown", c.CodeDisplay);
                    Reference(w, "subject", subject);
                    if (c.Date is { } at)
                    {
                        w.WriteString("recordedDate", Month(at));
                    }
                }, ct);
            }
        }
    }

    private static string Month(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    private static void Reference(Utf8JsonWriter w, string name, string reference)
    {
        w.WriteStartObject(name);
        w.WriteString("reference", reference);
        w.WriteEndObject();
    }

    private static void Coding(Utf8JsonWriter w, string name, string? system, string code, string? display)
    {
        w.WriteStartObject(name);
        w.WriteStartArray("coding");
        CodingObject(w, system, code, display);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void CodingValue(Utf8JsonWriter w, string? system, string code, string? display)
    {
        w.WriteStartObject();
        w.WriteStartArray("coding");
        CodingObject(w, system, code, display);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void CodingObject(Utf8JsonWriter w, string? system, string code, string? display)
    {
        w.WriteStartObject();
        if (system is not null)
        {
            w.WriteString("system", system);
        }

        w.WriteString("code", code);
        if (display is not null)
        {
            w.WriteString("display", display);
        }

        w.WriteEndObject();
    }

    /// <summary>One NDJSON file written line by line.</summary>
    private sealed class NdjsonFile(string path) : IAsyncDisposable
    {
        private readonly FileStream _stream = new(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous);
        private readonly MemoryStream _line = new();

        public int Count { get; private set; }

        public async Task WriteAsync(Action<Utf8JsonWriter> body, CancellationToken ct)
        {
            _line.SetLength(0);
            await using (var w = new Utf8JsonWriter(_line, Compact))
            {
                w.WriteStartObject();
                body(w);
                w.WriteEndObject();
            }

            _line.WriteByte((byte)'\n');
            await _stream.WriteAsync(_line.GetBuffer().AsMemory(0, (int)_line.Length), ct);
            Count++;
        }

        public async ValueTask DisposeAsync()
        {
            await _stream.FlushAsync();
            await _stream.DisposeAsync();
            await _line.DisposeAsync();
        }
    }

    private sealed class ExtractAbandoned(string message) : Exception(message);
}
