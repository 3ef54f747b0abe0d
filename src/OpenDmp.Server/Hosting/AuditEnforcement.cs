using System.Collections.Concurrent;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Hosting;

/// <summary>Requests that ended without the audit their declaration or their use of patient data requires.</summary>
public sealed class AuditEnforcement
{
    private readonly ConcurrentQueue<string> _violations = new();

    public IReadOnlyCollection<string> Violations => _violations;

    internal void Add(string violation) => _violations.Enqueue(violation);
}

/// <summary>
/// The declaration drives the audit (design: every patient-data path audited by construction). Each
/// request gets a <see cref="RequestAuditLog"/>; at its end:
/// <list type="bullet">
/// <item>an endpoint declared with an action (<see cref="DmpEndpoint.Audit"/>) that succeeds (2xx)
/// must have appended an entry with that action;</item>
/// <item>any request that read or wrote a table holding patient data and ended in a success or a
/// policy answer (403, 404, 410) must have appended at least one entry, whatever its declaration.</item>
/// </list>
/// A violation is logged as critical and kept in <see cref="AuditEnforcement"/>: the test servers
/// fail every test whose requests broke the rule. It also carries out the obligations of the
/// request's permits when a success starts.
/// </summary>
public sealed partial class AuditEnforcementMiddleware(RequestDelegate next, AuditEnforcement enforcement, ILogger<AuditEnforcementMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var log = RequestAuditLog.Begin();
        // The obligations of the request's permits (patient notifications) are carried out when a
        // success is about to be sent, before the response leaves: a refused request notifies no one.
        context.Response.OnStarting(async () =>
        {
            if (log.HasObligations && context.Response.StatusCode < 400)
            {
                await context.RequestServices.GetRequiredService<OpenDmp.Core.Access.RecordGuard>().FulfilPendingAsync(context.RequestAborted);
            }
        });
        try
        {
            int status;
            try
            {
                await next(context);
                status = context.Response.StatusCode;
            }
            catch (DmpException ex)
            {
                Check(context, log, ErrorMappingMiddleware.Status(ex.Kind));
                throw;
            }

            Check(context, log, status);
        }
        finally
        {
            RequestAuditLog.End();
        }
    }

    private void Check(HttpContext context, RequestAuditLog log, int status)
    {
        var declared = context.GetEndpoint() is { } endpoint
            ? endpoint.Metadata.GetMetadata<DmpEndpoint>() ?? endpoint.Metadata.GetMetadata<PortalPageAttribute>()?.ToEndpoint()
            : null;
        string? violation = null;
        var success = status is >= 200 and < 300;
        var decided = success || status is 403 or 404 or 410;
        if (declared?.Audit is { } action && success && !log.Entries.Any(e => declared.Declares(e.Action)))
        {
            violation = $"declared audit action '{action.Code()}' was not written";
        }
        else if (log.TouchedPatientData && decided && log.Entries.Count == 0)
        {
            violation = "patient data was read or written without any audit entry";
        }

        if (violation is null)
        {
            return;
        }

        var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path.Value ?? "?";
        enforcement.Add($"{context.Request.Method} {route} → {status}: {violation}");
        LogViolation(logger, context.Request.Method, route, status, violation);
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "Audit rule broken by {Method} {Route} ({Status}): {Violation}")]
    private static partial void LogViolation(ILogger logger, string method, string route, int status, string violation);
}
