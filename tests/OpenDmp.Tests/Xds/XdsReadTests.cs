using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.WebUtilities;
using OpenDmp.Core.Documents;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Xds;

/// <summary>
/// XDS.b read side (issue 17): an XDS client written from the IHE Technical Framework — the SOAP 1.2
/// messages below are written by hand, not produced by our serializer — queries (ITI-18 FindDocuments,
/// GetDocuments) and retrieves (ITI-43, MTOM) the documents filed through MHD, byte-exact; the policy
/// applies identically (a stranger gets a RegistryError, a masked document is absent through both
/// interfaces); a structure acts with its certificate and a VIHF in wsse:Security; bad messages are
/// SOAP faults that say why.
/// </summary>
public abstract class XdsReadTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static readonly XNamespace Soap = "http://www.w3.org/2003/05/soap-envelope";
    private static readonly XNamespace Rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
    private static readonly XNamespace Rs = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";
    private static readonly XNamespace Query = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
    private static readonly XNamespace XdsB = "urn:ihe:iti:xds-b:2007";

    private static string Envelope(string action, string body, string security = "") => $"""
        <soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
          <soap:Header>
            <wsa:Action soap:mustUnderstand="true">{action}</wsa:Action>
            <wsa:MessageID>urn:uuid:{Guid.NewGuid()}</wsa:MessageID>
            <wsa:To>https://dmp.example/xds</wsa:To>
            {security}
          </soap:Header>
          <soap:Body>{body}</soap:Body>
        </soap:Envelope>
        """;

    private static string FindDocuments(string ins, string returnType = "LeafClass", string status = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')", string queryId = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d") => $"""
        <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <query:ResponseOption returnComposedObjects="true" returnType="{returnType}"/>
          <rim:AdhocQuery id="{queryId}">
            <rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>
            {(status.Length == 0 ? string.Empty : $"<rim:Slot name=\"$XDSDocumentEntryStatus\"><rim:ValueList><rim:Value>{status}</rim:Value></rim:ValueList></rim:Slot>")}
          </rim:AdhocQuery>
        </query:AdhocQueryRequest>
        """;

    private static string GetDocuments(string uniqueId) => $"""
        <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
          <rim:AdhocQuery id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4">
            <rim:Slot name="$XDSDocumentEntryUniqueId"><rim:ValueList><rim:Value>('{uniqueId}')</rim:Value></rim:ValueList></rim:Slot>
          </rim:AdhocQuery>
        </query:AdhocQueryRequest>
        """;

    private static string Retrieve(string repository, params string[] uniqueIds) => $"""
        <xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">
          {string.Concat(uniqueIds.Select(u => $"<xdsb:DocumentRequest><xdsb:RepositoryUniqueId>{repository}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>{u}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"))}
        </xdsb:RetrieveDocumentSetRequest>
        """;

    private static async Task<(HttpStatusCode Status, XElement Body, HttpResponseMessage Response)> PostAsync(HttpClient http, string path, string envelope)
    {
        var response = await http.PostAsync(path, new StringContent(envelope, Encoding.UTF8, "application/soap+xml"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, XElement.Parse(text).Element(Soap + "Body")!.Elements().First(), response);
    }

    /// <summary>ITI-43 over MTOM: the SOAP root part's response element, and the other parts by Content-ID.</summary>
    private static async Task<(XElement Response, Dictionary<string, byte[]> Parts)> RetrieveAsync(HttpClient http, string envelope)
    {
        using var response = await http.PostAsync("/xds/repository", new StringContent(envelope, Encoding.UTF8, "application/soap+xml"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var type = MediaTypeHeaderValue.Parse(response.Content.Headers.ContentType!.ToString());
        Assert.Equal("multipart/related", type.MediaType);
        var boundary = type.Parameters.Single(p => p.Name == "boundary").Value!.Trim('"');
        var reader = new MultipartReader(boundary, await response.Content.ReadAsStreamAsync());
        var root = XElement.Parse(await new StreamReader((await reader.ReadNextSectionAsync())!.Body).ReadToEndAsync());
        var parts = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        while (await reader.ReadNextSectionAsync() is { } section)
        {
            using var bytes = new MemoryStream();
            await section.Body.CopyToAsync(bytes);
            parts[section.Headers!["Content-ID"].ToString().Trim('<', '>')] = bytes.ToArray();
        }

        return (root.Descendants(XdsB + "RetrieveDocumentSetResponse").Single(), parts);
    }

    private static string Fault(XElement body) => body.Name == Soap + "Fault" ? body.Element(Soap + "Reason")!.Element(Soap + "Text")!.Value : "(not a fault) " + body;

    [Fact]
    public async Task AnXdsClient_QueriesAndRetrievesWhatMhdFiled_UnderTheSamePolicy()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Roussel", "Agnès");
        var patient = await Server.AddPatientAsync(gp);
        var letter = Encoding.UTF8.GetBytes("Courrier de sortie — contenu exact");
        var first = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(letter, "text/plain", "Courrier de sortie", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var second = await Server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Synthèse"), "application/pdf", "Synthèse", TypeCode: "60591-5", ClassCode: "11"));
        var http = Server.Http(gp.Certificate);

        // ITI-18 FindDocuments (LeafClass): both, with the metadata MHD serves.
        var (status, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins)));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success", body.Attribute("status")?.Value);
        var entries = body.Descendants(Rim + "ExtrinsicObject").ToList();
        Assert.Equal(new[] { "urn:uuid:" + first, "urn:uuid:" + second }.Order(StringComparer.Ordinal), entries.Select(e => e.Attribute("id")!.Value).Order(StringComparer.Ordinal));
        var summary = entries.Single(e => e.Attribute("id")!.Value == "urn:uuid:" + second);
        Assert.Equal("11", summary.Elements(Rim + "Classification").Single(c => c.Attribute("classificationScheme")!.Value == "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a").Attribute("nodeRepresentation")!.Value);
        Assert.Equal("60591-5", summary.Elements(Rim + "Classification").Single(c => c.Attribute("classificationScheme")!.Value == "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983").Attribute("nodeRepresentation")!.Value);
        Assert.Equal($"{patient.Ins}^^^&1.2.250.1.213.1.4.8&ISO", summary.Elements(Rim + "ExternalIdentifier").Single(x => x.Attribute("identificationScheme")!.Value == "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427").Attribute("value")!.Value);
        var letterEntry = entries.Single(e => e.Attribute("id")!.Value == "urn:uuid:" + first);
        var uniqueId = letterEntry.Elements(Rim + "ExternalIdentifier").Single(x => x.Attribute("identificationScheme")!.Value == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab").Attribute("value")!.Value;
        var repository = letterEntry.Elements(Rim + "Slot").Single(s => s.Attribute("name")!.Value == "repositoryUniqueId").Descendants(Rim + "Value").Single().Value;
        #pragma warning disable CA5350 // XDS's hash slot is SHA-1 by the Technical Framework
        var sha1 = Convert.ToHexStringLower(System.Security.Cryptography.SHA1.HashData(letter));
#pragma warning restore CA5350
        Assert.Equal(sha1, letterEntry.Elements(Rim + "Slot").Single(s => s.Attribute("name")!.Value == "hash").Descendants(Rim + "Value").Single().Value);

        // ObjectRef and GetDocuments by uniqueId.
        (_, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins, "ObjectRef")));
        Assert.Equal(2, body.Descendants(Rim + "ObjectRef").Count());
        (_, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", GetDocuments(uniqueId)));
        Assert.Equal("urn:uuid:" + first, body.Descendants(Rim + "ExtrinsicObject").Single().Attribute("id")!.Value);

        // ITI-43: the exact bytes, as MTOM/XOP.
        var (retrieved, parts) = await RetrieveAsync(http, Envelope("urn:ihe:iti:2007:RetrieveDocumentSet", Retrieve(repository, uniqueId)));
        Assert.Equal("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success", retrieved.Element(Rs + "RegistryResponse")!.Attribute("status")!.Value);
        var include = retrieved.Descendants(XNamespace.Get("http://www.w3.org/2004/08/xop/include") + "Include").Single().Attribute("href")!.Value;
        Assert.Equal(letter, parts[include[4..]]);

        // Unknown document and unknown repository: RegistryErrors, not faults.
        (retrieved, _) = await RetrieveAsync(http, Envelope("urn:ihe:iti:2007:RetrieveDocumentSet", Retrieve(repository, "1.2.3.4.5.404")));
        Assert.Equal("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure", retrieved.Element(Rs + "RegistryResponse")!.Attribute("status")!.Value);
        Assert.Contains(retrieved.Descendants(Rs + "RegistryError"), e => e.Attribute("errorCode")!.Value == "XDSDocumentUniqueIdError");
        (retrieved, _) = await RetrieveAsync(http, Envelope("urn:ihe:iti:2007:RetrieveDocumentSet", Retrieve("9.9.9", uniqueId)));
        Assert.Contains(retrieved.Descendants(Rs + "RegistryError"), e => e.Attribute("errorCode")!.Value == "XDSUnknownRepositoryId");

        // The same policy: a professional without authorisation gets a RegistryError saying so.
        var stranger = await Server.AddProfessionalAsync("10", "SM54", "Inconnu", "Paul");
        (_, body, _) = await PostAsync(Server.Http(stranger.Certificate), "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins)));
        Assert.Equal("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure", body.Attribute("status")?.Value);
        Assert.Contains("no authorisation on this record", body.Descendants(Rs + "RegistryError").Single().Attribute("codeContext")!.Value, StringComparison.Ordinal);

        // A document the patient masks is absent through both interfaces for another professional.
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        var colleague = await Server.AddProfessionalAsync("10", "SM54", "Collègue", "Léa");
        using (var declared = await Server.Http(colleague.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(OpenDmp.Tests.Integration.TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        using (var masked = await patientHttp.PostAsync($"/fhir/DocumentReference/{first}/$mask", null))
        {
            Assert.True(masked.IsSuccessStatusCode, await masked.Content.ReadAsStringAsync());
        }

        (_, body, _) = await PostAsync(Server.Http(colleague.Certificate), "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins)));
        Assert.Equal(["urn:uuid:" + second], body.Descendants(Rim + "ExtrinsicObject").Select(e => e.Attribute("id")!.Value));
        Assert.Equal(HttpStatusCode.NotFound, (await Server.Http(colleague.Certificate).GetAsync($"/fhir/DocumentReference/{first}")).StatusCode);

        // Stored-query errors of the Technical Framework.
        (_, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins, status: string.Empty)));
        Assert.Equal("XDSStoredQueryParamNumber", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);
        (_, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins, queryId: "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3")));
        Assert.Equal("XDSUnknownStoredQuery", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);

        // A structure: refused without a VIHF, served with one (in wsse:Security), as the professional.
        var (finess, structure, _) = await Server.AddStructureAsync("Maison de santé XDS (test)");
        var (faultStatus, fault, _) = await PostAsync(Server.Http(structure), "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins)));
        Assert.Equal(HttpStatusCode.Unauthorized, faultStatus);
        Assert.Contains("VIHF", Fault(fault), StringComparison.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var assertion = Vihfs.Assertion(new Vihfs.Vihf(gp.Rpps, "10", "1" + finess, Server.BaseUrl.TrimEnd('/'), now.AddMinutes(-1), now.AddMinutes(10)), structure);
        var security = $"<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\">{assertion}</wsse:Security>";
        (status, body, _) = await PostAsync(Server.Http(structure), "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins), security));
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(2, body.Descendants(Rim + "ExtrinsicObject").Count());

        // Messages that cannot be read: SOAP faults that say why.
        (status, body, _) = await PostAsync(http, "/xds/registry", "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body>");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("not well-formed", Fault(body), StringComparison.Ordinal);
        (status, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RetrieveDocumentSet", FindDocuments(patient.Ins)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("wsa:Action must be", Fault(body), StringComparison.Ordinal);
        (status, body, _) = await PostAsync(Server.Http(null), "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins)));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("client certificate", Fault(body), StringComparison.Ordinal);
    }
}

public sealed class XdsReadTests_Sqlite() : XdsReadTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class XdsReadTests_Postgres(PostgresCluster pg) : XdsReadTests(new PostgresStorage(pg, "xdsread"));
