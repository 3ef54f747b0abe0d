using System.Globalization;
using Hl7.Fhir.Model;
using Task = System.Threading.Tasks.Task;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.Extensions.Primitives;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Exports;
using OpenDmp.Server.Fhir;
using OpenDmp.Server.Portal;

namespace OpenDmp.Server.Exports;

/// <summary>Body of POST /patient/export (the API): the passphrase and, optionally, a part of the record.</summary>
public sealed record ExportRequest(string? Passphrase, string[]? Types = null, string[]? Classes = null, DateOnly? From = null, DateOnly? To = null);

/// <summary>
/// The patient's exports and the portable record over HTTP: the API (bearer), the patient portal's
/// forms (session cookie + antiforgery), the professional portal's form and a FHIR operation. Each
/// answer is a download (attachment, never shown from our origin); the export streams, its exact
/// length announced so that the browser shows the progress.
/// </summary>
public static partial class ExportEndpoints
{
    private const long MaxFormBytes = 64 * 1024;

    public static void MapExports(this WebApplication app)
    {
        app.MapPost("/patient/export", async (HttpContext ctx, RecordExports exports) =>
        {
            var body = await OpenDmp.Server.Patients.PatientEndpoints.ReadAsync<ExportRequest>(ctx);
            var actor = ctx.Actor();
            var prepared = await exports.PrepareAsync(actor.OwnRecordId ?? string.Empty, new ExportSelection(body.Types, body.Classes, body.From, body.To), body.Passphrase, Language(ctx), actor, Channels.Api, ctx.RequestAborted);
            await StreamAsync(ctx, exports, prepared);
            return Results.Empty;
        }).WithMetadata(new DmpEndpoint(Requirement.Patient, AuditAction.Export));

        app.MapPost("/patient/exporter/archive", async (HttpContext ctx, IAntiforgery antiforgery, RecordExports exports) =>
        {
            if (await FormAsync(ctx, antiforgery) is not { } form)
            {
                return Back("/patient/exporter", "expired");
            }

            if (form["passphrase"] != form["passphrase2"])
            {
                return Back("/patient/exporter", "mismatch");
            }

            var actor = ctx.Actor();
            PreparedExport prepared;
            try
            {
                var selection = new ExportSelection(Values(form["type"]), Values(form["class"]), DateOf(form["from"]), DateOf(form["to"]));
                prepared = await exports.PrepareAsync(actor.OwnRecordId ?? string.Empty, selection, form["passphrase"], Ui.English ? "en" : "fr", actor, Channels.Portal, ctx.RequestAborted);
            }
            catch (DmpException ex) when (ex.Kind == ErrorKind.Unprocessable)
            {
                return Back("/patient/exporter", ex.Expression switch { "passphrase" => "passphrase", "from" or "date" => "dates", _ => "size" });
            }

            await StreamAsync(ctx, exports, prepared);
            return Results.Empty;
        }).WithMetadata(new DmpEndpoint(Requirement.PortalPatient, AuditAction.Export)).DisableAntiforgery();

        app.MapPost("/patient/exporter/dossier-portable", async (HttpContext ctx, IAntiforgery antiforgery, PortableRecords portable) =>
        {
            if (await FormAsync(ctx, antiforgery) is not { } form)
            {
                return Back("/patient/exporter", "expired");
            }

            var actor = ctx.Actor();
            return await PortableAsync(ctx, portable, actor.OwnRecordId ?? string.Empty, form, "/patient/exporter");
        }).WithMetadata(new DmpEndpoint(Requirement.PortalPatient, AuditAction.PortableRecord)).DisableAntiforgery();

        app.MapPost("/pro/patients/{id}/dossier-portable", async (string id, HttpContext ctx, IAntiforgery antiforgery, PortableRecords portable) =>
        {
            var back = "/pro/patients/" + Uri.EscapeDataString(id) + "/synthese";
            if (await FormAsync(ctx, antiforgery) is not { } form)
            {
                return Back(back, "expired");
            }

            return await PortableAsync(ctx, portable, id, form, back, withNote: true);
        }).WithMetadata(new DmpEndpoint(Requirement.PortalProfessional, AuditAction.PortableRecord)).DisableAntiforgery();
    }

