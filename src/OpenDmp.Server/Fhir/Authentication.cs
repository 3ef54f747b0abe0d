using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// Certificate holders other than health professionals that an endpoint admits where it requires a
/// professional: none unless declared (deny by default), and then the policy decides what they may do.
/// </summary>
[Flags]
public enum OtherCallers
{
    None = 0,
    /// <summary>A staff member's card, acting for a professional who declared them.</summary>
    Staff = 1,
    /// <summary>An establishment's system (organisation certificate).</summary>
    Organization = 2,
}

/// <summary>Who may call an endpoint.</summary>
public enum Requirement
{
    /// <summary>Anyone (CapabilityStatement, health probes, landing page).</summary>
    Public,
    /// <summary>A professional authenticated by a client certificate of the platform's CA (mutual TLS).</summary>
    Professional,
    /// <summary>An authenticated patient (bearer token from POST /patient/login).</summary>
    Patient,
    /// <summary>Either: a patient when a bearer token is presented, else a professional.</summary>
    ProfessionalOrPatient,
    /// <summary>A portal page of the patient space: the session cookie (state changes are protected by antiforgery); else a redirect to the sign-in page.</summary>
    PortalPatient,
    /// <summary>A portal page of the professional space: the client certificate (CPS model); else a 401 page that says so.</summary>
    PortalProfessional,
    /// <summary>Portal content shown to either: the patient's session cookie if present, else the client certificate.</summary>
    PortalAny,
}

/// <summary>Declares the access requirement of a portal page (Razor component); the page's endpoint gets it as metadata.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class PortalPageAttribute(Requirement requirement) : Attribute
{
    public Requirement Requirement { get; } = requirement;

    /// <summary>A page shows and changes patient data only through the Core services, each audited: the request check makes sure of it.</summary>
    public DmpEndpoint ToEndpoint() => new(Requirement, null, "portal page: audited by the Core services it calls");
}

/// <summary>
/// Declared on every endpoint: who may call it, and the audit action a successful call writes
/// (<see cref="AuditEnforcementMiddleware"/> checks it on every request), or — for endpoints that
/// touch no patient data — the reviewed reason why none is written.
/// </summary>
public sealed record DmpEndpoint(Requirement Requirement, AuditAction? Audit, string? Exemption = null, OtherCallers Also = OtherCallers.None, AuditAction[]? OrAudit = null)
{
    /// <summary>Whether an entry with <paramref name="action"/> fulfils the declaration (<see cref="Audit"/>, or one of <see cref="OrAudit"/> for an endpoint whose request says which change it makes).</summary>
    public bool Declares(AuditAction action) => Audit == action || (OrAudit?.Contains(action) ?? false);

    /// <summary>An endpoint that writes no audit entry, with the reason (reviewed: it touches no patient data).</summary>
    public static DmpEndpoint Exempt(Requirement requirement, string reason) => new(requirement, null, reason);

    public override string ToString() => $"{Requirement}, audit {(Audit is { } a ? a.Code() : "none: " + Exemption)}";
}

/// <summary>
/// Authenticates professionals from the TLS client certificate: it must chain to the platform's CA,
/// be valid now, allow client authentication and carry "8"+RPPS of a professional of the directory.
/// Endpoints without a declared requirement are refused (deny by default).
/// </summary>
public sealed class ProfessionalAuthenticationMiddleware(RequestDelegate next, IMemoryCache cache, TimeProvider time, OpenDmp.Core.Pki.RevocationList revocations)
{
    public const string ActorKey = "opendmp.actor";

    private X509Certificate2? _ca;

