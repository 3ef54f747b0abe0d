using Hl7.Fhir.Model;
using Microsoft.AspNetCore.Http.Features;
using OpenDmp.Core.Common;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// One mapping from failures to HTTP: OperationOutcome under /fhir, RFC 9457 ProblemDetails
/// elsewhere. Expected failures say what is wrong; unexpected ones are a 500 with no internals.
/// Every error carries the request's correlation id (OperationOutcome.id, ProblemDetails
/// correlationId), which the operator finds in the logs. Nothing about the request body is logged.
/// </summary>
public sealed partial class ErrorMappingMiddleware(RequestDelegate next, ILogger<ErrorMappingMiddleware> logger)
{
    public async System.Threading.Tasks.Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (DmpException ex) when (!context.Response.HasStarted)
        {
            var correlation = Correlation(context);
            LogRejected(logger, context.Request.Method, context.Request.Path, ex.Kind, correlation);
            await WriteAsync(context, Status(ex.Kind), IssueType(ex.Kind), ex.Message, ex.Expression, correlation, ex.RetryAfter);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            var message = ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"the request body is larger than the server accepts here: at most {limit} bytes (documents: Documents:MaxTransactionBytes)"
                : "the request could not be read: " + ex.Message;
            await WriteAsync(context, ex.StatusCode, ex.StatusCode == 413 ? OperationOutcome.IssueType.TooLong : OperationOutcome.IssueType.Structure, message, null, Correlation(context));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // Client went away.
        }
        catch (Exception ex) when (!context.Response.HasStarted && OpenDmp.Core.Storage.DatabaseFailures.IsUnavailable(ex))
        {
            // A failover (or an outage): nothing was done that the client must know of; it retries.
            OpenDmp.Core.Common.DmpTelemetry.DatabaseUnavailable.Add(1);
            var correlation = Correlation(context);
            LogUnavailable(logger, ex.GetType().Name, correlation);
            await WriteAsync(context, 503, OperationOutcome.IssueType.Transient, "the database is not available at the moment (a switch-over to a standby takes a few seconds): retry", null, correlation, TimeSpan.FromSeconds(2));
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            var correlation = Correlation(context);
            LogFailure(logger, ex.GetType().Name, correlation, context.Request.Method, context.Request.Path, ex);
            await WriteAsync(context, 500, OperationOutcome.IssueType.Exception, $"internal error; quote correlation id {correlation} to the operator", null, correlation);
        }
    }

    /// <summary>The request's correlation id, in the form a FHIR id allows (letters, digits, '-', '.').</summary>
    public static string Correlation(HttpContext context) => context.TraceIdentifier.Replace(':', '-');

    public static int Status(ErrorKind kind) => kind switch
    {
        ErrorKind.BadRequest => 400,
        ErrorKind.Unauthenticated => 401,
        ErrorKind.Forbidden => 403,
        ErrorKind.NotFound => 404,
        ErrorKind.MethodNotAllowed => 405,
        ErrorKind.Conflict => 409,
        ErrorKind.Gone => 410,
        ErrorKind.TooLarge => 413,
        ErrorKind.TooManyRequests => 429,
        ErrorKind.Unavailable => 503,
        _ => 422,
    };

    private static OperationOutcome.IssueType IssueType(ErrorKind kind) => kind switch
    {
        ErrorKind.BadRequest => OperationOutcome.IssueType.Structure,
        ErrorKind.Unauthenticated => OperationOutcome.IssueType.Login,
        ErrorKind.Forbidden => OperationOutcome.IssueType.Forbidden,
        ErrorKind.NotFound => OperationOutcome.IssueType.NotFound,
        ErrorKind.MethodNotAllowed => OperationOutcome.IssueType.NotSupported,
        ErrorKind.Conflict => OperationOutcome.IssueType.Conflict,
        ErrorKind.Gone => OperationOutcome.IssueType.Deleted,
        ErrorKind.TooLarge => OperationOutcome.IssueType.TooLong,
        ErrorKind.TooManyRequests => OperationOutcome.IssueType.Throttled,
        ErrorKind.Unavailable => OperationOutcome.IssueType.Transient,
        _ => OperationOutcome.IssueType.Invalid,
    };

    public static async System.Threading.Tasks.Task WriteAsync(HttpContext context, int status, OperationOutcome.IssueType type, string message, string? expression, string? correlation = null, TimeSpan? retryAfter = null)
    {
        context.Response.Clear();
        if (retryAfter is { } wait)
        {
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (context.Request.Path.StartsWithSegments("/xds"))
        {
            // XDS.b callers read SOAP faults.
            await OpenDmp.Server.Xds.XdsEndpoints.WriteFaultAsync(context, status, message, sender: status < 500, subcode: status == 401 ? "wsse:FailedAuthentication" : null);
            return;
        }

        if (context.Request.Path.StartsWithSegments("/fhir"))
        {
            await FhirResults.Outcome(status, type, message, expression, correlation).ExecuteAsync(context);
            return;
        }

        await Results.Problem(detail: message, statusCode: status, extensions: correlation is null ? null : new Dictionary<string, object?> { ["correlationId"] = correlation }).ExecuteAsync(context);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Rejected {Method} {Path}: {Kind} (correlation {Correlation})")]
    private static partial void LogRejected(ILogger logger, string method, PathString path, ErrorKind kind, string correlation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database unavailable ({ExceptionType}, correlation {Correlation}): answered 503")]
    private static partial void LogUnavailable(ILogger logger, string exceptionType, string correlation);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled {ExceptionType} (correlation {Correlation}) on {Method} {Path}")]
    private static partial void LogFailure(ILogger logger, string exceptionType, string correlation, string method, PathString path, Exception ex);
}

/// <summary>Request-body limits: the server-wide one (the largest, ITI-65) and a smaller one per endpoint.</summary>
public static class BodyLimits
{
    /// <summary>Sets this request's body limit (bytes); a larger body is a 413 naming the limit.</summary>
    public static void Apply(HttpContext context, long maxBodyBytes)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } f)
        {
            f.MaxRequestBodySize = maxBodyBytes;
        }
    }
}
