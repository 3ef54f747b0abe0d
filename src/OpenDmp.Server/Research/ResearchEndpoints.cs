using System.Text.Json;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Research;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Research;

/// <summary>
/// The FHIR Bulk Data side of public-health extracts, for the study's warehouse: the status of an
/// extract (202 while it runs, then the manifest with its k-anonymity report), its NDJSON files,
/// and their deletion. Each call presents the extract's own access token (handed over by the
/// operator) and is traced on the platform's chain; the inclusion of each record was traced on
/// that record's chain when the extract was made.
/// </summary>
public static class ResearchEndpoints
{
    public static void MapResearch(this WebApplication app)
    {
        var g = app.MapGroup("/research/extracts");
        g.MapGet("/{id}", async (string id, HttpContext ctx, StudyService studies, RecordGuard guard) =>
        {
            var extract = await RequireAsync(id, ctx, studies);
            await TraceAsync(guard, extract, "status", ctx);
            return extract.Status switch
            {
                "queued" or "running" => InProgress(ctx, extract),
                "failed" => Results.Problem(statusCode: 422, title: "The extract failed", detail: extract.Error),
                _ => Results.Json(Manifest(ctx, extract), contentType: "application/json"),
            };
        }).WithMetadata(new DmpEndpoint(Requirement.Public, AuditAction.StudyExtract));

        g.MapGet("/{id}/{file}", async (string id, string file, HttpContext ctx, StudyService studies, RecordGuard guard, ResearchFiles files) =>
        {
            var extract = await RequireAsync(id, ctx, studies);
            var type = file.EndsWith(".ndjson", StringComparison.Ordinal) ? file[..^".ndjson".Length] : file;
            if (extract.Status != "completed" || files.FileOf(extract.Id, type) is not { } path || !File.Exists(path))
            {
                throw DmpException.NotFound($"the extract has no file {file} (see its manifest)");
            }

            await TraceAsync(guard, extract, "download " + type, ctx);
            ctx.Response.Headers.CacheControl = "no-store";
            return Results.File(path, "application/fhir+ndjson", type + ".ndjson");
        }).WithMetadata(new DmpEndpoint(Requirement.Public, AuditAction.StudyExtract));

        g.MapDelete("/{id}", async (string id, HttpContext ctx, StudyService studies, RecordGuard guard, ResearchFiles files) =>
        {
            var extract = await RequireAsync(id, ctx, studies);
            if (Directory.Exists(files.FolderOf(extract.Id)))
            {
                Directory.Delete(files.FolderOf(extract.Id), recursive: true);
            }

            await TraceAsync(guard, extract, "files deleted", ctx);
            return Results.StatusCode(202);
        }).WithMetadata(new DmpEndpoint(Requirement.Public, AuditAction.StudyExtract));
    }

    private static async Task<ResearchExtract> RequireAsync(string id, HttpContext ctx, StudyService studies)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
        return await studies.AuthorisedExtractAsync(id, token, ctx.RequestAborted)
            ?? throw new DmpException(ErrorKind.Unauthenticated, "this extract needs its access token (Authorization: Bearer), as the operator handed it over");
    }

    private static Task TraceAsync(RecordGuard guard, ResearchExtract extract, string what, HttpContext ctx) =>
        guard.AuditAsync(new AuditItem(null, new Actor(ActorKind.System, "warehouse:" + extract.StudyId, "Entrepôt de l'étude"), AuditAction.StudyExtract, "success", Channels.Api, "Group", extract.StudyId, "research", $"extract {extract.Id}: {what} from {ctx.Connection.RemoteIpAddress}"), ctx.RequestAborted);

    private static IResult InProgress(HttpContext ctx, ResearchExtract extract)
    {
        ctx.Response.Headers["X-Progress"] = extract.Status == "queued" ? "queued" : "running";
        ctx.Response.Headers.RetryAfter = "5";
        return Results.StatusCode(202);
    }

    private static object Manifest(HttpContext ctx, ResearchExtract extract)
    {
        var baseUrl = $"{ctx.Request.Scheme}://{ctx.Request.Host}/research/extracts/{extract.Id}/";
        var outputs = JsonSerializer.Deserialize<List<ExtractFile>>(extract.Files ?? "[]", StudyService.Json) ?? [];
        return new
        {
            transactionTime = extract.CompletedAt,
            request = $"{ctx.Request.Scheme}://{ctx.Request.Host}/research/extracts/{extract.Id}",
            requiresAccessToken = true,
            output = outputs.Where(o => o.Count > 0).Select(o => new { type = o.Type, url = baseUrl + o.Type + ".ndjson", count = o.Count }),
            error = Array.Empty<object>(),
            extension = new
            {
                study = extract.StudyId,
                considered = extract.Considered,
                included = extract.Included,
                optedOut = extract.OptedOut,
                suppressedBelowK = extract.Suppressed,
                smallestGroup = extract.SmallestGroup,
                quasiIdentifiers = new[] { "birth year", "sex", "département of birth" },
            },
        };
    }
}

/// <summary>Runs the queued extracts (one instance at a time: lease "research-extracts"), when extracts are enabled.</summary>
public sealed partial class ResearchExtractService(IServiceProvider services, ResearchOptions options, OpenDmp.Core.Storage.JobLeader leader, ILogger<ResearchExtractService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.PollSeconds));
        do
        {
            try
            {
                await using var lease = await leader.TryAcquireAsync("research-extracts", stoppingToken);
                if (lease is not null)
                {
                    bool ran;
                    do
                    {
                        using var scope = services.CreateScope();
                        ran = await scope.ServiceProvider.GetRequiredService<StudyExtractor>().RunNextAsync(stoppingToken);
                    }
                    while (ran && !stoppingToken.IsCancellationRequested);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.GetType().Name, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Research extract round failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
