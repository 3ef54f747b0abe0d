using System.Text.Json;
using System.Threading.RateLimiting;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Patients;

/// <summary>Body of POST /patient/activate (with <c>representative</c>: a legal representative's account).</summary>
public sealed record ActivationRequest(string? Ins, string? Code, string? Password, string? Representative = null);

/// <summary>Body of POST /patient/login (with <c>representative</c>: a legal representative signs in; <c>device</c>: the token a previous sign-in gave this device).</summary>
public sealed record LoginRequest(string? Ins, string? Password, string? Totp, string? Representative = null, string? Device = null);

/// <summary>
/// Patient sign-in (JSON, ProblemDetails on error): activation with the one-time code, login with
/// password + TOTP giving a bearer token for the API and a session cookie for the portal, logout.
/// Login and activation are rate limited per client address.
/// </summary>
public static class PatientEndpoints
{
    public const string RateLimitPolicy = "patient-sign-in";

    public static IServiceCollection AddPatientAuth(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("PatientAuth").Get<PatientAuthOptions>() ?? new PatientAuthOptions();
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(RateLimitPolicy, ctx => RateLimitPartition.GetFixedWindowLimiter(
                ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = options.LoginPermitsPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.OnStarting(() =>
                {
                    context.HttpContext.Response.Headers.RetryAfter = "60";
                    return Task.CompletedTask;
                });
                await ErrorMappingMiddleware.WriteAsync(context.HttpContext, 429, Hl7.Fhir.Model.OperationOutcome.IssueType.Throttled, "too many sign-in attempts from this address: wait a minute", null, ErrorMappingMiddleware.Correlation(context.HttpContext));
            };
        });
        return services;
    }

    public static IEndpointRouteBuilder MapPatientAuth(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/patient");
        g.MapPost("/activate", async (HttpContext ctx, PatientAuthService auth) =>
        {
            var body = await ReadAsync<ActivationRequest>(ctx);
            var result = await auth.ActivateAsync(body.Ins, body.Code, body.Password, ctx.RequestAborted, body.Representative);
            return Results.Json(new { totpSecret = result.TotpSecret, otpauthUri = result.OtpauthUri, message = "Enregistrez ce secret dans votre application d'authentification. / Add this secret to your authenticator app." });
        }).WithMetadata(new DmpEndpoint(Requirement.Public, AuditAction.Activate)).RequireRateLimiting(RateLimitPolicy);
        g.MapPost("/login", async (HttpContext ctx, PatientAuthService auth) =>
        {
            var body = await ReadAsync<LoginRequest>(ctx);
            var login = await auth.LoginAsync(body.Ins, body.Password, body.Totp, ctx.RequestAborted, body.Representative, SignIn(ctx, body.Device));
            var (bearer, cookie) = (login.Bearer, login.Cookie);
            SetSessionCookie(ctx, cookie);
            SetDeviceCookie(ctx, login);
            return Results.Json(new
            {
                access_token = bearer.Token,
                token_type = "Bearer",
                expires_in = (int)(bearer.ExpiresAt - ctx.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow()).TotalSeconds,
                patient = login.RecordId,
                representative = login.RepresentativeId,
                device = login.DeviceToken,
            });
        }).WithMetadata(new DmpEndpoint(Requirement.Public, AuditAction.Login)).RequireRateLimiting(RateLimitPolicy);
        g.MapPost("/logout", async (HttpContext ctx, PatientAuthService auth) =>
        {
            var header = ctx.Request.Headers.Authorization.ToString();
            if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                await auth.LogoutAsync(header[7..].Trim(), ctx.RequestAborted);
            }

            if (ctx.Request.Cookies.TryGetValue(PatientAuthService.CookieName, out var c))
            {
                await auth.LogoutAsync(c, ctx.RequestAborted);
                ctx.Response.Cookies.Delete(PatientAuthService.CookieName);
            }

            return Results.NoContent();
        }).WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "ends a session: no patient data"));
        return app;
    }

    /// <summary>Where a sign-in comes from: the client's address and the device token (the body's, else the device cookie).</summary>
    public static SignInContext SignIn(HttpContext ctx, string? device = null) =>
        new(ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown", device ?? (ctx.Request.Cookies.TryGetValue(PatientAuthService.DeviceCookieName, out var c) ? c : null));

    /// <summary>Remembers this browser as a device where the person signed in (a year; HttpOnly, Secure, SameSite=Strict, sign-in paths only).</summary>
    public static void SetDeviceCookie(HttpContext ctx, PatientLogin login)
    {
        if (login.DeviceToken is { } token)
        {
            ctx.Response.Cookies.Append(PatientAuthService.DeviceCookieName, token, new CookieOptions { HttpOnly = true, Secure = true, SameSite = SameSiteMode.Strict, Path = "/patient", Expires = DateTimeOffset.UtcNow.AddYears(1), IsEssential = true });
        }
    }

    /// <summary>Sets the portal's session cookie (HttpOnly, Secure, SameSite=Strict), for the API login and the portal's sign-in page.</summary>
    public static void SetSessionCookie(HttpContext ctx, PatientSessionToken cookie) =>
        ctx.Response.Cookies.Append(PatientAuthService.CookieName, cookie.Token, new CookieOptions
        {
            HttpOnly = true,
            Secure = true,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            Expires = cookie.ExpiresAt,
        });

    /// <summary>A small JSON body of the patient API (content type, size, NUL characters and syntax checked, each with its message).</summary>
    internal static async Task<T> ReadAsync<T>(HttpContext ctx)
    {
        if (ctx.Request.ContentType?.Contains("json", StringComparison.OrdinalIgnoreCase) != true)
        {
            throw new DmpException(ErrorKind.BadRequest, "the body must be JSON (Content-Type application/json)");
        }

        BodyLimits.Apply(ctx, 16 * 1024);
        using var reader = new StreamReader(ctx.Request.Body);
        var text = await reader.ReadToEndAsync(ctx.RequestAborted);
        if (text.Contains("\\u0000", StringComparison.Ordinal) || text.Contains('\0', StringComparison.Ordinal))
        {
            throw new DmpException(ErrorKind.BadRequest, "the body holds a NUL character");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(text, JsonOptions)
                ?? throw new DmpException(ErrorKind.BadRequest, "the body is empty");
        }
        catch (JsonException ex)
        {
            throw new DmpException(ErrorKind.BadRequest, "the body is not valid JSON: " + ex.Message);
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