    /// <summary>POST /fhir/Patient/[id]/$portable-record (Parameters: code, document*) → the HTML file, as an attachment.</summary>
    public static RouteGroupBuilder MapPortableRecord(this RouteGroupBuilder fhir)
    {
        fhir.MapPost("/Patient/{id}/$portable-record", async (string id, HttpContext ctx, PortableRecords portable, DocumentOptions o) =>
        {
            var p = await ConsentEndpoints.ParametersAsync(ctx, o);
            var documents = p.Parameter.Where(x => x.Name == "document").Select(x => x.Value switch
            {
                ResourceReference r => r.Reference,
                FhirString s => s.Value,
                Id i => i.Value,
                _ => null,
            }).Select(v => v is null ? throw DmpException.Invalid("a 'document' parameter must be a Reference to DocumentReference/[id]", "document") : v.StartsWith("DocumentReference/", StringComparison.Ordinal) ? v["DocumentReference/".Length..] : v).ToList();
            var file = await portable.BuildAsync(id, ConsentEndpoints.Str(p, "code"), documents, Language(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return Download(ctx, file);
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.PortableRecord));
        return fhir;
    }

    private static async Task<IResult> PortableAsync(HttpContext ctx, PortableRecords portable, string recordId, IFormCollection form, string back, bool withNote = false)
    {
        if (form["code"] != form["code2"])
        {
            return Back(back, "code-mismatch");
        }

        try
        {
            portable.CheckCode(form["code"]);
            var documents = (Values(form["document"]) ?? []).ToList();
            if (withNote && form["note"].ToString() is { Length: > 0 } note && !string.IsNullOrWhiteSpace(note))
            {
                // The consultation note goes into the hosted record first (ITI-65: same policy, metadata rules and audit), then onto the key.
                try
                {
                    documents.Insert(0, await FileNoteAsync(ctx, recordId, note));
                }
                catch (DmpException ex) when (ex.Kind == ErrorKind.Unprocessable)
                {
                    return Back(back, "note");
                }
            }

            var file = await portable.BuildAsync(recordId, form["code"], documents, Ui.English ? "en" : "fr", ctx.Actor(), Channels.Portal, ctx.RequestAborted);
            return Download(ctx, file);
        }
        catch (DmpException ex) when (ex.Kind == ErrorKind.Unprocessable)
        {
            return Back(back, ex.Expression == "code" ? "code" : "documents");
        }
    }

    /// <summary>Files a consultation note written with the portable record, as the professional, through ITI-65.</summary>
    private static async Task<string> FileNoteAsync(HttpContext ctx, string recordId, string note)
    {
        if (note.Length > 20_000)
        {
            throw DmpException.Invalid("the consultation note holds at most 20,000 characters", "note");
        }

        var actor = ctx.Actor();
        var me = await ctx.RequestServices.GetRequiredService<OpenDmp.Core.Access.ConsentService>().ResolveProfessionalAsync(actor.Id, ctx.RequestAborted);
        var rpps = me.Rpps ?? throw DmpException.Invalid("a professional without an RPPS number cannot author a document", "author");
        var doc = new DocumentToSubmit(System.Text.Encoding.UTF8.GetBytes(note.Trim()), "text/plain", "Note de consultation (dossier portable)", "11488-4", "10", "urn:ihe:iti:xds-sd:text:2008");
        var bundle = SubmissionBuilder.Build("Patient/" + recordId, rpps, actor.Display, [doc]);
        var response = await ctx.RequestServices.GetRequiredService<ProvideDocumentBundle>().HandleAsync(bundle, actor, Channels.Portal, ctx.RequestAborted);
        return response.Entry.Select(e => e.Response?.Location).First(l => l?.StartsWith("DocumentReference/", StringComparison.Ordinal) == true)!.Split('/')[1];
    }

    private static IResult Download(HttpContext ctx, PortableFile file)
    {
        // A file to save on the key, never a page of our origin: attachment, no sniffing, sandboxed if opened anyway.
        ctx.Response.Headers.CacheControl = "no-store";
        ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
        ctx.Response.Headers.ContentSecurityPolicy = "sandbox; default-src 'none'";
        return Results.File(file.Html, "application/octet-stream", PortableFile.FileName);
    }

    private static async Task StreamAsync(HttpContext ctx, RecordExports exports, PreparedExport prepared)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = prepared.Length;
        ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"{prepared.FileName}\"";
        ctx.Response.Headers.CacheControl = "no-store";
        ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
        try
        {
            await exports.WriteAsync(prepared, ctx.Response.Body, ctx.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The head is gone: the download is cut (age refuses a file without its last chunk), and the cause logged without data.
            LogInterrupted(ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("OpenDmp.Exports"), ex.GetType().Name);
            ctx.Abort();
        }
    }

    private static async Task<IFormCollection?> FormAsync(HttpContext ctx, IAntiforgery antiforgery)
    {
        if (!ctx.Request.HasFormContentType)
        {
            throw new DmpException(ErrorKind.BadRequest, "a form is expected (application/x-www-form-urlencoded)");
        }

        BodyLimits.Apply(ctx, MaxFormBytes);
        return await antiforgery.IsRequestValidAsync(ctx) ? await ctx.Request.ReadFormAsync(ctx.RequestAborted) : null;
    }

    private static IResult Back(string page, string error) => Results.Redirect(page + "?erreur=" + error);

    private static string[]? Values(StringValues values)
    {
        var list = values.Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => v!.Trim()).Take(500).ToArray();
        return list.Length == 0 ? null : list;
    }

    private static DateOnly? DateOf(StringValues value) =>
        string.IsNullOrWhiteSpace(value) ? null
        : DateOnly.TryParseExact(value.ToString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d
        : throw DmpException.Invalid($"'{value}' is not a date (yyyy-MM-dd)", "date");

    private static string Language(HttpContext ctx) =>
        ctx.Request.Headers.AcceptLanguage.ToString().StartsWith("en", StringComparison.OrdinalIgnoreCase) ? "en" : "fr";

    [LoggerMessage(Level = LogLevel.Error, Message = "An export was interrupted after its start ({ExceptionType})")]
    private static partial void LogInterrupted(ILogger logger, string exceptionType);
}
