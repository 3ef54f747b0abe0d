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
/// XDS.b (issue 17): an XDS client written from the IHE Technical Framework — the SOAP 1.2
/// messages below are written by hand, not produced by our serializer — files (ITI-41, MTOM, with a
/// replacement), queries (ITI-18 FindDocuments,
/// GetDocuments) and retrieves (ITI-43, MTOM) the documents filed through MHD, byte-exact; the policy
/// applies identically (a stranger gets a RegistryError, a masked document is absent through both
/// interfaces); a structure acts with its certificate and a VIHF in wsse:Security; bad messages are
/// SOAP faults that say why.
/// </summary>
public abstract class XdsTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    internal static readonly XNamespace Soap = "http://www.w3.org/2003/05/soap-envelope";
    internal static readonly XNamespace Rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
    internal static readonly XNamespace Rs = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0";
    internal static readonly XNamespace Query = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
    internal static readonly XNamespace XdsB = "urn:ihe:iti:xds-b:2007";

    internal static string Envelope(string action, string body, string security = "") => $"""
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

    internal static string FindDocuments(string ins, string returnType = "LeafClass", string status = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')", string queryId = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d") => $"""
        <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <query:ResponseOption returnComposedObjects="true" returnType="{returnType}"/>
          <rim:AdhocQuery id="{queryId}">
            <rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>
            {(status.Length == 0 ? string.Empty : $"<rim:Slot name=\"$XDSDocumentEntryStatus\"><rim:ValueList><rim:Value>{status}</rim:Value></rim:ValueList></rim:Slot>")}
          </rim:AdhocQuery>
        </query:AdhocQueryRequest>
        """;

    internal static string GetDocuments(string uniqueId) => $"""
        <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
          <rim:AdhocQuery id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4">
            <rim:Slot name="$XDSDocumentEntryUniqueId"><rim:ValueList><rim:Value>('{uniqueId}')</rim:Value></rim:ValueList></rim:Slot>
          </rim:AdhocQuery>
        </query:AdhocQueryRequest>
        """;

    /// <summary>ITI-18 GetAssociations of one object (entryUUID).</summary>
    internal static string GetAssociations(string uuid) => $"""
        <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
          <rim:AdhocQuery id="urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155">
            <rim:Slot name="$uuid"><rim:ValueList><rim:Value>('{uuid}')</rim:Value></rim:ValueList></rim:Slot>
          </rim:AdhocQuery>
        </query:AdhocQueryRequest>
        """;

    private static string Retrieve(string repository, params string[] uniqueIds) => $"""
        <xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">
          {string.Concat(uniqueIds.Select(u => $"<xdsb:DocumentRequest><xdsb:RepositoryUniqueId>{repository}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>{u}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"))}
        </xdsb:RetrieveDocumentSetRequest>
        """;

    internal static async Task<(HttpStatusCode Status, XElement Body, HttpResponseMessage Response)> PostAsync(HttpClient http, string path, string envelope)
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

    internal static string Fault(XElement body) => body.Name == Soap + "Fault" ? body.Element(Soap + "Reason")!.Element(Soap + "Text")!.Value : "(not a fault) " + body;

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

        // FindSubmissionSets: one per MHD submission; GetSubmissionSetAndContents: the set, its document and the HasMember association.
        var findSets = $"""
            <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
              <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
              <rim:AdhocQuery id="urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9">
                <rim:Slot name="$XDSSubmissionSetPatientId"><rim:ValueList><rim:Value>'{patient.Ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>
                <rim:Slot name="$XDSSubmissionSetStatus"><rim:ValueList><rim:Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value></rim:ValueList></rim:Slot>
              </rim:AdhocQuery>
            </query:AdhocQueryRequest>
            """;
        (_, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", findSets));
        var packages = body.Descendants(Rim + "RegistryPackage").ToList();
        Assert.Equal(2, packages.Count);
        var letterSet = packages.Select(p => p.Attribute("id")!.Value).First();
        var getSet = $"""
            <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
              <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
              <rim:AdhocQuery id="urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83">
                <rim:Slot name="$XDSSubmissionSetEntryUUID"><rim:ValueList><rim:Value>'{letterSet}'</rim:Value></rim:ValueList></rim:Slot>
              </rim:AdhocQuery>
            </query:AdhocQueryRequest>
            """;
        (_, body, _) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", getSet));
        Assert.Equal(letterSet, body.Descendants(Rim + "RegistryPackage").Single().Attribute("id")!.Value);
        var member = body.Descendants(Rim + "ExtrinsicObject").Single().Attribute("id")!.Value;
        var association = body.Descendants(Rim + "Association").Single();
        Assert.Equal((letterSet, member, "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"), (association.Attribute("sourceObject")!.Value, association.Attribute("targetObject")!.Value, association.Attribute("associationType")!.Value));

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

    /// <summary>An ITI-41 SubmitObjectsRequest written from ITI TF-3 §4.2 with the ANS code systems' OIDs; a <paramref name="relation"/> (RPLC, APND, XFRM, signs) to <paramref name="replaces"/> when given.</summary>
    internal static string ProvideAndRegister(string ins, string authorRpps, string uniqueId, string title, string? replaces = null, string typeCode = "11488-4", string relation = "RPLC") => $"""
        <xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007" xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" xmlns:xop="http://www.w3.org/2004/08/xop/include">
          <lcm:SubmitObjectsRequest>
            <rim:RegistryObjectList>
              <rim:RegistryPackage id="SubmissionSet01">
                <rim:Slot name="submissionTime"><rim:ValueList><rim:Value>{DateTimeOffset.UtcNow:yyyyMMddHHmmss}</rim:Value></rim:ValueList></rim:Slot>
                <rim:Name><rim:LocalizedString value="Envoi XDS"/></rim:Name>
                <rim:Classification classificationScheme="urn:uuid:aa543740-bdda-4ee6-8ee6-d3beee3a6a13" classifiedObject="SubmissionSet01" id="cl01" nodeRepresentation="04">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.2.250.1.213.1.1.4.12</rim:Value></rim:ValueList></rim:Slot>
                </rim:Classification>
                <rim:ExternalIdentifier id="ei01" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" registryObject="SubmissionSet01" value="{uniqueId}.9"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.uniqueId"/></rim:Name></rim:ExternalIdentifier>
                <rim:ExternalIdentifier id="ei02" identificationScheme="urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832" registryObject="SubmissionSet01" value="1.2.250.1.999.1.1.7898"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.sourceId"/></rim:Name></rim:ExternalIdentifier>
                <rim:ExternalIdentifier id="ei03" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" registryObject="SubmissionSet01" value="{ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO"><rim:Name><rim:LocalizedString value="XDSSubmissionSet.patientId"/></rim:Name></rim:ExternalIdentifier>
              </rim:RegistryPackage>
              <rim:Classification id="cl02" classifiedObject="SubmissionSet01" classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"/>
              <rim:ExtrinsicObject id="Document01" mimeType="application/pdf" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
                <rim:Slot name="creationTime"><rim:ValueList><rim:Value>{DateTimeOffset.UtcNow:yyyyMMddHHmmss}</rim:Value></rim:ValueList></rim:Slot>
                <rim:Slot name="languageCode"><rim:ValueList><rim:Value>fr-FR</rim:Value></rim:ValueList></rim:Slot>
                <rim:Slot name="serviceStartTime"><rim:ValueList><rim:Value>{DateTimeOffset.UtcNow.AddHours(-1):yyyyMMddHHmmss}</rim:Value></rim:ValueList></rim:Slot>
                <rim:Name><rim:LocalizedString value="{title}"/></rim:Name>
                <rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="Document01" id="cl10" nodeRepresentation="">
                  <rim:Slot name="authorPerson"><rim:ValueList><rim:Value>8{authorRpps}^ROUSSEL^AGNES^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO</rim:Value></rim:ValueList></rim:Slot>
                </rim:Classification>
                <rim:Classification classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a" classifiedObject="Document01" id="cl11" nodeRepresentation="10">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.2.250.1.213.1.1.4.1</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Compte rendu"/></rim:Name>
                </rim:Classification>
                <rim:Classification classificationScheme="urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f" classifiedObject="Document01" id="cl12" nodeRepresentation="N">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.5.25</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Normal"/></rim:Name>
                </rim:Classification>
                <rim:Classification classificationScheme="urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d" classifiedObject="Document01" id="cl13" nodeRepresentation="urn:ihe:iti:xds-sd:pdf:2008">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.3.6.1.4.1.19376.1.2.3</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="PDF"/></rim:Name>
                </rim:Classification>
                <rim:Classification classificationScheme="urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1" classifiedObject="Document01" id="cl14" nodeRepresentation="SA07">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.2.250.1.71.4.2.4</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Cabinet individuel"/></rim:Name>
                </rim:Classification>
                <rim:Classification classificationScheme="urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead" classifiedObject="Document01" id="cl15" nodeRepresentation="AMBULATOIRE">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>1.2.250.1.213.1.1.4.9</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="Ambulatoire"/></rim:Name>
                </rim:Classification>
                <rim:Classification classificationScheme="urn:uuid:f0306f51-975f-434e-a61c-c59651d33983" classifiedObject="Document01" id="cl16" nodeRepresentation="{typeCode}">
                  <rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.6.1</rim:Value></rim:ValueList></rim:Slot><rim:Name><rim:LocalizedString value="CR de consultation"/></rim:Name>
                </rim:Classification>
                <rim:ExternalIdentifier id="ei10" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" registryObject="Document01" value="{ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name></rim:ExternalIdentifier>
                <rim:ExternalIdentifier id="ei11" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" registryObject="Document01" value="{uniqueId}"><rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name></rim:ExternalIdentifier>
              </rim:ExtrinsicObject>
              <rim:Association associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" id="as01" sourceObject="SubmissionSet01" targetObject="Document01">
                <rim:Slot name="SubmissionSetStatus"><rim:ValueList><rim:Value>Original</rim:Value></rim:ValueList></rim:Slot>
              </rim:Association>
              {(replaces is null ? string.Empty : $"<rim:Association associationType=\"urn:ihe:iti:2007:AssociationType:{relation}\" id=\"as02\" sourceObject=\"Document01\" targetObject=\"{replaces}\"/>")}
            </rim:RegistryObjectList>
          </lcm:SubmitObjectsRequest>
          <xdsb:Document id="Document01"><xop:Include href="cid:document01%40client.example"/></xdsb:Document>
        </xdsb:ProvideAndRegisterDocumentSetRequest>
        """;

    /// <summary>The MTOM request: the SOAP root part, then the document's part.</summary>
    internal static async Task<(HttpStatusCode Status, XElement Body)> ProvideAsync(HttpClient http, string envelope, byte[] document)
    {
        const string boundary = "MIMEBoundary_test_41";
        var message = new MemoryStream();
        void Text(string t) => message.Write(Encoding.UTF8.GetBytes(t));
        Text($"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root.message@client.example>\r\n\r\n{envelope}\r\n");
        Text($"--{boundary}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <document01@client.example>\r\n\r\n");
        message.Write(document);
        Text($"\r\n--{boundary}--\r\n");
        var content = new ByteArrayContent(message.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", $"multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start=\"<root.message@client.example>\"; start-info=\"application/soap+xml\"");
        using var response = await http.PostAsync("/xds/repository/provide", content);
        return (response.StatusCode, XElement.Parse(await response.Content.ReadAsStringAsync()).Element(Soap + "Body")!.Elements().First());
    }

    internal static async Task<(HttpStatusCode Status, XElement Body)> QueryAsync(HttpClient http, string query)
    {
        var (status, body, response) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", query));
        response.Dispose();
        return (status, body);
    }

    [Fact]
    public async Task AnXdsClient_Files_MhdFindsItByteExact_AndReplacesIt()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Roussel", "Agnès");
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        var pdf = SubmissionBuilder.MinimalPdf("Compte rendu déposé par XDS");
        var uniqueId = $"1.2.250.1.999.1.1.7898.1.{Random.Shared.Next(1, int.MaxValue)}";
        var (status, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId, "CR par XDS")), pdf);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.Attribute("status")?.Value == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success", body.ToString());

        // MHD finds it, with the XDS uniqueId, and serves the same bytes.
        using (var search = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&identifier=urn:oid:{uniqueId}"))
        {
            var bundle = OpenDmp.Core.Fhir.FhirJson.Parse<Hl7.Fhir.Model.Bundle>(await search.Content.ReadAsStringAsync());
            var doc = (Hl7.Fhir.Model.DocumentReference)bundle.Entry.Single(e => e.Resource is Hl7.Fhir.Model.DocumentReference).Resource;
            Assert.Equal("CR par XDS", doc.Content[0].Attachment.Title);
            using (var raw = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Binary/{doc.Id}"))
            {
                raw.Headers.Accept.ParseAdd("application/pdf");
                using var bytes = await http.SendAsync(raw);
                Assert.Equal(pdf, await bytes.Content.ReadAsByteArrayAsync());
            }


            // A replacement (RPLC) through XDS: the first becomes superseded, for MHD too.
            var newId = uniqueId + ".2";
            (status, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, newId, "CR corrigé par XDS", replaces: "urn:uuid:" + doc.Id)), SubmissionBuilder.MinimalPdf("Corrigé"));
            Assert.True(body.Attribute("status")?.Value == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success", body.ToString());
            using var old = await http.GetAsync($"/fhir/DocumentReference/{doc.Id}");
            Assert.Equal("superseded", OpenDmp.Core.Fhir.FhirJson.Parse<Hl7.Fhir.Model.DocumentReference>(await old.Content.ReadAsStringAsync()).Status?.ToString().ToLowerInvariant());

            // GetRelatedDocuments and GetAssociations show the replacement (RPLC) and the submission (HasMember).
            var related = $"""
                <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
                  <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
                  <rim:AdhocQuery id="urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6">
                    <rim:Slot name="$XDSDocumentEntryUniqueId"><rim:ValueList><rim:Value>'{newId}'</rim:Value></rim:ValueList></rim:Slot>
                    <rim:Slot name="$AssociationTypes"><rim:ValueList><rim:Value>('urn:ihe:iti:2007:AssociationType:RPLC')</rim:Value></rim:ValueList></rim:Slot>
                  </rim:AdhocQuery>
                </query:AdhocQueryRequest>
                """;
            (_, body) = await QueryAsync(http, related);
            Assert.Equal(2, body.Descendants(Rim + "ExtrinsicObject").Count());
            var rplc = body.Descendants(Rim + "Association").Single();
            Assert.Equal(("urn:ihe:iti:2007:AssociationType:RPLC", "urn:uuid:" + doc.Id), (rplc.Attribute("associationType")!.Value, rplc.Attribute("targetObject")!.Value));
            (_, body) = await QueryAsync(http, GetAssociations("urn:uuid:" + doc.Id));
            Assert.Equal(["urn:ihe:iti:2007:AssociationType:RPLC", "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"], body.Descendants(Rim + "Association").Select(a => a.Attribute("associationType")!.Value).Order(StringComparer.Ordinal));
        }

        // The same rules as ITI-65: a duplicate uniqueId, a code outside the value sets, a professional without authorisation.
        (_, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId, "Doublon")), pdf);
        Assert.Equal("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure", body.Attribute("status")?.Value);
        (_, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId + ".3", "Type inconnu", typeCode: "99999-9")), pdf);
        Assert.Equal("XDSRegistryMetadataError", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);
        (_, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(TestIds.NewIns(), gp.Rpps, uniqueId + ".5", "Patient inconnu")), pdf);
        Assert.Equal("XDSUnknownPatientId", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);
        var wrongHash = ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId + ".6", "Empreinte fausse").Replace("<rim:Slot name=\"languageCode\">", "<rim:Slot name=\"hash\"><rim:ValueList><rim:Value>0000000000000000000000000000000000000000</rim:Value></rim:ValueList></rim:Slot><rim:Slot name=\"languageCode\">", StringComparison.Ordinal);
        (_, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", wrongHash), pdf);
        Assert.Equal("XDSRepositoryMetadataError", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);
        var missing = ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId + ".7", "Sans document").Replace("cid:document01%40client.example", "cid:absent%40client.example", StringComparison.Ordinal);
        (_, body) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", missing), pdf);
        Assert.Equal("XDSMissingDocument", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);
        var stranger = await Server.AddProfessionalAsync("10", "SM54", "Inconnu", "Paul");
        (_, body) = await ProvideAsync(Server.Http(stranger.Certificate), Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, stranger.Rpps, uniqueId + ".4", "Intrus")), pdf);
        Assert.Equal("XDSRegistryError", body.Descendants(Rs + "RegistryError").Single().Attribute("errorCode")!.Value);
        Assert.Contains("no authorisation", body.Descendants(Rs + "RegistryError").Single().Attribute("codeContext")!.Value, StringComparison.Ordinal);
    }
}

public sealed class XdsTests_Sqlite() : XdsTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class XdsTests_Postgres(PostgresCluster pg) : XdsTests(new PostgresStorage(pg, "xds"));
