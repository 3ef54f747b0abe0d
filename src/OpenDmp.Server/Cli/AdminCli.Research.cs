using System.CommandLine;
using System.Globalization;
using OpenDmp.Core.Common;
using OpenDmp.Core.Research;

namespace OpenDmp.Server.Cli;

public static partial class AdminCli
{
    /// <summary><c>opendmp study authorise | list | revoke | extract | status</c>: public-health studies and their pseudonymised extracts.</summary>
    private static Command StudyCommand(Cli c)
    {
        var name = new Option<string>("--name") { Description = "the study's name", Required = true };
        var purpose = new Option<string>("--purpose") { Description = "its purpose, as authorised", Required = true };
        var by = new Option<string>("--authorised-by") { Description = "who authorised it (body and person)", Required = true };
        var reference = new Option<string>("--reference") { Description = "the reference of the authorising decision", Required = true };
        var until = new Option<string>("--valid-until") { Description = "YYYY-MM-DD: the last day of the authorisation", Required = true };
        var data = new Option<string>("--data-kinds") { Description = "what the study receives, comma-separated: documents, results, conditions", DefaultValueFactory = _ => "documents,results,conditions" };
        var codes = new Option<string?>("--result-codes") { Description = "LOINC codes the results are limited to, comma-separated" };
        var k = new Option<int>("--k") { Description = "smallest group of patients sharing birth year, sex and département the extract may show", DefaultValueFactory = _ => 5 };
        var authorise = new Command("authorise", "record a study's authorisation (who, purpose, dataset, validity); creates its pseudonym secret, kept apart from the database") { name, purpose, by, reference, until, data, codes, k };
        authorise.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var kinds = pr.GetValue(data)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
            if (kinds.Except(["documents", "results", "conditions"]).FirstOrDefault() is { } unknown)
            {
                throw DmpException.Invalid($"--data-kinds: '{unknown}' is not one of documents, results, conditions");
            }

            var last = DateOnly.TryParseExact(pr.GetValue(until), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d
                : throw DmpException.Invalid($"--valid-until must be YYYY-MM-DD, got '{pr.GetValue(until)}'");
            var resultCodes = pr.GetValue(codes)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var study = await sp.GetRequiredService<StudyService>().AuthoriseAsync(new StudyAuthorisation(
                pr.GetValue(name)!, pr.GetValue(purpose)!, pr.GetValue(by)!, pr.GetValue(reference)!,
                new StudyDataset(kinds.Contains("documents"), kinds.Contains("results"), kinds.Contains("conditions"), resultCodes),
                DateTimeOffset.UtcNow, new DateTimeOffset(last.ToDateTime(TimeOnly.MaxValue), TimeSpan.Zero), pr.GetValue(k)), ct);
            await c.Out.WriteLineAsync($"{study.Id}  {study.Name}: authorised until {last:yyyy-MM-dd} (k = {study.MinGroupSize})");
        }, ct)));

        var list = new Command("list", "the studies and their authorisations");
        list.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            foreach (var s in await sp.GetRequiredService<StudyService>().ListAsync(ct))
            {
                await c.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{s.Id}  {s.Name}  {(s.RevokedAt is null ? "authorised until " + s.ValidUntil.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "withdrawn")}  ({s.AuthorisedBy}, {s.Authorisation})"));
            }
        }, ct)));

        var study = new Option<string>("--study") { Description = "the study's id", Required = true };
        var revoke = new Command("revoke", "withdraw a study's authorisation: no more extracts, and its pseudonym secret is destroyed (its pseudonyms can never be linked again)") { study };
        revoke.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var s = await sp.GetRequiredService<StudyService>().RevokeAsync(pr.GetValue(study)!, ct);
            await c.Out.WriteLineAsync($"{s.Id}  {s.Name}: authorisation withdrawn, pseudonym secret destroyed");
        }, ct)));

        var extract = new Command("extract", "queue a pseudonymised extract of an authorised study (runs in the server); prints its status address and the access token to hand to the study's warehouse (shown once)") { study };
        extract.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var requested = await sp.GetRequiredService<StudyService>().RequestExtractAsync(pr.GetValue(study)!, ct);
            await c.Out.WriteLineAsync($"extract {requested.Id} queued");
            await c.Out.WriteLineAsync($"status: /research/extracts/{requested.Id}");
            await c.Out.WriteLineAsync($"token: {requested.Token}");
        }, ct)));

        var extractId = new Option<string>("--extract") { Description = "the extract's id", Required = true };
        var status = new Command("status", "an extract's state and its k-anonymity report") { extractId };
        status.SetAction((pr, ct) => Guarded(c.Err, () => WithServicesAsync(Data(pr, c), c.Overrides, async sp =>
        {
            var e = await sp.GetRequiredService<StudyService>().FindExtractAsync(pr.GetValue(extractId)!, ct) ?? throw DmpException.NotFound($"no extract {pr.GetValue(extractId)}");
            await c.Out.WriteLineAsync(StudyService.Describe(e));
        }, ct)));

        return new Command("study", "public-health studies: authorisations and pseudonymised extracts (off unless Research:Enabled)") { authorise, list, revoke, extract, status };
    }
}
