using System.Text;
using OpenDmp.Core.Common;
using OpenDmp.Core.Hl7v2;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Hl7v2;

/// <summary>
/// POST /hl7v2/adt: a hospital's ADT feed over HTTP (HL7 over HTTP, body
/// x-application/hl7-v2+er7), sent with the client certificate of a professional of the
/// establishment. The answer is always an HL7 v2.5 ACK: AA with HTTP 200 when handled (or
/// acknowledged and not used); AE/AR with the HTTP status of the refusal (400, 403, 404, 422) and
/// the reason in MSA-3 and ERR-8.
/// </summary>
public static class AdtEndpoints
{
    public const string MediaType = "x-application/hl7-v2+er7";

    public static IEndpointRouteBuilder MapAdt(this IEndpointRouteBuilder app)
    {
        app.MapPost("/hl7v2/adt", async (HttpContext ctx, AdtFeed feed) =>
        {
            Er7Message? message = null;
            AdtOutcome outcome;
            var status = StatusCodes.Status200OK;
            try
            {
                BodyLimits.Apply(ctx, Er7Message.MaxBytes);
                var type = ctx.Request.ContentType ?? string.Empty;
                if (!type.StartsWith(MediaType, StringComparison.OrdinalIgnoreCase) && !type.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase))
                {
                    throw new DmpException(ErrorKind.BadRequest, $"the body is an HL7 v2 message in ER7 (Content-Type {MediaType}), got '{type}'");
                }

                using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
                message = Er7Message.Parse(await reader.ReadToEndAsync(ctx.RequestAborted));
                outcome = await feed.HandleAsync(message, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            }
            catch (DmpException ex) when (ex.Kind is not ErrorKind.Unauthenticated)
            {
                status = ErrorMappingMiddleware.Status(ex.Kind);
                // AR: the message itself is refused (unreadable, not allowed); AE: it was read, and could not be applied.
                outcome = new AdtOutcome(message is null || ex.Kind == ErrorKind.Forbidden ? "AR" : "AE", ex.Message);
            }

            return Results.Text(feed.Acknowledge(message, outcome), MediaType + "; charset=utf-8", Encoding.UTF8, status);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, null, "ADT feed: an admission is audited by $declare-admission (grant); events not used touch no patient data", OtherCallers.Organization));
        return app;
    }
}
