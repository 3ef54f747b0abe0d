using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Pki;
using OpenDmp.Server.Fhir;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// Every endpoint and page declares who may call it and what it audits (or a reviewed exemption);
/// every non-public one is probed anonymously and with wrong identities — a certificate of another
/// CA, a forged token, a professional without a grant, another patient — against a real victim's
/// ids: none answers with the victim's data.
/// </summary>
public sealed class EndpointProtectionTests() : ServerTestBase(new SqliteStorage())
{
    private const string Marker = "SECRET7731";

    /// <summary>Endpoints that write no audit entry, reviewed one by one: none touches patient data.</summary>
    private static readonly HashSet<string> ReviewedExemptions = new(StringComparer.Ordinal)
    {
        "/fhir/metadata", "/health/live", "/health/ready", "/langue", "/messaging/deposit-certificate", "/patient/deconnexion",
        "/patient/logout", "/fhir/$message-status", "/fhir/Practitioner", "/fhir/Practitioner/{id}", "/fhir/Organization", "/fhir/Organization/{id}", "/fhir/PractitionerRole", "/fhir/PractitionerRole/{id}", "/fhir/Location", "/fhir/Location/{id}", "/fhir/Group/{id}",
        "/pki/ca.crl", "/.well-known/security.txt", "/patient/login",

        // Operator metrics: counters without patient data, answered to the monitoring networks and token only (TelemetryTests).
        "/metrics",

        // A professional's own subscriptions (ADR 0024): the subscriptions table holds no patient data; a
        // creation with a patient filter is decided by the policy and audited in that record's chain
        // (the request-level rule of AuditEnforcement still applies to it).
        "/fhir/Subscription", "/fhir/Subscription/{id}", "/fhir/Subscription/{id}/$status",

        // A hospital's ADT feed: an A01/A04 is a patient search by INS (audited as PDQm's) and a
        // $declare-admission (audited as a grant); other events are acknowledged without touching patient
        // data (the request-level rule of AuditEnforcement still applies).
        "/hl7v2/adt",

        // Terminology (public reference data, ADR 0016).
        "/fhir/ValueSet", "/fhir/ValueSet/{id}", "/fhir/ValueSet/{id}/_history/{vid}", "/fhir/CodeSystem", "/fhir/CodeSystem/{id}", "/fhir/CodeSystem/{id}/_history/{vid}",
        "/fhir/ConceptMap", "/fhir/ConceptMap/{id}", "/fhir/ConceptMap/{id}/_history/{vid}", "/fhir/ValueSet/$expand", "/fhir/ValueSet/{id}/$expand",
        "/fhir/ValueSet/$validate-code", "/fhir/ValueSet/{id}/$validate-code", "/fhir/CodeSystem/$lookup",
    };

    private static IEnumerable<(RouteEndpoint Endpoint, DmpEndpoint Declared)> Endpoints(IServiceProvider services) =>
        services.GetRequiredService<IEnumerable<EndpointDataSource>>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Select(e => (e, e.Metadata.GetMetadata<DmpEndpoint>() ?? e.Metadata.GetMetadata<PortalPageAttribute>()?.ToEndpoint()!));

    /// <summary>
    /// The endpoints that admit a staff card or an establishment's certificate where a professional is
    /// required (reviewed: each asks the policy, which limits what such a caller may do).
    /// </summary>
    private static readonly Dictionary<string, OtherCallers> ReviewedOtherCallers = new(StringComparer.Ordinal)
    {
        ["POST /fhir/"] = OtherCallers.Staff,
        ["POST /fhir/DocumentReference"] = OtherCallers.Staff,
        ["GET /fhir/Patient"] = OtherCallers.Staff | OtherCallers.Organization,
        ["GET /fhir/Patient/{id}"] = OtherCallers.Staff | OtherCallers.Organization,
        ["GET /fhir/DocumentReference"] = OtherCallers.Staff,
        ["GET /fhir/DocumentReference/{id}"] = OtherCallers.Staff,
        ["GET /fhir/DocumentReference/{id}/_history/{vid}"] = OtherCallers.Staff,
        ["GET /fhir/Binary/{id}"] = OtherCallers.Staff,
        ["GET /fhir/Patient/{id}/$access-status"] = OtherCallers.Staff,
        ["POST /fhir/Patient/{id}/$declare-admission"] = OtherCallers.Organization,
        ["POST /hl7v2/adt"] = OtherCallers.Organization,
        ["POST /xds/registry"] = OtherCallers.Organization,
        ["POST /xds/registry/update"] = OtherCallers.Organization,
        ["POST /xds/repository"] = OtherCallers.Organization,
        ["POST /xds/repository/provide"] = OtherCallers.Organization,
    };

