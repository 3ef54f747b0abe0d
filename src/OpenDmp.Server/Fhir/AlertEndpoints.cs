using System.Globalization;
using Hl7.Fhir.Model;
using OpenDmp.Core.Alerts;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// A professional's alerts for their software, as FHIR Communications (the focus of an alert
/// subscription's notification): the list of unacknowledged ones (GET Communication, shared with the
/// patients' notifications), one by id, and $acknowledge. Each names the patient and, for an
/// admission, the establishment — never a value; the document to open is in Communication.about.
/// </summary>
public static class AlertEndpoints
{
    public const string CategorySystem = "urn:opendmp:alert";

    public static RouteGroupBuilder MapAlerts(this RouteGroupBuilder fhir)
    {
        fhir.MapGet("/Communication/{id}", async (string id, HttpContext ctx, AlertService s) =>
            FhirResults.Resource(ToCommunication(await s.ReadAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Actor().Id, Culture(ctx))))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Read));
        fhir.MapPost("/Communication/{id}/$acknowledge", async (string id, HttpContext ctx, AlertService s) =>
        {
            await s.AcknowledgeAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, "alert acknowledged");
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Update));
        return fhir;
    }

    /// <summary>The professional's unacknowledged alerts as a searchset (GET Communication by a professional).</summary>
    public static async Task<IResult> InboxAsync(HttpContext ctx, AlertService s)
    {
        var culture = Culture(ctx);
        var actor = ctx.Actor();
        var alerts = await s.InboxAsync(actor, Channels.Api, ctx.RequestAborted);
        var hits = alerts.Select(a => new SearchHit("Communication", a.Id, FhirJson.Serialize(ToCommunication(a, actor.Id, culture)))).ToList();
        return FhirResults.SearchSet(new SearchPage(hits, 0, hits.Count, false, hits.Count), ctx.Request);
    }

    /// <summary>English when the client prefers it, French otherwise (each text in one language).</summary>
    public static CultureInfo Culture(HttpContext ctx)
    {
        var english = ctx.Request.GetTypedHeaders().AcceptLanguage.OrderByDescending(l => l.Quality ?? 1).FirstOrDefault()?.Value.Value?.StartsWith("en", StringComparison.OrdinalIgnoreCase) == true;
        return CultureInfo.GetCultureInfo(english ? "en" : "fr-FR");
    }

    private static Communication ToCommunication(AlertView a, string recipientId, CultureInfo culture)
    {
        string T(string key) => Portal.Ui.Resources.GetString(key, culture) ?? key;
        var text = a.Kind == AlertService.EmergencyAdmission
            ? string.Format(culture, T("alertmail.admission"), a.PatientName, a.OrganizationName ?? T("alerts.establishment"))
            : T("alertmail." + (a.Kind == AlertService.Measurement ? "measurement" : "result"));
        return new Communication
        {
            Id = a.Id,
            Language = culture.TwoLetterISOLanguageName,
            Status = a.AcknowledgedAt is null ? EventStatus.InProgress : EventStatus.Completed,
            Category = [new CodeableConcept(CategorySystem, a.Kind)],
            Priority = RequestPriority.Urgent,
            Subject = new ResourceReference("Patient/" + a.RecordId, a.PatientName),
            Recipient = [new ResourceReference("Practitioner/" + recipientId)],
            About = a.DocumentId is null ? [] : [new ResourceReference("DocumentReference/" + a.DocumentId)],
            SentElement = new FhirDateTime(a.CreatedAt),
            ReceivedElement = a.AcknowledgedAt is { } ack ? new FhirDateTime(ack) : null,
            Payload = [new Communication.PayloadComponent { Content = new FhirString(text) }],
        };
    }
}
