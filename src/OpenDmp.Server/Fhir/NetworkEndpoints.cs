using Hl7.Fhir.Model;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Networks;
using static OpenDmp.Server.Fhir.ConsentEndpoints;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// Network records over FHIR operations on the patient: enrolment with consent and withdrawal
/// (a member or the patient), the network's documents for the patient (list, read, add), and the
/// publication of one into the national record. Every call goes through the policy and the
/// patient's audit chain (<see cref="NetworkRecords"/>).
/// </summary>
public static class NetworkEndpoints
{
    /// <summary>A network document's body: 5 MiB of content in base64 and the Parameters around it.</summary>
    private const long MaxAddBytes = (NetworkRecords.MaxContentBytes / 3 * 4) + (64 * 1024);

    public static RouteGroupBuilder MapNetworks(this RouteGroupBuilder fhir)
    {
        fhir.MapPost("/Patient/{id}/$network-enrol", async (string id, HttpContext ctx, NetworkRecords n, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            var e = await n.EnrolAsync(id, Network(p), Bool(p, "consent") ?? false, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var result = new Parameters();
            result.Add("enrolment", new Id(e.Id));
            result.Add("network", new ResourceReference("Group/" + e.NetworkId));
            result.Add("enrolled", new FhirDateTime(e.EnrolledAt));
            return FhirResults.Resource(result, 201);
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.NetworkEnrol));

        fhir.MapPost("/Patient/{id}/$network-withdraw", async (string id, HttpContext ctx, NetworkRecords n, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            await n.WithdrawAsync(id, Network(p), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, "the patient's enrolment in the network ended: its members have no right on this patient any more");
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.NetworkWithdraw));

        fhir.MapGet("/Patient/{id}/$network-record", async (string id, string? network, HttpContext ctx, NetworkRecords n) =>
        {
            var networkId = Required(network, "network");
            var items = await n.ListAsync(id, networkId, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var baseUrl = FhirResults.BaseUrl(ctx.Request);
            var bundle = new Bundle { Type = Bundle.BundleType.Collection, Total = items.Count };
            foreach (var item in items)
            {
                bundle.Entry.Add(new Bundle.EntryComponent { Resource = ToDocumentReference(id, networkId, item, baseUrl) });
            }

            return FhirResults.Resource(bundle);
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));

        fhir.MapGet("/Patient/{id}/$network-document", async (string id, string? network, string? document, HttpContext ctx, NetworkRecords n) =>
        {
            var (item, content) = await n.ReadAsync(id, Required(network, "network"), Required(document, "document"), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return Results.Bytes(content, OpenDmp.Server.Hosting.SafeContent.Prepare(ctx.Response, item.ContentType, item.Id, framable: false));
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Retrieve));

        fhir.MapPost("/Patient/{id}/$network-record", async (string id, HttpContext ctx, NetworkRecords n, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o, MaxAddBytes);
            var data = p.Parameter.FirstOrDefault(x => x.Name == "content")?.Value as Base64Binary
                ?? throw DmpException.Invalid("parameter content (valueBase64Binary) is required", "Parameters.parameter:content");
            var item = await n.AddAsync(id, Network(p), Str(p, "kind") ?? "coordination", Str(p, "title") ?? string.Empty, Str(p, "contentType") ?? string.Empty,
                data.Value ?? [], ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Resource(ToDocumentReference(id, Network(p), item, FhirResults.BaseUrl(ctx.Request)), 201);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Create));

        fhir.MapPost("/Patient/{id}/$network-publish", async (string id, HttpContext ctx, NetworkRecords n, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            var published = await n.PublishAsync(id, Network(p), Required(Str(p, "document"), "document"), Str(p, "type"), Str(p, "class"), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var result = new Parameters();
            result.Add("document", new ResourceReference("DocumentReference/" + published));
            return FhirResults.Resource(result, 201);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Create));
        return fhir;
    }

    private static string Network(Parameters p) => Required(References.LogicalId(Str(p, "network") ?? string.Empty, "Group") ?? Str(p, "network"), "network");

    private static string Required(string? value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw DmpException.Invalid($"parameter {name} is required", name) : value;

    /// <summary>A network document as a DocumentReference of the network's space (not of the national record: no XDS metadata).</summary>
    private static DocumentReference ToDocumentReference(string recordId, string networkId, NetworkItem item, string baseUrl)
    {
        var doc = new DocumentReference
        {
            Id = item.Id,
            Status = DocumentReferenceStatus.Current,
            Type = new CodeableConcept { Text = item.Kind },
            Subject = new ResourceReference("Patient/" + recordId),
            Date = item.CreatedAt,
            Author = [new ResourceReference { Display = item.AuthorDisplay }],
            Description = item.Title,
            Custodian = new ResourceReference("Group/" + networkId) { Display = "network" },
            Content =
            [
                new DocumentReference.ContentComponent
                {
                    Attachment = new Attachment
                    {
                        ContentType = item.ContentType, Size = item.Size, Title = item.Title,
                        Url = $"{baseUrl}/Patient/{recordId}/$network-document?network={Uri.EscapeDataString(networkId)}&document={item.Id}",
                    },
                },
            ],
        };
        if (item.PublishedDocumentId is { } published)
        {
            doc.RelatesTo.Add(new DocumentReference.RelatesToComponent { Code = DocumentRelationshipType.Transforms, Target = new ResourceReference("DocumentReference/" + published) });
        }

        return doc;
    }
}
