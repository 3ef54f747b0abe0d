using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Records;

namespace OpenDmp.Server.Fhir;

/// <summary>The FHIR R4 API under /fhir: IHE MHD (ITI-65/66/67/68), PDQm (ITI-78), mCSD directory, results.</summary>
public static class FhirEndpoints
{
    private static readonly DmpEndpoint Public = DmpEndpoint.Exempt(Requirement.Public, "public: no patient data");

    /// <summary>A read a staff member may ask: the policy answers it, permitting only what their professional let them read.</summary>
    private static DmpEndpoint StaffMayAsk(Requirement requirement, AuditAction action) => new(requirement, action, Also: OtherCallers.Staff);

    public static IEndpointRouteBuilder MapFhir(this IEndpointRouteBuilder app)
    {
        var fhir = app.MapGroup("/fhir");

        fhir.MapGet("/metadata", (HttpRequest r, OpenDmp.Core.Terminologies.TerminologyCatalog t) => FhirResults.Resource(CapabilityStatementBuilder.Build(FhirResults.BaseUrl(r), t.Current)))
            .WithMetadata(Public);

        // ITI-65 Provide Document Bundle (transaction).
        fhir.MapPost("/", async (HttpContext ctx, ProvideDocumentBundle handler, DocumentOptions options, TransactionGate gate) =>
        {
            using var slot = await gate.EnterAsync(ctx);
            var bundle = FhirJson.Parse<Bundle>(await ReadBodyAsync(ctx, options.TransactionBytesLimit));
            var response = await handler.HandleAsync(bundle, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Resource(response);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Create, Also: OtherCallers.Staff));

        // ITI-105 Simplified Publish: one DocumentReference with its document inline; a CDA needs no other metadata.
        fhir.MapPost("/DocumentReference", async (HttpContext ctx, SimplifiedPublish handler, DocumentOptions options, TransactionGate gate) =>
        {
            using var slot = await gate.EnterAsync(ctx);
            var doc = FhirJson.Parse<DocumentReference>(await ReadBodyAsync(ctx, options.TransactionBytesLimit));
            var (id, json) = await handler.HandleAsync(doc, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Resource(json, ctx.Request, StatusCodes.Status201Created, "1", $"{FhirResults.BaseUrl(ctx.Request)}/DocumentReference/{id}/_history/1");
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Create, Also: OtherCallers.Staff));

        // PDQm.
        fhir.MapGet("/Patient", async (HttpContext ctx, PatientQueries q) =>
            FhirResults.SearchSet(await q.SearchAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Search, Also: OtherCallers.Staff | OtherCallers.Organization));
        fhir.MapGet("/Patient/{id}", async (string id, HttpContext ctx, PatientQueries q) =>
            FhirResults.Resource(await q.ReadAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Read, Also: OtherCallers.Staff | OtherCallers.Organization));

        // Directory (mCSD subset).
        fhir.MapGet("/Practitioner", async (HttpContext ctx, DirectoryQueries q) =>
            FhirResults.SearchSet(await q.SearchPractitionersAsync(Params(ctx), ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/Practitioner/{id}", async (string id, HttpContext ctx, DirectoryQueries q) =>
            FhirResults.Resource(await q.ReadPractitionerAsync(id, ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/Organization", async (HttpContext ctx, DirectoryQueries q) =>
            FhirResults.SearchSet(await q.SearchOrganizationsAsync(Params(ctx), ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/PractitionerRole", async (HttpContext ctx, DirectoryQueries q) =>
            FhirResults.SearchSet(await q.SearchPractitionerRolesAsync(Params(ctx), ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/PractitionerRole/{id}", async (string id, HttpContext ctx, DirectoryQueries q) =>
            FhirResults.Resource(await q.ReadPractitionerRoleAsync(id, ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/Location", async (HttpContext ctx, DirectoryQueries q) =>
            FhirResults.SearchSet(await q.SearchLocationsAsync(Params(ctx), ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/Location/{id}", async (string id, HttpContext ctx, DirectoryQueries q) =>
            FhirResults.Resource(await q.ReadLocationAsync(id, ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        // A group practice and its current members: shown to the patient before a group declaration (its meta.versionId is sent back).
        fhir.MapGet("/Group/{id}", async (string id, HttpContext ctx, DirectoryQueries q) =>
            FhirResults.Resource(await q.ReadGroupAsync(id, ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));
        fhir.MapGet("/Organization/{id}", async (string id, HttpContext ctx, DirectoryQueries q) =>
            FhirResults.Resource(await q.ReadOrganizationAsync(id, ctx.RequestAborted), ctx.Request))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Professional, "reference data (directory): no patient data"));

        // ITI-67 Find Document References, read, patch, erase, delete.
        fhir.MapGet("/DocumentReference", async (HttpContext ctx, DocumentQueries q) =>
            FhirResults.SearchSet(await q.SearchDocumentsAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(StaffMayAsk(Requirement.ProfessionalOrPatient, AuditAction.Search));
        fhir.MapGet("/DocumentReference/{id}", async (string id, HttpContext ctx, DocumentQueries q) =>
            FhirResults.Resource(await q.ReadDocumentAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(StaffMayAsk(Requirement.ProfessionalOrPatient, AuditAction.Read));
        fhir.MapGet("/DocumentReference/{id}/_history/{vid}", async (string id, string vid, HttpContext ctx, DocumentQueries q) =>
            VersionRead("DocumentReference", id, vid, await q.ReadDocumentAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(StaffMayAsk(Requirement.ProfessionalOrPatient, AuditAction.Read));
        fhir.MapPatch("/DocumentReference/{id}", async (string id, HttpContext ctx, DocumentQueries q) =>
        {
            var patch = FhirJson.Parse<Parameters>(await ReadBodyAsync(ctx, SmallBodyBytes));
            return FhirResults.Resource(await q.PatchStatusAsync(id, patch, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Replace));
        fhir.MapPost("/DocumentReference/{id}/$erase", async (string id, HttpContext ctx, DocumentQueries q) =>
        {
            await q.EraseAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"DocumentReference/{id} erased: hidden from everyone, kept for medico-legal purposes");
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Erase));
        fhir.MapDelete("/DocumentReference/{id}", async (string id, HttpContext ctx, DocumentQueries q) =>
        {
            await q.DeleteAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return Results.NoContent();
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Delete));

        // ITI-66 Find Lists.
        fhir.MapGet("/List", async (HttpContext ctx, DocumentQueries q) =>
            FhirResults.SearchSet(await q.SearchListsAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Search));
        fhir.MapGet("/List/{id}", async (string id, HttpContext ctx, DocumentQueries q) =>
            FhirResults.Resource(await q.ReadListAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Read));
        fhir.MapGet("/List/{id}/_history/{vid}", async (string id, string vid, HttpContext ctx, DocumentQueries q) =>
            VersionRead("List", id, vid, await q.ReadListAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Read));

        // ITI-68 Retrieve Document: the exact bytes (or a Binary resource when FHIR JSON is asked for).
        fhir.MapGet("/Binary/{id}", async (string id, HttpContext ctx, DocumentQueries q) =>
        {
            var (doc, bytes) = await q.RetrieveAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var accept = ctx.Request.Headers.Accept.ToString();
            var format = ctx.Request.Query["_format"].ToString();
            if (accept.Contains("application/fhir+json", StringComparison.OrdinalIgnoreCase) || format is "json" or "application/fhir+json")
            {
                return FhirResults.Resource(new Binary { Id = id, ContentType = doc.ContentType, Data = bytes });
            }

            // The exact bytes, never as active content of the platform's origin (SafeContent).
            ctx.Response.Headers.ETag = $"W/\"{doc.VersionId}\"";
            return Results.Bytes(bytes, OpenDmp.Server.Hosting.SafeContent.Prepare(ctx.Response, doc.ContentType, id, framable: false));
        }).WithMetadata(StaffMayAsk(Requirement.ProfessionalOrPatient, AuditAction.Retrieve));

        fhir.MapGet("/Observation", async (HttpContext ctx, ObservationQueries q) =>
            FhirResults.SearchSet(await q.SearchAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));
        // A professional files a result; the patient (bearer session) or the patient's device (device
        // token) records a self-monitoring measurement, tagged patient-entered.
        fhir.MapPost("/Observation", async (HttpContext ctx, ResultIntake intake, OpenDmp.Core.SelfMonitoring.SelfMonitoringService monitoring) =>
        {
            var o = FhirJson.Parse<Observation>(await ReadBodyAsync(ctx, SmallBodyBytes));
            var actor = ctx.Actor();
            if (actor.Kind != ActorKind.Professional)
            {
                var (code, value, effective) = OpenDmp.Core.SelfMonitoring.MeasurementFhir.Parse(o);
                var recorded = await monitoring.RecordAsync(code, value, effective, actor, Channels.Api, ctx.RequestAborted);
                var stored = OpenDmp.Core.SelfMonitoring.MeasurementFhir.ToObservation(recorded.Measurement);
                return FhirResults.Resource(FhirJson.Serialize(stored), ctx.Request, StatusCodes.Status201Created, "1", $"{FhirResults.BaseUrl(ctx.Request)}/Observation/{stored.Id}/_history/1");
            }

            var (id, json) = await intake.CreateAsync(o, actor, Channels.Api, ctx.RequestAborted);
            return FhirResults.Resource(json, ctx.Request, StatusCodes.Status201Created, "1", $"{FhirResults.BaseUrl(ctx.Request)}/Observation/{id}/_history/1");
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Create));

        // Medications (ADR 0018): prescription lines and dispensings are filed with their document through ITI-65.
        fhir.MapGet("/MedicationRequest", async (HttpContext ctx, MedicationQueries q) =>
            FhirResults.SearchSet(await q.SearchRequestsAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));
        fhir.MapGet("/MedicationRequest/{id}", async (string id, HttpContext ctx, MedicationQueries q) =>
            FhirResults.Resource(await q.ReadRequestAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Read));

        // The prescription identifier as a QR code (SVG) for the paper copy.
        fhir.MapGet("/MedicationRequest/{id}/$qr-code", async (string id, HttpContext ctx, MedicationQueries q) =>
        {
            var identifier = await q.PrescriptionIdentifierAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var svg = OpenDmp.Server.Portal.QrCodes.Svg(identifier, "Ordonnance " + identifier);
            return Results.Text("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg, OpenDmp.Server.Hosting.SafeContent.Prepare(ctx.Response, "image/svg+xml", "ordonnance-" + identifier, framable: false), Encoding.UTF8);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Read));
        fhir.MapGet("/MedicationDispense", async (HttpContext ctx, MedicationQueries q) =>
            FhirResults.SearchSet(await q.SearchDispensesAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));
        fhir.MapGet("/MedicationDispense/{id}", async (string id, HttpContext ctx, MedicationQueries q) =>
            FhirResults.Resource(await q.ReadDispenseAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Read));

        // The medication list: each medication once, with its sources.
        fhir.MapGet("/MedicationStatement", async (HttpContext ctx, MedicationQueries q) =>
            FhirResults.SearchSet(await q.MedicationListAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));
        fhir.MapGet("/MedicationStatement/{id}", async (string id, HttpContext ctx, MedicationQueries q) =>
            FhirResults.Resource(await q.ReadStatementAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Read));

        // Stays, diagnoses, acts, vaccinations: filed with their letter through ITI-65, seen with it.
        foreach (var type in ClinicalQueries.Types)
        {
            fhir.MapGet("/" + type, async (HttpContext ctx, ClinicalQueries q) =>
                FhirResults.SearchSet(await q.SearchAsync(type, Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
                .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));
            fhir.MapGet("/" + type + "/{id}", async (string id, HttpContext ctx, ClinicalQueries q) =>
                FhirResults.Resource(await q.ReadAsync(type, id, ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
                .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Read));
        }

        // The synthesis, one click: an IPS-shaped document under the caller's rights.
        fhir.MapGet("/Patient/{id}/$summary", async (string id, HttpContext ctx, PatientSummary summary) =>
            FhirResults.Resource(PatientSummary.ToBundle(await summary.BuildAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), FhirResults.BaseUrl(ctx.Request))))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Read));

        // The record's audit trail (IHE BALP AuditEvent).
        fhir.MapGet("/AuditEvent", async (HttpContext ctx, OpenDmp.Core.Audit.AuditQueries q) =>
            FhirResults.SearchSet(await q.SearchAsync(Params(ctx), ctx.Actor(), Channels.Api, ctx.RequestAborted), ctx.Request))
            .WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));

        // The patient's own, offline-verifiable copy of their chain with its signed checkpoint (docs/SECURITY.md).
        fhir.MapGet("/Patient/{id}/$audit-proof", async (string id, HttpContext ctx, OpenDmp.Core.Audit.AuditProofs proofs) =>
            AuditProofResult(await proofs.BuildAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted), id))
            .WithMetadata(new DmpEndpoint(Requirement.Patient, AuditAction.Read));

        fhir.MapConsent();
        fhir.MapNetworks();
        OpenDmp.Server.Exports.ExportEndpoints.MapPortableRecord(fhir);
        fhir.MapOpening();
        fhir.MapSubscriptions();
        fhir.MapAlerts();
        fhir.MapTerminology();
        OpenDmp.Server.Messaging.MessagingEndpoints.MapMessaging(fhir);

        fhir.MapFallback(Unsupported).WithMetadata(Public);
        return app;
    }

    /// <summary>
    /// vread: the version a transaction's Location names. Only the current version of a document is
    /// kept (a replaced document is its own resource); an earlier version answers 404 saying so.
    /// </summary>
    private static IResult VersionRead(string type, string id, string vid, string json, HttpRequest request)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var current = doc.RootElement.TryGetProperty("meta", out var meta) && meta.TryGetProperty("versionId", out var v) ? v.GetString() : null;
        return current == vid
            ? FhirResults.Resource(json, request, versionId: current)
            : throw new DmpException(ErrorKind.NotFound, $"{type}/{id} is at version {current}; only the current version is kept (read {type}/{id})");
    }

    /// <summary>
    /// No endpoint: 405 when the resource type is one OpenDMP serves (the interaction is not among those
    /// the CapabilityStatement declares), 404 otherwise.
    /// </summary>
    private static System.Threading.Tasks.Task Unsupported(HttpContext ctx)
    {
        var type = ctx.Request.Path.Value?["/fhir".Length..].TrimStart('/').Split('/')[0] ?? string.Empty;
        var declared = CapabilityStatementBuilder.Build("/fhir").Rest[0].Resource.FirstOrDefault(r => r.Type == type);
        if (declared is not null)
        {
            var interactions = string.Join(", ", declared.Interaction.Select(i => Hl7.Fhir.Utility.EnumUtility.GetLiteral(i.Code)));
            throw new DmpException(ErrorKind.MethodNotAllowed, $"{ctx.Request.Method} {ctx.Request.Path} is not an interaction OpenDMP supports on {type} (supported: {interactions}; operations and details in /fhir/metadata)");
        }

        throw new DmpException(ErrorKind.NotFound, $"no FHIR interaction {ctx.Request.Method} {ctx.Request.Path}: OpenDMP does not serve this resource type; see /fhir/metadata");
    }

    /// <summary>An audit proof as a JSON download.</summary>
    public static IResult AuditProofResult(string json, string recordId) =>
        Results.File(Encoding.UTF8.GetBytes(json), "application/json", $"preuve-audit-{new string(recordId.Where(char.IsAsciiLetterOrDigit).Take(40).ToArray())}.json");

    private static SearchParams Params(HttpContext ctx)
    {
        var format = ctx.Request.Query["_format"].ToString();
        if (format.Length > 0 && !format.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new DmpException(ErrorKind.BadRequest, "only JSON is supported (_format=json)");
        }

        return new SearchParams(ctx.Request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? string.Empty))));
    }

    /// <summary>The body limit of operations whose body is a small Parameters resource.</summary>
    public const long SmallBodyBytes = 64 * 1024;

    internal static async Task<string> ReadBodyAsync(HttpContext ctx, long maxBytes)
    {
        BodyLimits.Apply(ctx, maxBytes);
        var type = ctx.Request.ContentType ?? string.Empty;
        if (!type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new DmpException(ErrorKind.BadRequest, $"the body must be FHIR JSON (Content-Type application/fhir+json), got '{type}'");
        }

        using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
        return await reader.ReadToEndAsync(ctx.RequestAborted);
    }
}
