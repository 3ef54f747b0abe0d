using System.Globalization;
using Hl7.Fhir.Model;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Subscriptions;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// FHIR Subscriptions for practice software (R4 Subscriptions Backport IG): create, read, list and
/// delete one's own subscriptions, $status, and $events for software that cannot receive calls.
/// </summary>
public static class SubscriptionEndpoints
{
    private const string Own = "the professional's own subscription (no patient data; a patient filter is decided by the policy and audited in that record's chain)";

    public static RouteGroupBuilder MapSubscriptions(this RouteGroupBuilder fhir)
    {
        fhir.MapPost("/Subscription", async (HttpContext ctx, SubscriptionService s) =>
        {
            var subscription = FhirJson.Parse<Subscription>(await FhirEndpoints.ReadBodyAsync(ctx, FhirEndpoints.SmallBodyBytes));
            var created = await s.CreateAsync(subscription, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Resource(FhirJson.Serialize(created), ctx.Request, StatusCodes.Status201Created, null, $"{FhirResults.BaseUrl(ctx.Request)}/Subscription/{created.Id}");
        }).WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, Own));
        fhir.MapGet("/Subscription", async (HttpContext ctx, SubscriptionService s) =>
        {
            var items = await s.ListAsync(ctx.Actor(), ctx.RequestAborted);
            var hits = items.Select(x => new SearchHit("Subscription", x.Id!, FhirJson.Serialize(x))).ToList();
            return FhirResults.SearchSet(new SearchPage(hits, 0, hits.Count, false, hits.Count), ctx.Request);
        }).WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, Own));
        fhir.MapGet("/Subscription/{id}", async (string id, HttpContext ctx, SubscriptionService s) =>
            FhirResults.Resource(FhirJson.Serialize(SubscriptionService.ToResource(await s.OwnAsync(id, ctx.Actor(), ctx.RequestAborted))), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, Own));
        fhir.MapDelete("/Subscription/{id}", async (string id, HttpContext ctx, SubscriptionService s) =>
        {
            await s.DeleteAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return Results.NoContent();
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Delete));
        fhir.MapGet("/Subscription/{id}/$status", async (string id, HttpContext ctx, SubscriptionService s) =>
            FhirResults.Resource(await s.StatusAsync(id, ctx.Actor(), FhirResults.BaseUrl(ctx.Request), ctx.RequestAborted)))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, Own));
        fhir.MapGet("/Subscription/{id}/$events", async (string id, HttpContext ctx, SubscriptionService s) =>
        {
            var bundle = await s.EventsAsync(id, Number(ctx, "eventsSinceNumber"), Number(ctx, "eventsUntilNumber"), ctx.Actor(), Channels.Api, FhirResults.BaseUrl(ctx.Request), ctx.RequestAborted);
            return FhirResults.Resource(bundle);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Read));
        return fhir;
    }

    private static long? Number(HttpContext ctx, string name)
    {
        var v = ctx.Request.Query[name].ToString();
        if (v.Length == 0)
        {
            return null;
        }

        return long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw DmpException.Invalid($"{name} must be a non-negative integer, got '{v}'", name);
    }
}
