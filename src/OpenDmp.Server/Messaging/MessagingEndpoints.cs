using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Messaging;
using OpenDmp.Server.Fhir;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Secure messaging over the professional API: $send-documents sends the documents of an ITI-65
/// bundle (with their metadata, as XDM) to professionals of the directory and optionally to the
/// patient's record; $message-status gives each recipient's status. The platform's deposit
/// certificate is public, so that any sender can encrypt for it.
/// </summary>
public static class MessagingEndpoints
{
    public static RouteGroupBuilder MapMessaging(this RouteGroupBuilder fhir)
    {
        fhir.MapPost("/$send-documents", async (HttpContext ctx, SecureMessageService s, DocumentOptions o) =>
        {
            var p = FhirJson.Parse<Parameters>(await FhirEndpoints.ReadBodyAsync(ctx, o.TransactionBytesLimit));
            var bundle = p.Parameter.FirstOrDefault(x => x.Name == "bundle")?.Resource as Bundle
                ?? throw DmpException.Invalid("parameter 'bundle' (an ITI-65 transaction Bundle) is required", "Parameters.parameter");
            var recipients = new List<string>();
            foreach (var r in p.Parameter.Where(x => x.Name == "recipient"))
            {
                var rpps = r.Value switch
                {
                    Identifier i => Rpps.FromIdentifier(i.System, i.Value),
                    FhirString str => Rpps.Validate(str.Value) is null ? str.Value : null,
                    _ => null,
                };
                recipients.Add(rpps ?? throw DmpException.Invalid("each 'recipient' is an RPPS (valueString) or an IdNatPs identifier (valueIdentifier)", "Parameters.parameter"));
            }

            var groups = p.Parameter.Where(x => x.Name == "recipient-group").Select(x => x.Value switch
            {
                ResourceReference r => References.LogicalId(r.Reference, "Group") ?? r.Reference,
                FhirString str => str.Value,
                _ => null,
            } ?? throw DmpException.Invalid("each 'recipient-group' is a Group reference or id", "Parameters.parameter")).ToList();
            var deposit = p.Parameter.FirstOrDefault(x => x.Name == "deposit")?.Value is FhirBoolean { Value: true };
            var sent = await s.SendAsync(ctx.Actor(), bundle, recipients, deposit, ctx.RequestAborted, groups);
            return FhirResults.Resource(ToParameters(sent), 202);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Send));

        fhir.MapGet("/$message-status", async (HttpContext ctx, SecureMessageService s) =>
        {
            var id = ctx.Request.Query["message"].ToString();
            if (id.Length == 0)
            {
                throw new DmpException(ErrorKind.BadRequest, "message=[id] is required (the id returned by $send-documents)");
            }

            return FhirResults.Resource(ToParameters(await s.StatusAsync(ctx.Actor(), id, ctx.RequestAborted)));
        }).WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "the sender's own message statuses: no patient data"));
        return fhir;
    }

    public static IEndpointRouteBuilder MapMessagingCertificate(this IEndpointRouteBuilder app)
    {
        app.MapGet("/messaging/deposit-certificate", (MessagingKeys keys, MessagingOptions options) =>
            options.Enabled
                ? Results.Text(keys.Platform.ExportCertificatePem() + "\n", "application/x-pem-file", Encoding.ASCII)
                : Results.Problem("secure messaging is not configured on this platform", statusCode: 404))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: no patient data"));
        return app;
    }

    private static Parameters ToParameters(SentMessage sent)
    {
        var result = new Parameters();
        result.Add("message", new FhirString(sent.Message.Id));
        result.Add("messageId", new FhirString(sent.Message.MessageId));
        result.Add("documents", new Integer(sent.Message.DocumentCount));
        foreach (var r in sent.Recipients)
        {
            var part = new Parameters.ParameterComponent { Name = "recipient" };
            part.Part.Add(new Parameters.ParameterComponent { Name = "address", Value = new FhirString(r.Address) });
            part.Part.Add(new Parameters.ParameterComponent { Name = "status", Value = new Code(r.Status) });
            part.Part.Add(new Parameters.ParameterComponent { Name = "at", Value = new FhirDateTime(r.StatusAt) });
            if (r.Detail is { } d)
            {
                part.Part.Add(new Parameters.ParameterComponent { Name = "detail", Value = new FhirString(d) });
            }

            result.Parameter.Add(part);
        }

        return result;
    }
}