    [Fact]
    public void OnlyReviewedEndpoints_AdmitStaffCardsOrEstablishmentCertificates()
    {
        var admitting = Endpoints(Server.Services).Where(x => x.Declared is { Also: not OtherCallers.None })
            .ToDictionary(x => $"{x.Endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()?.HttpMethods[0]} /{x.Endpoint.RoutePattern.RawText?.TrimStart('/')}", x => x.Declared.Also, StringComparer.Ordinal);
        Assert.Equal(ReviewedOtherCallers.OrderBy(k => k.Key, StringComparer.Ordinal), admitting.OrderBy(k => k.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void EveryEndpoint_DeclaresItsRequirement_AndItsAuditOrAReviewedExemption()
    {
        var all = Endpoints(Server.Services).ToList();
        Assert.True(all.Count > 40, $"only {all.Count} endpoints found");
        foreach (var (e, declared) in all)
        {
            var route = e.RoutePattern.RawText ?? string.Empty;
            Assert.True(declared is not null, $"{route} declares no access requirement");
            Assert.True(declared.Audit is null != (declared.Exemption is null), $"{route}: an audit action or an exemption, exactly one");
            if (declared.Audit is null)
            {
                var portal = e.Metadata.GetMetadata<PortalPageAttribute>() is not null;
                var framework = route.StartsWith("/_framework/", StringComparison.Ordinal) || route.StartsWith("_framework/", StringComparison.Ordinal);
                var fallback = route.Contains("{*", StringComparison.Ordinal);
                Assert.True(portal || framework || fallback || ReviewedExemptions.Contains("/" + route.TrimStart('/')), $"{route} is exempt from audit ({declared.Exemption}) without review: add it to the reviewed list, or declare its audit action");
            }
        }
    }

    [Fact]
    public async Task EveryProtectedEndpoint_RefusesAnonymousAndWrongIdentities_AndNeverShowsTheVictimsData()
    {
        // The victim: a record with a document, a grant, and an account.
        var gp = await Server.AddProfessionalAsync();
        var victim = await Server.AddPatientAsync(gp);
        var docId = await Server.SubmitAsync(gp, victim, new DocumentToSubmit(System.Text.Encoding.UTF8.GetBytes("note " + Marker), "text/plain", "Note " + Marker, FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var cardio = await Server.AddProfessionalAsync("10", "SM04");
        using (var declared = await Server.Http(cardio.Certificate).PostAsync($"/fhir/Patient/{victim.Id}/$declare-access", FhirAssert.Json(Integration.TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        var grantId = await Server.WithScopeAsync(sp => Task.FromResult(sp.GetRequiredService<OpenDmp.Core.Storage.DmpDbContext>().Grants.Single(g => g.RecordId == victim.Id).Id));
        await Server.LoginPatientAsync(victim);

        // The attackers.
        var anonymous = Server.Http(null, followRedirects: false);
        var otherDir = System.IO.Path.Combine(Server.Data.Root, "wrong-identity");
        var foreignCa = Server.Http(RunningServer.Reload(TestCertificateAuthority.LoadOrCreate(otherDir, TimeProvider.System).IssueProfessional(TestIds.NewRpps(), "Usurpateur", null, otherDir, TimeProvider.System)), followRedirects: false);
        var forged = Server.Http(null, followRedirects: false);
        forged.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "forged-token");
        var ungranted = Server.Http((await Server.AddProfessionalAsync("10", "SM54", "Sans", "Droit")).Certificate, followRedirects: false);
        var other = await Server.AddPatientAsync(gp);
        var (otherBearer, otherCookie) = await Server.LoginPatientAsync(other);
        var otherPortal = Server.Http(null, followRedirects: false);
        otherPortal.DefaultRequestHeaders.Add("Cookie", otherCookie);

        var probed = 0;
        foreach (var (e, declared) in Endpoints(Server.Services))
        {
            if (declared.Requirement == Requirement.Public || e.RoutePattern.RawText is not { } raw || raw.Contains("{*", StringComparison.Ordinal))
            {
                continue;
            }

            var path = RoutePath(raw, victim.Id, docId, grantId);
            var method = e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods[0] ?? "GET";
            var portal = e.Metadata.GetMetadata<PortalPageAttribute>() is not null || !raw.TrimStart('/').StartsWith("fhir", StringComparison.Ordinal);
            var expectedAnonymous = declared.Requirement == Requirement.PortalPatient ? HttpStatusCode.Redirect : HttpStatusCode.Unauthorized;
            await ExpectAsync(anonymous, method, path, expectedAnonymous, "anonymously");
            if (declared.Requirement is Requirement.Professional or Requirement.ProfessionalOrPatient or Requirement.PortalProfessional)
            {
                await ExpectAsync(foreignCa, method, path, HttpStatusCode.Unauthorized, "with a certificate of another CA");
            }

            if (declared.Requirement is Requirement.Patient or Requirement.ProfessionalOrPatient)
            {
                await ExpectAsync(forged, method, path, HttpStatusCode.Unauthorized, "with a forged bearer token");
            }

            foreach (var (client, who) in new[] { (ungranted, "as a professional without a grant"), (otherBearer, "as another patient (API)"), (otherPortal, "as another patient (portal)") })
            {
                var (status, body) = await SendAsync(client, method, path);
                Assert.True(!body.Contains(Marker, StringComparison.Ordinal), $"{method} {path} {who} answered {(int)status} with the victim's data");
                if (!portal && declared.Requirement is Requirement.Patient && client == otherBearer && raw.Contains('{', StringComparison.Ordinal))
                {
                    Assert.True((int)status is 403 or 404 or 400 or 422, $"{method} {path} {who} answered {(int)status}");
                }
            }

            probed++;
        }

        Assert.True(probed > 30, $"only {probed} endpoints probed");
    }

    private static string RoutePath(string raw, string patientId, string docId, string grantId)
    {
        var path = "/" + raw.TrimStart('/');
        path = path.Replace("{PatientId}", patientId, StringComparison.Ordinal);
        var id = path.Contains("/Consent/", StringComparison.Ordinal) ? grantId
            : path.Contains("/Patient/", StringComparison.Ordinal) || path.StartsWith("/pro/patients/{Id}", StringComparison.Ordinal) ? patientId
            : docId;
        return path.Replace("{id}", id, StringComparison.Ordinal).Replace("{Id}", id, StringComparison.Ordinal)
            + (path.EndsWith("/DocumentReference", StringComparison.Ordinal) || path.EndsWith("/AuditEvent", StringComparison.Ordinal) || path.EndsWith("/Observation", StringComparison.Ordinal)
                || path.EndsWith("/Consent", StringComparison.Ordinal) || path.EndsWith("/List", StringComparison.Ordinal) || path.EndsWith("/Communication", StringComparison.Ordinal)
                ? "?patient=" + patientId : string.Empty);
    }

    private static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient client, string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = method is "POST" or "PATCH" ? FhirAssert.Json("{}") : null };
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static async Task ExpectAsync(HttpClient client, string method, string path, HttpStatusCode expected, string who)
    {
        var (status, body) = await SendAsync(client, method, path);
        Assert.True(status == expected, $"{method} {path} answered {(int)status} {who} (expected {(int)expected}): {body[..Math.Min(200, body.Length)]}");
    }
}
