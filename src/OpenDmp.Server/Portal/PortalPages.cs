using System.Net;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Localization;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Server.Fhir;
using OpenDmp.Server.Patients;

namespace OpenDmp.Server.Portal;

/// <summary>
/// The portals' plumbing outside Razor components: language switch, document content for inline
/// display, sign-out, and the HTML answer given to a browser without a valid certificate.
/// </summary>
public static class PortalPages
{
    public static IServiceCollection AddPortals(this IServiceCollection services)
    {
        services.AddRazorComponents();
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "opendmp_af";
            o.Cookie.SecurePolicy = CookieSecurePolicy.Always;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        return services;
    }

    public static WebApplication UsePortals(this WebApplication app)
    {
        app.UseRequestLocalization(o =>
        {
            string[] cultures = ["fr-FR", "en"];
            o.SetDefaultCulture("fr-FR").AddSupportedCultures(cultures).AddSupportedUICultures(cultures);
            o.RequestCultureProviders = [new QueryStringRequestCultureProvider(), new CookieRequestCultureProvider()];
        });
        return app;
    }

    public static void MapPortals(this WebApplication app)
    {
        // The natural guess of a newcomer: the sign-in API answers POST; a browser goes to the sign-in page.
        app.MapGet("/patient/login", () => Results.Redirect("/patient/connexion"))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: redirect to the sign-in page"));

        // A page that does not exist: a page with links for a browser, ProblemDetails for a program.
        app.MapFallback(NotFoundAsync).WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: not-found page"));

        app.MapGet("/langue", (HttpContext ctx, string? c, string? retour) =>
        {
            var culture = c == "en" ? "en" : "fr-FR";
            ctx.Response.Cookies.Append(CookieRequestCultureProvider.DefaultCookieName, CookieRequestCultureProvider.MakeCookieValue(new RequestCulture(culture)),
                new CookieOptions { Expires = DateTimeOffset.UtcNow.AddYears(1), Secure = true, HttpOnly = true, SameSite = SameSiteMode.Lax, IsEssential = true, Path = "/" });
            return Results.Redirect(LocalUrl(retour));
        }).WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: no patient data"));

        app.MapGet("/portail/contenu/{id}", async (string id, HttpContext ctx, DocumentQueries documents) =>
        {
            var actor = ctx.Actor();
            try
            {
                var (doc, bytes) = await documents.RetrieveAsync(id, actor, Channels.Portal, ctx.RequestAborted);
                // Framable by the portal's own document page (PDF view); never active content.
                var type = OpenDmp.Server.Hosting.SafeContent.Prepare(ctx.Response, doc.ContentType, id, framable: true);
                return Results.Bytes(bytes, type);
            }
            catch (DmpException ex) when (ex.Kind is ErrorKind.NotFound or ErrorKind.Forbidden or ErrorKind.Gone)
            {
                return Results.Content(Page(Ui.T("content.unavailable.title"), Ui.T("content.unavailable")), "text/html; charset=utf-8", statusCode: 404);
            }
        }).WithMetadata(new DmpEndpoint(Requirement.PortalAny, AuditAction.Retrieve));

        // A link document (PACS study, hospital record): the retrieval is decided and audited, then the browser goes there.
        app.MapGet("/portail/lien/{id}", async (string id, HttpContext ctx, DocumentQueries documents) =>
        {
            try
            {
                var (doc, bytes) = await documents.RetrieveAsync(id, ctx.Actor(), Channels.Portal, ctx.RequestAborted);
                if (!ExternalLinks.IsLink(doc.ContentType))
                {
                    return Results.Redirect("/portail/contenu/" + Uri.EscapeDataString(id));
                }

                ctx.Response.Headers.CacheControl = "no-store";
                ctx.Response.Headers["Referrer-Policy"] = "no-referrer";
                return Results.Redirect(ExternalLinks.Parse(bytes).AbsoluteUri);
            }
            catch (DmpException ex) when (ex.Kind is ErrorKind.NotFound or ErrorKind.Forbidden or ErrorKind.Gone or ErrorKind.Unprocessable)
            {
                return Results.Content(Page(Ui.T("content.unavailable.title"), Ui.T("content.unavailable")), "text/html; charset=utf-8", statusCode: 404);
            }
        }).WithMetadata(new DmpEndpoint(Requirement.PortalAny, AuditAction.Retrieve));

        // The agenda as an iCalendar file, for the patient's own calendar application.
        app.MapGet("/patient/agenda.ics", async (HttpContext ctx, OpenDmp.Core.Reminders.ReminderService reminders) =>
        {
            var calendar = await reminders.CalendarAsync(ctx.Actor(), Channels.Portal, ctx.RequestAborted);
            ctx.Response.Headers.CacheControl = "no-store";
            return Results.File(System.Text.Encoding.UTF8.GetBytes(calendar), "text/calendar; charset=utf-8", "agenda.ics");
        }).WithMetadata(new DmpEndpoint(Requirement.PortalPatient, AuditAction.Read));

        app.MapGet("/patient/historique/preuve", async (HttpContext ctx, OpenDmp.Core.Audit.AuditProofs proofs) =>
        {
            var actor = ctx.Actor();
            return FhirEndpoints.AuditProofResult(await proofs.BuildAsync(actor.OwnRecordId ?? string.Empty, actor, Channels.Portal, ctx.RequestAborted), actor.OwnRecordId ?? "dossier");
        }).WithMetadata(new DmpEndpoint(Requirement.PortalPatient, AuditAction.Read));

        app.MapPost("/patient/deconnexion", async (HttpContext ctx, IAntiforgery antiforgery, PatientAuthService auth) =>
        {
            if (!await antiforgery.IsRequestValidAsync(ctx))
            {
                return Results.Content(Page(Ui.T("logout.title"), Ui.T("logout.expired")), "text/html; charset=utf-8", statusCode: 400);
            }

            if (ctx.Request.Cookies.TryGetValue(PatientAuthService.CookieName, out var cookie))
            {
                await auth.LogoutAsync(cookie, ctx.RequestAborted);
            }

            ctx.Response.Cookies.Delete(PatientAuthService.CookieName, new CookieOptions { Path = "/", Secure = true, SameSite = SameSiteMode.Strict });
            return Results.Redirect("/patient/connexion?sortie=1");
        }).WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "ends a session: no patient data")).DisableAntiforgery();

        // Pages declare their requirement with [PortalPage]; the framework's own redirect endpoint
        // (used by enhanced navigation, which these pages do not use) only follows data-protected URLs.
        app.MapRazorComponents<App>().Add(b =>
        {
            if (b is RouteEndpointBuilder r && r.RoutePattern.RawText?.StartsWith("/_framework/", StringComparison.Ordinal) == true)
            {
                b.Metadata.Add(DmpEndpoint.Exempt(Requirement.Public, "public: no patient data"));
            }
        });
    }

    /// <summary>
    /// A local path to go back to, or "/": one leading slash, then printable ASCII only (no control
    /// character, space or backslash, which browsers drop or turn into "/" — "/\t/evil.example" would
    /// become "//evil.example"), bounded length. Never another site, never a header injection.
    /// </summary>
    public static string LocalUrl(string? url)
    {
        if (string.IsNullOrEmpty(url) || url.Length > 2048 || url[0] != '/' || (url.Length > 1 && url[1] == '/'))
        {
            return "/";
        }

        foreach (var c in url)
        {
            if (c is <= ' ' or >= '\u007f' or '\\')
            {
                return "/";
            }
        }

        return url;
    }

    private static readonly string[] CertificateSteps = ["pro.nocert.step1", "pro.nocert.step2", "pro.nocert.step3", "pro.nocert.step4"];

    /// <summary>
    /// The answer to a browser that reached the professional space without a valid certificate: why,
    /// in the person's language, and the steps to get and import a certificate (the demo's included).
    /// </summary>
    public static async Task WriteUnauthenticatedAsync(HttpContext context, string reason)
    {
        context.Response.StatusCode = 401;
        context.Response.ContentType = "text/html; charset=utf-8";
        var why = reason.Contains("is required", StringComparison.Ordinal) ? Ui.T("pro.nocert.none") : Ui.T("pro.nocert.refused");
        var steps = string.Concat(CertificateSteps.Select(k => $"<li>{WebUtility.HtmlEncode(Ui.T(k))}</li>"));
        await context.Response.WriteAsync(Page(Ui.T("pro.nocert.title"),
            $"<p>{WebUtility.HtmlEncode(Ui.T("pro.nocert"))}</p><p><strong>{WebUtility.HtmlEncode(why)}</strong></p><h2>{WebUtility.HtmlEncode(Ui.T("pro.nocert.how"))}</h2><ol>{steps}</ol>"));
    }

    /// <summary>404 for a path that is no page: HTML with the portals' addresses for a browser, ProblemDetails otherwise.</summary>
    private static async Task NotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = 404;
        if (!context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
        {
            await Results.Problem(statusCode: 404, title: "Not Found", detail: $"no page or endpoint {context.Request.Path}; the FHIR API is under /fhir (see /fhir/metadata)").ExecuteAsync(context);
            return;
        }

        context.Response.ContentType = "text/html; charset=utf-8";
        var links = string.Concat(new[] { ("/", "notfound.home"), ("/patient", "nav.patient"), ("/pro", "nav.pro"), ("/fhir/metadata", "notfound.api") }
            .Select(l => $"<li><a href=\"{l.Item1}\">{WebUtility.HtmlEncode(Ui.T(l.Item2))}</a></li>"));
        await context.Response.WriteAsync(Page(Ui.T("notfound.title"), $"<p>{WebUtility.HtmlEncode(Ui.T("notfound.text"))}</p><ul>{links}</ul>"));
    }

    /// <summary>A page of its own (outside the Blazor layout), styled like the portals, in the person's language.</summary>
    private static string Page(string title, string bodyHtml) =>
        $"<!DOCTYPE html><html lang=\"{Ui.Lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{WebUtility.HtmlEncode(title)} — OpenDMP</title>"
        + "<style>body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f6f6}header{background:#000091;color:#fff;padding:.8rem 1.5rem;font-weight:bold}"
        + "main{max-width:46rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px}h1{font-size:1.6rem}h2{font-size:1.2rem}li{margin:.4rem 0}a{color:#000091}</style></head>"
        + $"<body><header>OpenDMP</header><main><h1>{WebUtility.HtmlEncode(title)}</h1>{bodyHtml}<p><a href=\"/\">{WebUtility.HtmlEncode(Ui.T("notfound.home"))}</a></p></main></body></html>";
}
