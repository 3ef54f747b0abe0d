using System.Text.RegularExpressions;
using Microsoft.Net.Http.Headers;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Security headers on every response (set when the response starts, unless the endpoint set its
/// own): no MIME sniffing, no referrer, HTTPS only (HSTS), not framable by other sites, a restrictive
/// Content-Security-Policy (the portal's pages run no script), isolation from other origins, and no
/// caching of anything that may hold health data.
/// </summary>
public sealed class SecurityHeadersMiddleware(RequestDelegate next)
{
    /// <summary>The portal pages: one inline stylesheet, images and frames from the platform only, forms posting to it, no script at all.</summary>
    public const string PageCsp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    public Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(static state =>
        {
            var headers = ((HttpContext)state).Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.StrictTransportSecurity = "max-age=31536000; includeSubDomains";
            headers["Cross-Origin-Opener-Policy"] = "same-origin";
            headers["Cross-Origin-Resource-Policy"] = "same-origin";
            headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()";
            if (!headers.ContainsKey(HeaderNames.XFrameOptions))
            {
                headers.XFrameOptions = "DENY";
            }

            if (!headers.ContainsKey(HeaderNames.ContentSecurityPolicy))
            {
                headers.ContentSecurityPolicy = PageCsp;
            }

            if (!headers.ContainsKey(HeaderNames.CacheControl))
            {
                headers.CacheControl = "no-store";
            }

            return Task.CompletedTask;
        }, context);
        return next(context);
    }
}

/// <summary>
/// How stored document content leaves the platform (ITI-68 and the portal's content view): it never
/// runs as the application. Every content response carries a sandbox CSP (no script, no plugin, a
/// unique origin), nosniff and no-store; only PDF, raster images and plain text may be shown inline,
/// everything else (HTML, SVG, XML, unknown types) is an attachment; the declared media type is
/// re-checked and replaced by application/octet-stream when it is not a plain type/subtype.
/// </summary>
public static partial class SafeContent
{
    /// <summary>Content a browser may display inline from the platform's origin (no active content).</summary>
    private static readonly HashSet<string> InlineTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
    };

    /// <summary>
    /// Sets the headers of a content response and returns the media type to send; with
    /// <paramref name="framable"/>, the platform's own pages may frame the content (the portal's PDF view).
    /// </summary>
    public static string Prepare(HttpResponse response, string declaredType, string id, bool framable)
    {
        var type = MediaType(declaredType);
        var inline = InlineTypes.Contains(type.Split(';')[0]);
        response.Headers.ContentSecurityPolicy = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors " + (framable ? "'self'" : "'none'");
        response.Headers.XFrameOptions = framable ? "SAMEORIGIN" : "DENY";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentDisposition = new ContentDispositionHeaderValue(inline ? "inline" : "attachment") { FileName = FileName(id, type) }.ToString();
        return type;
    }

    /// <summary>A syntactically plain media type (type/subtype, optional charset), else application/octet-stream.</summary>
    public static string MediaType(string? declared)
    {
        if (string.IsNullOrWhiteSpace(declared))
        {
            return "application/octet-stream";
        }

        var parts = declared.Split(';', StringSplitOptions.TrimEntries);
        if (!Token().IsMatch(parts[0]))
        {
            return "application/octet-stream";
        }

        var type = parts[0].ToLowerInvariant();
        var charset = parts.Skip(1).Select(p => p.Split('=', 2, StringSplitOptions.TrimEntries)).FirstOrDefault(kv => kv.Length == 2 && kv[0].Equals("charset", StringComparison.OrdinalIgnoreCase))?[1].Trim('"');
        if (charset is not null && Charset().IsMatch(charset))
        {
            return $"{type}; charset={charset.ToLowerInvariant()}";
        }

        return type == "text/plain" ? "text/plain; charset=utf-8" : type;
    }

    private static string FileName(string id, string type)
    {
        var ext = type.Split(';')[0] switch
        {
            "application/pdf" => ".pdf",
            "image/png" => ".png",
            "image/jpeg" => ".jpg",
            "image/gif" => ".gif",
            "image/webp" => ".webp",
            "text/plain" => ".txt",
            "text/html" => ".html",
            "image/svg+xml" => ".svg",
            var t when t.EndsWith("xml", StringComparison.Ordinal) => ".xml",
            _ => ".bin",
        };
        var safeId = new string(id.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.').Take(64).ToArray());
        return (safeId.Length == 0 ? "document" : safeId) + ext;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")]
    private static partial Regex Token();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")]
    private static partial Regex Charset();
}

/// <summary>
/// Refuses, before any handler, a request whose path or query holds a control character (NUL and
/// the other C0 characters never belong in an identifier or a search value; PostgreSQL refuses NUL
/// outright): a 400 that names the parameter.
/// </summary>
public sealed class InputSanityMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (HasControl(context.Request.Path.Value))
        {
            throw new OpenDmp.Core.Common.DmpException(OpenDmp.Core.Common.ErrorKind.BadRequest, "the request path holds a control character");
        }

        foreach (var (key, values) in context.Request.Query)
        {
            if (HasControl(key) || values.Any(HasControl))
            {
                throw new OpenDmp.Core.Common.DmpException(OpenDmp.Core.Common.ErrorKind.BadRequest, $"the parameter '{Printable(key)}' holds a control character");
            }
        }

        // Portal forms: the same for every text field (a multipart upload's files are not text).
        if (context.Request.HasFormContentType)
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            foreach (var (key, values) in form)
            {
                if (HasControl(key) || values.Any(v => v is not null && v.Any(c => c < ' ' && c is not '\r' and not '\n' and not '\t')))
                {
                    throw new OpenDmp.Core.Common.DmpException(OpenDmp.Core.Common.ErrorKind.BadRequest, $"the form field '{Printable(key)}' holds a control character");
                }
            }
        }

        await next(context);
    }

    private static bool HasControl(string? s) => s is not null && s.Any(c => c < ' ' || c == '\u007f');

    private static string Printable(string s) => new(s.Where(c => c >= ' ' && c != '\u007f').Take(64).ToArray());
}
