using System.Globalization;
using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Notifications;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// The consent regime over FHIR: professionals declare accesses ($declare-access,
/// $declare-admission, $emergency-access) and read their authorisation status ($access-status);
/// patients list grants (Consent), revoke, extend, make permanent, exclude, restrict, block and
/// unblock, set emergency oppositions, designate their treating physician, mask documents and read
/// their notifications (Communication); authors release documents to the patient.
/// </summary>
public static class ConsentEndpoints
{
    public const string ModeSystem = "urn:opendmp:access-mode";
    private static readonly DmpEndpoint ProfessionalGrant = new(Requirement.Professional, AuditAction.Grant);

    private static DmpEndpoint PatientConsent(AuditAction action) => new(Requirement.Patient, action);

    public static RouteGroupBuilder MapConsent(this RouteGroupBuilder fhir)
    {
        // Professional side.
        fhir.MapPost("/Patient/{id}/$declare-access", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            var (grant, renewed) = await s.DeclareAccessAsync(id, new AccessDeclaration(Str(p, "mode"), Bool(p, "confirm"), Date(p, "end"), Str(p, "group"), Str(p, "delegating-grant"),
                Str(p, "members-version"), p.Parameter.Where(x => x.Name == "exclude").Select(x => ValueText(x.Value) ?? string.Empty).ToList()), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            // A repeated declaration extends the grant in force: the same Consent, 200.
            return FhirResults.Resource(ToConsent(grant, Now(ctx)), renewed ? 200 : 201);
        }).WithMetadata(ProfessionalGrant);
        fhir.MapPost("/Patient/{id}/$declare-admission", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            var admission = Str(p, "admission");
            var grant = await s.DeclareAdmissionAsync(id, Date(p, "end"), p.Parameter.Where(x => x.Name == "member").Select(x => ValueText(x.Value) ?? string.Empty).ToList(), ctx.Actor(), Channels.Api, ctx.RequestAborted, Setting(p), admission);
            // Attesting members to an existing admission answers that admission (200); a new one is created (201).
            return FhirResults.Resource(ToConsent(grant, Now(ctx)), admission is null ? 201 : 200);
        }).WithMetadata(ProfessionalGrant with { Also = OtherCallers.Organization });
        fhir.MapPost("/Patient/{id}/$emergency-access", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            var grant = await s.EmergencyAccessAsync(id, Str(p, "mode"), Str(p, "reason"), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Resource(ToConsent(grant, Now(ctx)), 201);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Emergency));
        fhir.MapGet("/Patient/{id}/$access-status", async (string id, HttpContext ctx, ConsentService s) =>
        {
            var (status, standing) = await s.StatusAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var result = new Parameters();
            result.Add("status", new Code(status.ToString().ToLowerInvariant()));
            if (standing is not null)
            {
                result.Add("mode", new Code(GrantModes.Code(standing.Mode)));
                if (standing.End is { } end)
                {
                    result.Add("end", new FhirDateTime(end));
                }

                if (standing.Grant is { } g)
                {
                    result.Add("consent", new ResourceReference("Consent/" + g.Id));
                }
            }

            return FhirResults.Resource(result);
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.AccessStatus, Also: OtherCallers.Staff));
        fhir.MapPost("/DocumentReference/{id}/$release", async (string id, HttpContext ctx, ConsentService s) =>
        {
            await s.ReleaseAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"DocumentReference/{id} is now visible to the patient");
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Release));
        fhir.MapPost("/DocumentReference/{id}/$finalize", async (string id, HttpContext ctx, ConsentService s) =>
        {
            await s.FinalizeAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"DocumentReference/{id} is validated (docStatus final)");
        }).WithMetadata(new DmpEndpoint(Requirement.Professional, AuditAction.Validate));

        // Both: a professional sees their own grants, the patient all of them.
        fhir.MapGet("/Consent", async (HttpContext ctx, ConsentService s) =>
        {
            var patient = ctx.Request.Query["patient"].ToString();
            if (patient.Length == 0)
            {
                throw new DmpException(ErrorKind.BadRequest, "a patient is required: patient=[id]");
            }

            var grants = await s.ListAsync(patient, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var now = Now(ctx);
            var hits = grants.Select(g => new SearchHit("Consent", g.Id, FhirJson.Serialize(ToConsent(g, now)))).ToList();
            return FhirResults.SearchSet(new SearchPage(hits, 0, hits.Count, false, hits.Count), ctx.Request);
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));

        // Patient side.
        fhir.MapPost("/Consent/{id}/$revoke", async (string id, HttpContext ctx, ConsentService s) =>
        {
            await s.RevokeAsync(id, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"Consent/{id} revoked");
        }).WithMetadata(PatientConsent(AuditAction.Revoke));
        fhir.MapPost("/Consent/{id}/$extend", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            await s.ExtendAsync(id, Date(p, "end"), Bool(p, "permanent") == true, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"Consent/{id} extended");
        }).WithMetadata(PatientConsent(AuditAction.Extend));
        fhir.MapPost("/Consent/{id}/$exclude", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            await s.ExcludeFromGroupAsync(id, Str(p, "practitioner") ?? throw DmpException.Invalid("practitioner is required"), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, "the professional is excluded from this group's access");
        }).WithMetadata(PatientConsent(AuditAction.Exclude));
        fhir.MapPost("/Consent/{id}/$restrict", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            await s.RestrictAdmissionAsync(id, p.Parameter.Where(x => x.Name == "practitioner").Select(x => ValueText(x.Value) ?? string.Empty).ToList(), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, "the care team is restricted to the named doctors");
        }).WithMetadata(PatientConsent(AuditAction.Restrict));
        fhir.MapPost("/Patient/{id}/$block", (string id, HttpContext ctx, ConsentService s, DocumentOptions o) => BlockAsync(id, ctx, s, o, true)).WithMetadata(PatientConsent(AuditAction.Block));
        fhir.MapPost("/Patient/{id}/$unblock", (string id, HttpContext ctx, ConsentService s, DocumentOptions o) => BlockAsync(id, ctx, s, o, false)).WithMetadata(PatientConsent(AuditAction.Unblock));
        fhir.MapPost("/Patient/{id}/$emergency-preferences", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            var r = await s.SetPreferencesAsync(id, new EmergencyPreferences(Bool(p, "oppose-break-glass"), Bool(p, "oppose-centre-15"), Bool(p, "oppose-emergency-unmasking"), Bool(p, "oppose-dispensing-to-prescriber"), Bool(p, "oppose-research")), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            var result = new Parameters();
            result.Add("oppose-break-glass", new FhirBoolean(r.OpposeBreakGlass));
            result.Add("oppose-centre-15", new FhirBoolean(r.OpposeCentre15));
            result.Add("oppose-emergency-unmasking", new FhirBoolean(r.OpposeEmergencyUnmasking));
            result.Add("oppose-dispensing-to-prescriber", new FhirBoolean(r.OpposeDispensingToPrescriber));
            result.Add("oppose-research", new FhirBoolean(r.OpposeResearch));
            return FhirResults.Resource(result);
        }).WithMetadata(PatientConsent(AuditAction.Preferences));
        fhir.MapPost("/Patient/{id}/$designate-treating-physician", async (string id, HttpContext ctx, ConsentService s, DocumentOptions o) =>
        {
            var p = await ParametersAsync(ctx, o);
            await s.DesignateTreatingPhysicianAsync(id, Str(p, "practitioner") ?? throw DmpException.Invalid("practitioner is required"), ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, "treating physician designated");
        }).WithMetadata(PatientConsent(AuditAction.Grant));
        fhir.MapPost("/DocumentReference/{id}/$mask", async (string id, HttpContext ctx, ConsentService s) =>
        {
            await s.MaskAsync(id, true, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"DocumentReference/{id} is masked from professionals");
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Mask));
        fhir.MapPost("/DocumentReference/{id}/$unmask", async (string id, HttpContext ctx, ConsentService s) =>
        {
            await s.MaskAsync(id, false, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, $"DocumentReference/{id} is visible to professionals again");
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Unmask));
        fhir.MapGet("/Communication", async (HttpContext ctx, ConsentService s) =>
        {
            if (ctx.Actor().Kind == ActorKind.Professional)
            {
                return await AlertEndpoints.InboxAsync(ctx, ctx.RequestServices.GetRequiredService<OpenDmp.Core.Alerts.AlertService>());
            }

            var patient = ctx.Request.Query["patient"].ToString();
            var items = await s.NotificationsAsync(patient.Length == 0 ? ctx.Actor().OwnRecordId ?? string.Empty : patient, ctx.Actor(), Channels.Api, ctx.RequestAborted);
            // Each notification in one language: English when the client prefers it, French otherwise.
            var culture = AlertEndpoints.Culture(ctx);
            var hits = items.Select(n => new SearchHit("Communication", n.Id, FhirJson.Serialize(ToCommunication(n, culture)))).ToList();
            return FhirResults.SearchSet(new SearchPage(hits, 0, hits.Count, false, hits.Count), ctx.Request);
        }).WithMetadata(new DmpEndpoint(Requirement.ProfessionalOrPatient, AuditAction.Search));
        return fhir;
    }

    private static async Task<IResult> BlockAsync(string id, HttpContext ctx, ConsentService s, DocumentOptions o, bool block)
    {
        var p = await ParametersAsync(ctx, o);
        await s.BlockAsync(id, Str(p, "practitioner") ?? throw DmpException.Invalid("practitioner is required (RPPS, 8+RPPS or Practitioner id)"), block, ctx.Actor(), Channels.Api, ctx.RequestAborted);
        return FhirResults.Outcome(200, OperationOutcome.IssueType.Informational, block ? "the professional is blocked from your record" : "the professional is no longer blocked");
    }

    private static DateTimeOffset Now(HttpContext ctx) => ctx.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();

    /// <summary>A grant as a FHIR R4 Consent (scope patient-privacy, one permit provision for the holder).</summary>
    public static Consent ToConsent(Grant g, DateTimeOffset now)
    {
        var active = g.ToFacts().ActiveAt(now) || g.Mode == "treating-physician";
        var holder = g.Mode == "admission" ? new ResourceReference("Organization/" + g.HolderId) : new ResourceReference("Practitioner/" + g.HolderId);
        var consent = new Consent
        {
            Id = g.Id,
            Status = active ? Consent.ConsentState.Active : Consent.ConsentState.Inactive,
            Scope = new CodeableConcept("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", "Privacy Consent"),
            Category = [new CodeableConcept("http://loinc.org", "59284-0", "Patient Consent")],
            Patient = new ResourceReference("Patient/" + g.RecordId),
            PolicyRule = new CodeableConcept(ModeSystem, g.Mode, GrantModes.Parse(g.Mode) is { } m ? GrantModes.Display(m) : g.Mode),
            Provision = new Consent.provisionComponent
            {
                Type = Consent.ConsentProvisionType.Permit,
                Actor = [new Consent.provisionActorComponent { Role = new CodeableConcept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP", "primary information recipient"), Reference = holder }],
                Action = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/consentaction", "access")],
            },
        };
        // The members the patient excluded from a group grant: one deny provision each.
        foreach (var excluded in (g.Excluded ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            consent.Provision.Provision.Add(new Consent.provisionComponent
            {
                Type = Consent.ConsentProvisionType.Deny,
                Actor = [new Consent.provisionActorComponent { Role = new CodeableConcept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP", "primary information recipient"), Reference = new ResourceReference("Practitioner/" + excluded) }],
            });
        }

        if (g.CreatedAt != default)
        {
            consent.DateTimeElement = new FhirDateTime(g.CreatedAt);
            consent.Provision.Period = new Period { StartElement = new FhirDateTime(g.Start), EndElement = g.End is { } e ? new FhirDateTime(e) : null };
        }

        if (g.DeclaredBy is not ("patient" or "operator"))
        {
            consent.Performer = [new ResourceReference("Practitioner/" + g.DeclaredBy)];
        }

        if (g.Mode == "break-glass" || g.Mode == "centre-15")
        {
            consent.Provision.Action.Clear();
            consent.Provision.Action.Add(new CodeableConcept("http://terminology.hl7.org/CodeSystem/consentaction", "access", "read only"));
        }

        if (g.GroupId is not null)
        {
            consent.Provision.Actor.Add(new Consent.provisionActorComponent { Role = new CodeableConcept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "GRP", "group"), Reference = new ResourceReference("Group/" + g.GroupId) });
        }

        if (g.RevokedAt is not null)
        {
            consent.Provision.Period ??= new Period();
            consent.Provision.Period.EndElement = new FhirDateTime(g.RevokedAt.Value);
        }

        return consent;
    }

    private static Communication ToCommunication(PatientNotification n, System.Globalization.CultureInfo culture) => new()
    {
        Id = n.Id,
        Language = n.ActorDisplay is null ? null : culture.TwoLetterISOLanguageName,
        Status = n.Status == "sent" ? EventStatus.Completed : EventStatus.InProgress,
        Category = [new CodeableConcept("urn:opendmp:notification", n.Kind)],
        Subject = new ResourceReference("Patient/" + n.RecordId),
        SentElement = new FhirDateTime(n.CreatedAt),
        Sender = n.ProfessionalId is null ? null : new ResourceReference("Practitioner/" + n.ProfessionalId),
        Payload = [new Communication.PayloadComponent { Content = new FhirString(OpenDmp.Server.Portal.Ui.Notification(n, culture)) }],
    };

    /// <summary>The operation's Parameters body (none: empty), within <paramref name="maxBytes"/> (default: a small body).</summary>
    internal static async Task<Parameters> ParametersAsync(HttpContext ctx, DocumentOptions options, long maxBytes = FhirEndpoints.SmallBodyBytes)
    {
        var type = ctx.Request.ContentType ?? string.Empty;
        if (ctx.Request.ContentLength is 0 || (type.Length == 0 && ctx.Request.ContentLength is null))
        {
            return new Parameters();
        }

        if (!type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new DmpException(ErrorKind.BadRequest, $"the body must be a FHIR Parameters resource in JSON (Content-Type application/fhir+json), got '{type}'");
        }

        BodyLimits.Apply(ctx, maxBytes);
        using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(ctx.RequestAborted);
        return body.Length == 0 ? new Parameters() : FhirJson.Parse<Parameters>(body);
    }

    internal static string? Str(Parameters p, string name) => ValueText(p.Parameter.FirstOrDefault(x => x.Name == name)?.Value);

    private static string? ValueText(DataType? v) => v switch
    {
        null => null,
        Identifier i => i.Value,
        ResourceReference r => r.Reference ?? r.Identifier?.Value,
        FhirString s => s.Value,
        Code c => c.Value,
        Id id => id.Value,
        FhirUri u => u.Value,
        _ => v.ToString(),
    };

    /// <summary>The admission's care setting: a code, or a Coding of HL7 v3 ActCode (e.g. EMER).</summary>
    private static string? Setting(Parameters p) => p.Parameter.FirstOrDefault(x => x.Name == "setting")?.Value switch
    {
        null => null,
        Coding c when c.System is null or "http://terminology.hl7.org/CodeSystem/v3-ActCode" => c.Code,
        Coding c => throw DmpException.Invalid($"setting: a code of http://terminology.hl7.org/CodeSystem/v3-ActCode is expected, got system '{c.System}'", "Parameters.parameter:setting"),
        var v => ValueText(v),
    };

    internal static bool? Bool(Parameters p, string name)
    {
        var v = p.Parameter.FirstOrDefault(x => x.Name == name)?.Value;
        return v switch
        {
            null => null,
            FhirBoolean b => b.Value,
            _ => throw DmpException.Invalid($"parameter {name} must be a valueBoolean", $"Parameters.parameter:{name}"),
        };
    }

    private static DateTimeOffset? Date(Parameters p, string name)
    {
        var v = p.Parameter.FirstOrDefault(x => x.Name == name)?.Value;
        return v switch
        {
            null => null,
            FhirDateTime d when d.TryToDateTimeOffset(out var dto) => dto,
            Date d when DateTimeOffset.TryParse(d.Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto) => dto,
            Instant i when i.Value is { } dto => dto,
            _ => throw DmpException.Invalid($"parameter {name} must be a valueDateTime", $"Parameters.parameter:{name}"),
        };
    }
}
