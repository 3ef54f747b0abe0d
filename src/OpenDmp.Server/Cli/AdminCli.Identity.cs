using System.CommandLine;
using System.Globalization;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;

namespace OpenDmp.Server.Cli;

public static partial class AdminCli
{
    /// <summary>The options that state what establishes an identity (RNIV).</summary>
    private static (Option<string?> Insi, Option<string?> Document, Option<string?> CheckedOn, Option<bool> Doubtful) IdentityOptions() => (
        new Option<string?>("--insi-recovered") { Description = "YYYY-MM-DD: the INS was recovered from (or checked against) the INSi teleservice that day" },
        new Option<string?>("--document") { Description = "the identity document of high trust checked: CN (carte nationale d'identité), PA (passeport), CS (titre de séjour), LE (livret de famille), AN (acte de naissance)" },
        new Option<string?>("--checked-on") { Description = "YYYY-MM-DD: the day the document was checked" },
        new Option<bool>("--doubtful") { Description = "the identity is doubtful: provisional until the doubt is lifted" });

    /// <summary>The evidence the options state, or null when they state nothing.</summary>
    private static IdentityEvidence? Evidence(ParseResult pr, Option<string?> insi, Option<string?> document, Option<string?> checkedOn, Option<bool> doubtful)
    {
        static DateOnly? Day(string? value, string name) => value is null ? null
            : DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d
            : throw DmpException.Invalid($"{name} must be YYYY-MM-DD, got '{value}'");
        var (i, d, c, doubt) = (pr.GetValue(insi), pr.GetValue(document), pr.GetValue(checkedOn), pr.GetValue(doubtful));
        return i is null && d is null && c is null && !doubt ? null
            : new IdentityEvidence(Day(i, "--insi-recovered"), d?.ToUpperInvariant(), Day(c, "--checked-on"), doubt);
    }