    public async System.Threading.Tasks.Task InvokeAsync(HttpContext context, DataDirectory data)
    {
        var endpoint = context.GetEndpoint();
        if (endpoint is null)
        {
            await next(context);
            return;
        }

        var declared = endpoint.Metadata.GetMetadata<DmpEndpoint>() ?? endpoint.Metadata.GetMetadata<PortalPageAttribute>()?.ToEndpoint();
        if (declared is null)
        {
            // Routing's own answer to a known path with another method carries no declaration: a 405 that says so.
            if (endpoint.DisplayName?.StartsWith("405 ", StringComparison.Ordinal) == true)
            {
                throw new DmpException(ErrorKind.MethodNotAllowed, $"{context.Request.Method} is not accepted on {context.Request.Path}" + (context.Request.Path.StartsWithSegments("/fhir") ? "; see /fhir/metadata" : string.Empty));
            }

            throw new DmpException(ErrorKind.Forbidden, "this endpoint declares no access requirement and is refused");
        }

        switch (declared.Requirement)
        {
            case Requirement.Public:
                await next(context);
                return;
            case Requirement.PortalPatient:
                {
                    var patient = await PortalPatientAsync(context);
                    if (patient is null)
                    {
                        context.Response.Redirect("/patient/connexion?retour=" + Uri.EscapeDataString(context.Request.Path + context.Request.QueryString));
                        return;
                    }

                    context.Items[ActorKey] = patient;
                    await next(context);
                    return;
                }

            case Requirement.PortalProfessional:
            case Requirement.PortalAny:
                {
                    var actor = declared.Requirement == Requirement.PortalAny ? await PortalPatientAsync(context) : null;
                    try
                    {
                        actor ??= await ProfessionalAsync(context, data, declared);
                    }
                    catch (DmpException ex) when (ex.Kind == ErrorKind.Unauthenticated)
                    {
                        await Portal.PortalPages.WriteUnauthenticatedAsync(context, ex.Message);
                        return;
                    }

                    context.Items[ActorKey] = actor;
                    await next(context);
                    return;
                }
        }

        if (declared.Requirement is Requirement.Patient or Requirement.ProfessionalOrPatient)
        {
            var patient = await PatientOfRequestAsync(context);
            if (patient is not null)
            {
                context.Items[ActorKey] = patient;
                await next(context);
                return;
            }

            if (declared.Requirement == Requirement.Patient)
            {
                throw new DmpException(ErrorKind.Unauthenticated, "a patient session is required: log in with POST /patient/login and send the token as 'Authorization: Bearer …'");
            }
        }

        context.Items[ActorKey] = await ProfessionalAsync(context, data, declared);
        await next(context);
    }

    /// <summary>Who a certificate of the platform's CA designates: a professional, a staff member or an establishment.</summary>
    private sealed record Holder(Actor? Professional, OpenDmp.Core.Directory.StaffMember? Staff, Actor? Organization);

    /// <summary>
    /// The actor of the TLS client certificate: a professional; or, where the endpoint admits them, a
    /// staff member acting for a professional or an establishment's system. A 401 (DmpException) when
    /// there is no valid certificate, a 403 when its holder may not use this endpoint.
    /// </summary>
    private async Task<Actor> ProfessionalAsync(HttpContext context, DataDirectory data, DmpEndpoint declared)
    {
        var cert = context.Connection.ClientCertificate ?? await context.Connection.GetClientCertificateAsync(context.RequestAborted);
        if (cert is null)
        {
            throw new DmpException(ErrorKind.Unauthenticated, "a client certificate (CPS) issued by the OpenDMP certification authority is required (mutual TLS)");
        }

        // Checked on every request, not cached: a connection opened before a revocation ends with it.
        if (revocations.Check(cert) is { } revoked)
        {
            throw new DmpException(ErrorKind.Unauthenticated, $"the client certificate may no longer be used: {revoked}");
        }

        var holder = await cache.GetOrCreateAsync("cert:" + cert.Thumbprint, async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(1);
            _ca ??= X509CertificateLoader.LoadCertificateFromFile(data.CaCertificate);
            if (!TestCertificateAuthority.IsIssuedBy(cert, _ca, time.GetUtcNow()))
            {
                return null;
            }

            var found = await HolderAsync(context, cert);
            if (found is not null)
            {
                // Every certificate that authenticates is in the registry: it can be revoked by serial and listed in the CRL.
                await context.RequestServices.GetRequiredService<OpenDmp.Core.Pki.CertificateService>().RegisterAsync(cert, context.RequestAborted);
            }

            return found;
        });
        if (holder is null)
        {
            cache.Remove("cert:" + cert.Thumbprint);
            throw new DmpException(ErrorKind.Unauthenticated, "the client certificate is not a valid OpenDMP certificate (unknown issuer, expired, wrong usage, or no professional of the directory — nor staff member or establishment — with its identifier)");
        }

        var vihf = context.Request.Headers[VihfAuthentication.Header].ToString();
        if (vihf.Length > 0)
        {
            // A structure's software asserts the acting professional; the answer is that professional, through the structure.
            return holder.Organization is { } structure
                ? await context.RequestServices.GetRequiredService<VihfAuthentication>().ActorAsync(vihf, cert, structure, context.RequestAborted)
                : throw new DmpException(ErrorKind.Unauthenticated, $"VIHF refused: a VIHF ({VihfAuthentication.Header}) is presented with the structure's organisation certificate; a professional's own card needs none");
        }