    /// <summary><c>opendmp patient identity</c>: record what establishes a patient's identity; prints the status it derives.</summary>
    private static Command IdentityCommand(Cli c)
    {
        var ins = new Option<string>("--ins") { Description = "INS of the patient (or Patient id)", Required = true };
        var system = LookupSystem();
        var (insi, document, checkedOn, doubtful) = IdentityOptions();
        var command = new Command("identity", "record what establishes a patient's identity (RNIV): INSi recovery, identity document checked, doubt; the status follows (provisional, recovered, validated, qualified) and only a qualified identity may open a record or file under the INS")
        {
            ins, system, insi, document, checkedOn, doubtful,
        };
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var records = sp.GetRequiredService<RecordService>();
            var patient = await records.RequirePatientAsync(pr.GetValue(ins)!, ct, InsSystem(pr.GetValue(system)));
            var evidence = Evidence(pr, insi, document, checkedOn, doubtful) ?? new IdentityEvidence(null, null, null);
            var updated = await records.SetIdentityAsync(patient.RecordId, evidence, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"{updated.Family} {updated.Given}: {IdentityVigilance.Display(updated.IdentityStatus)} ({IdentityVigilance.Code(updated.IdentityStatus)})");
        }, ct)));
        return command;
    }

    /// <summary><c>opendmp identity duplicates | decide</c>: the identity-vigilance review queue.</summary>
    private static Command IdentityVigilanceCommand(Cli c)
    {
        var threshold = new Option<double>("--threshold") { Description = "the score from which a pair is queued (0 to 1)", DefaultValueFactory = _ => DuplicateScoring.DefaultThreshold };
        var max = new Option<int>("--max") { Description = "how many open pairs to list", DefaultValueFactory = _ => 50 };
        var detect = new Command("duplicates", "compare every identity (blocking on strict traits, Jaro-Winkler on the names, birth date, sex, birth place); queue the possible duplicates not queued or decided before, then list the open pairs") { threshold, max };
        detect.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var t = pr.GetValue(threshold);
            if (t is <= 0 or > 1)
            {
                throw DmpException.Invalid($"--threshold is between 0 and 1, got {t.ToString(CultureInfo.InvariantCulture)}");
            }

            var queue = sp.GetRequiredService<DuplicateQueue>();
            var report = await queue.DetectAsync(t, ct);
            await c.Out.WriteLineAsync(report.ToString());
            foreach (var p in await queue.ReviewAsync(Actor.Operator, Channels.Admin, Math.Clamp(pr.GetValue(max), 1, 1000), ct))
            {
                await c.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{p.Pair.Id}  {p.Pair.Score:F3}  {Describe(p.A, p.StatusA)}  ~  {Describe(p.B, p.StatusB)}  ({p.Pair.Reasons})"));
            }
        }, ct)));

        var pair = new Option<string>("--pair") { Description = "the pair's id (from 'identity duplicates')", Required = true };
        var same = new Option<bool>("--same-person") { Description = "the two identities are one person (to merge)" };
        var different = new Option<bool>("--different-persons") { Description = "two persons (twins, namesakes): the pair is never proposed again" };
        var decide = new Command("decide", "decide a pair of the identity-vigilance queue: --same-person or --different-persons (on both records' audit chains)") { pair, same, different };
        decide.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            if (pr.GetValue(same) == pr.GetValue(different))
            {
                throw DmpException.Invalid("give --same-person or --different-persons");
            }

            var decided = await sp.GetRequiredService<DuplicateQueue>().DecideAsync(pr.GetValue(pair)!, pr.GetValue(same), Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync($"Pair {decided.Id}: {decided.Status}");
        }, ct)));
        return new Command("identity", "identity vigilance: possible duplicates, their review, merge and unmerge") { detect, decide, MergeCommand(c), UnmergeCommand(c), MergesCommand(c) };
    }

    /// <summary><c>opendmp identity merge</c>: a pair of the queue (or two identities) become one; what the merged identity held moves to the survivor.</summary>
    private static Command MergeCommand(Cli c)
    {
        var pair = new Option<string?>("--pair") { Description = "the pair of the queue to merge (decided 'same person' with it)" };
        var merged = new Option<string?>("--merged") { Description = "without --pair: the Patient id of the duplicate identity to merge" };
        var survivor = new Option<string?>("--survivor") { Description = "the Patient id that survives (default for a pair: the better identity status, then the record with more documents, then the older)" };
        var command = new Command("merge", "merge a duplicate identity into the surviving one (IHE PMIR): documents, results, authorisations and oppositions move; the merged Patient becomes inactive, replaced-by the survivor; both patients are notified; undone by 'identity unmerge'") { pair, merged, survivor };
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var merges = sp.GetRequiredService<IdentityMerges>();
            var (p, m, s) = (pr.GetValue(pair), pr.GetValue(merged), pr.GetValue(survivor));
            var report = (p, m, s) switch
            {
                ({ } id, null, _) => await merges.MergePairAsync(id, s, Actor.Operator, Channels.Admin, ct),
                (null, { } from, { } to) => await merges.MergeAsync(from, to, Actor.Operator, Channels.Admin, ct),
                _ => throw DmpException.Invalid("give --pair (and optionally --survivor), or --merged and --survivor"),
            };
            await c.Out.WriteLineAsync(report.ToString());
        }, ct)));
        return command;
    }

    /// <summary><c>opendmp identity unmerge</c>: undoes a merge.</summary>
    private static Command UnmergeCommand(Cli c)
    {
        var merge = new Option<string>("--merge") { Description = "the merge's id (from 'identity merge' or 'identity merges')", Required = true };
        var command = new Command("unmerge", "undo a merge: what moved goes back to the merged identity (unchanged resources byte for byte), which is active again; both patients are notified") { merge };
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var report = await sp.GetRequiredService<IdentityMerges>().UnmergeAsync(pr.GetValue(merge)!, Actor.Operator, Channels.Admin, ct);
            await c.Out.WriteLineAsync(report.ToString());
        }, ct)));
        return command;
    }

    /// <summary><c>opendmp identity merges</c>: the latest merges.</summary>
    private static Command MergesCommand(Cli c)
    {
        var max = new Option<int>("--max") { Description = "how many merges to list", DefaultValueFactory = _ => 50 };
        var command = new Command("merges", "list the latest merges of identities (newest first), undone ones marked") { max };
        command.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            foreach (var m in await sp.GetRequiredService<IdentityMerges>().ListAsync(Actor.Operator, Channels.Admin, Math.Clamp(pr.GetValue(max), 1, 1000), ct))
            {
                await c.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{m.Id}  {m.MergedAt:yyyy-MM-dd HH:mm}  Patient/{m.MergedId} -> Patient/{m.SurvivorId}  {m.Documents} documents{(m.UnmergedAt is { } u ? $"  undone {u:yyyy-MM-dd HH:mm}" : string.Empty)}"));
            }
        }, ct)));
        return command;
    }

    private static string Describe(IdentityTraits t, IdentityStatus s) =>
        string.Create(CultureInfo.InvariantCulture, $"{t.Family} {t.Given}, {t.BirthDate:yyyy-MM-dd}, {t.Sex}, {t.BirthPlace ?? "?"} [{IdentityVigilance.Code(s)}] Patient/{t.RecordId}");
}