        if (holder.Professional is { } professional)
        {
            return professional;
        }

        if (holder.Staff is { } staff)
        {
            if (!declared.Also.HasFlag(OtherCallers.Staff))
            {
                throw new DmpException(ErrorKind.Forbidden, "a staff card finds patients, files documents for the professional it works for and reads the authorisation status; this needs a health professional's card");
            }

            return await context.RequestServices.GetRequiredService<OpenDmp.Core.Directory.StaffService>()
                .ActorAsync(staff, context.Request.Headers[OpenDmp.Core.Directory.StaffService.OnBehalfOfHeader].ToString(), context.RequestAborted);
        }

        return declared.Also.HasFlag(OtherCallers.Organization)
            ? holder.Organization!
            : throw new DmpException(ErrorKind.Forbidden, "an establishment's certificate declares admissions and their care teams and finds patients; this needs a health professional's card");
    }

    private static async Task<Holder?> HolderAsync(HttpContext context, X509Certificate2 cert)
    {
        var db = context.RequestServices.GetRequiredService<DmpDbContext>();
        if (TestCertificateAuthority.RppsOf(cert) is { } rpps)
        {
            var p = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps, context.RequestAborted);
            return p is null ? null : new Holder(new Actor(ActorKind.Professional, p.Id, p.DisplayName, p.ProfessionCode, Specialty: p.SpecialtyCode), null, null);
        }

        if (TestCertificateAuthority.StaffIdentifierOf(cert) is { } identifier)
        {
            var staff = await context.RequestServices.GetRequiredService<OpenDmp.Core.Directory.StaffService>().FindActiveAsync(identifier, context.RequestAborted);
            return staff is null ? null : new Holder(null, staff, null);
        }

        if (TestCertificateAuthority.FinessOf(cert) is { } finess)
        {
            var o = await db.Organizations.AsNoTracking().FirstOrDefaultAsync(x => x.Finess == finess, context.RequestAborted);
            return o is null ? null : new Holder(null, null, new Actor(ActorKind.Organization, o.Id, o.Name));
        }

        return null;
    }

    /// <summary>The patient (or legal representative) of the portal's session cookie, on any method (portal forms carry an antiforgery token).</summary>
    private static async Task<Actor?> PortalPatientAsync(HttpContext context)
    {
        if (!context.Request.Cookies.TryGetValue(OpenDmp.Server.Patients.PatientAuthService.CookieName, out var cookie) || cookie.Length == 0)
        {
            return null;
        }

        var auth = context.RequestServices.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>();
        return await auth.AuthenticateAsync(cookie, "cookie", context.RequestAborted);
    }

    /// <summary>
    /// A bearer token, on any method. The portal's session cookie is not accepted by the API: the
    /// portal serves its own pages and content (/portail/contenu, sandboxed), so a document opened
    /// from the API can never act with the patient's browser session. A presented but invalid token
    /// is a 401, never a fallback to another identity.
    /// </summary>
    private static async Task<Actor?> PatientOfRequestAsync(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var token = header[7..].Trim();
        if (token.StartsWith("dev_", StringComparison.Ordinal))
        {
            // A connected device's token: the policy lets it record measurements and nothing else.
            return await context.RequestServices.GetRequiredService<OpenDmp.Core.SelfMonitoring.SelfMonitoringService>().DeviceActorAsync(token, context.RequestAborted)
                ?? throw new DmpException(ErrorKind.Unauthenticated, "the device token is unknown or was revoked by the patient");
        }

        var auth = context.RequestServices.GetRequiredService<OpenDmp.Server.Patients.PatientAuthService>();
        return await auth.AuthenticateAsync(token, "bearer", context.RequestAborted)
            ?? throw new DmpException(ErrorKind.Unauthenticated, "the bearer token is unknown or expired: log in again");
    }
}

public static class HttpContextActorExtensions
{
    /// <summary>The authenticated actor; endpoints requiring a professional always have one.</summary>
    public static Actor Actor(this HttpContext context) =>
        context.Items[ProfessionalAuthenticationMiddleware.ActorKey] as Actor
        ?? throw new DmpException(ErrorKind.Unauthenticated, "not authenticated");
}
