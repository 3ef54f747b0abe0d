using System.Net;
using System.Xml.Linq;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using static OpenDmp.Tests.Xds.XdsTests;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Xds;

/// <summary>
/// ITI-57 Update Document Set (issue 17) for what the DMP uses it for — the author masks a document
/// from other professionals at the patient's request and unmasks it, archives and unarchives it, files an
/// addendum and a signed submission set — with
/// messages written from ITI TF-2b §3.57 and TF-3 §4.2; MHD sees every change. An emergency asserted
/// in a VIHF (purposeofuse bris_de_glace) is declared once, read-only, time-boxed and notified, and a
/// VIHF that names a patient (resource-id) reaches no other record.
/// </summary>
public abstract class XdsUpdateTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static readonly XNamespace Lcm = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0";
    private const string UpdateAction = "urn:ihe:iti:2010:UpdateDocumentSet";
    private const string Approved = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved";
    private const string Deprecated = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated";

    /// <summary>
    /// A metadata update: the entry as filed (the ITI-41 message of these tests) under a new id with
    /// lid = the entry, its confidentiality codes given, and PreviousVersion on its HasMember association.
    /// </summary>
    private static string MetadataUpdate(string ins, string rpps, string uniqueId, string title, string entryUuid, string previousVersion, params string[] visibility)
    {
        var provide = XElement.Parse(ProvideAndRegister(ins, rpps, uniqueId, title));
        var request = provide.Element(Lcm + "SubmitObjectsRequest")!;
        var eo = request.Descendants(Rim + "ExtrinsicObject").Single();
        eo.SetAttributeValue("lid", entryUuid);
        foreach (var code in visibility)
        {
            eo.Add(new XElement(Rim + "Classification",
                new XAttribute("classificationScheme", "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"), new XAttribute("classifiedObject", "Document01"),
                new XAttribute("id", "cl-" + code), new XAttribute("nodeRepresentation", code),
                new XElement(Rim + "Slot", new XAttribute("name", "codingScheme"), new XElement(Rim + "ValueList", new XElement(Rim + "Value", "1.2.250.1.213.1.1.4.13")))));
        }

        var member = request.Descendants(Rim + "Association").Single();
        member.Add(new XElement(Rim + "Slot", new XAttribute("name", "PreviousVersion"), new XElement(Rim + "ValueList", new XElement(Rim + "Value", previousVersion))));
        return request.ToString(SaveOptions.DisableFormatting);
    }

    /// <summary>An UpdateAvailabilityStatus association from a new SubmissionSet to the entry.</summary>
    private static string StatusUpdate(string ins, string entryUuid, string original, string wanted) => $"""
        <lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
          <rim:RegistryObjectList>
            <rim:RegistryPackage id="SubmissionSet01">
              <rim:Slot name="submissionTime"><rim:ValueList><rim:Value>{DateTimeOffset.UtcNow:yyyyMMddHHmmss}</rim:Value></rim:ValueList></rim:Slot>
              <rim:ExternalIdentifier id="ei01" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" registryObject="SubmissionSet01" value="1.2.250.1.999.1.1.7898.57.{Random.Shared.Next()}"/>
              <rim:ExternalIdentifier id="ei02" identificationScheme="urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832" registryObject="SubmissionSet01" value="1.2.250.1.999.1.1.7898"/>
              <rim:ExternalIdentifier id="ei03" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" registryObject="SubmissionSet01" value="{ins}^^^&amp;1.2.250.1.213.1.4.8&amp;ISO"/>
            </rim:RegistryPackage>
            <rim:Classification id="cl01" classifiedObject="SubmissionSet01" classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"/>
            <rim:Association associationType="urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus" id="as01" sourceObject="SubmissionSet01" targetObject="{entryUuid}">
              <rim:Slot name="OriginalStatus"><rim:ValueList><rim:Value>{original}</rim:Value></rim:ValueList></rim:Slot>
              <rim:Slot name="NewStatus"><rim:ValueList><rim:Value>{wanted}</rim:Value></rim:ValueList></rim:Slot>
            </rim:Association>
          </rim:RegistryObjectList>
        </lcm:SubmitObjectsRequest>
        """;

    private static async Task<XElement> UpdateAsync(HttpClient http, string request, string security = "")
    {
        var (status, body, response) = await PostAsync(http, "/xds/registry/update", Envelope(UpdateAction, request, security));
        response.Dispose();
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        return body;
    }

    private static void Succeeded(XElement response) =>
        Assert.True(response.Attribute("status")?.Value == "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success", response.ToString());

    private static (string Code, string Text) Error(XElement response)
    {
        var e = response.Descendants(Rs + "RegistryError").Single();
        return (e.Attribute("errorCode")!.Value, e.Attribute("codeContext")!.Value);
    }

    private static async Task<List<string>> FoundAsync(HttpClient http, string ins, string status = $"('{Approved}')")
    {
        var (_, body) = await QueryAsync(http, FindDocuments(ins, status: status));
        return body.Descendants(Rim + "ExtrinsicObject").Select(e => e.Attribute("id")!.Value).ToList();
    }

    private static async Task<DocumentReference> MhdAsync(HttpClient http, string id)
    {
        using var read = await http.GetAsync($"/fhir/DocumentReference/{id}");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        return FhirJson.Parse<DocumentReference>(await read.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheAuthorMasksArchivesAndRestores_ThroughIti57_AndMhdSeesEachChange()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Roussel", "Agnès");
        var patient = await Server.AddPatientAsync(gp);
        var colleague = await Server.AddProfessionalAsync("10", "SM54", "Collègue", "Jean");
        using (var declared = await Server.Http(colleague.Certificate).PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(OpenDmp.Tests.Integration.TrustServicesTests.Declare("alleged", true))))
        {
            Assert.Equal(HttpStatusCode.Created, declared.StatusCode);
        }

        var http = Server.Http(gp.Certificate);
        var uniqueId = $"1.2.250.1.999.1.1.7898.57.{Random.Shared.Next(1, int.MaxValue)}";
        var (_, filed) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId, "CR à masquer")), SubmissionBuilder.MinimalPdf("CR"));
        Succeeded(filed);
        var (_, found) = await QueryAsync(http, GetDocuments(uniqueId));
        var entry = found.Descendants(Rim + "ExtrinsicObject").Single();
        var uuid = entry.Attribute("id")!.Value;
        var id = uuid["urn:uuid:".Length..];
        Assert.Equal("1", entry.Element(Rim + "VersionInfo")?.Attribute("versionName")?.Value);
        Assert.Contains(uuid, await FoundAsync(Server.Http(colleague.Certificate), patient.Ins));

        // Masking to professionals (MASQUE_PS added): the colleague no longer finds it, through XDS or MHD; the author still does.
        Succeeded(await UpdateAsync(http, MetadataUpdate(patient.Ins, gp.Rpps, uniqueId, "CR à masquer", uuid, "1", "MASQUE_PS")));
        Assert.DoesNotContain(uuid, await FoundAsync(Server.Http(colleague.Certificate), patient.Ins));
        Assert.Equal(HttpStatusCode.NotFound, (await Server.Http(colleague.Certificate).GetAsync($"/fhir/DocumentReference/{id}")).StatusCode);
        var masked = await MhdAsync(http, id);
        Assert.Contains(masked.SecurityLabel.SelectMany(l => l.Coding), c => c.Code == "MASQUE_PS");
        Assert.Equal("2", masked.Meta.VersionId);

        // A stale PreviousVersion, a changed title, another patient, a stranger, two changes at once: refused, nothing changed.
        var (code, text) = Error(await UpdateAsync(http, MetadataUpdate(patient.Ins, gp.Rpps, uniqueId, "CR à masquer", uuid, "1")));
        Assert.Equal("XDSMetadataVersionError", code);
        Assert.Contains("current version (2)", text, StringComparison.Ordinal);
        (code, text) = Error(await UpdateAsync(http, MetadataUpdate(patient.Ins, gp.Rpps, uniqueId, "Autre titre", uuid, "2")));
        Assert.Equal("XDSMetadataUpdateError", code);
        Assert.Contains("title must stay 'CR à masquer'", text, StringComparison.Ordinal);
        var other = await Server.AddPatientAsync(gp);
        (code, text) = Error(await UpdateAsync(http, StatusUpdate(other.Ins, uuid, Approved, Deprecated)));
        Assert.Contains("that you may see", text, StringComparison.Ordinal);
        (code, text) = Error(await UpdateAsync(Server.Http(colleague.Certificate), StatusUpdate(patient.Ins, uuid, Approved, Deprecated)));
        Assert.True(code == "XDSMetadataUpdateError" && !text.Contains("masked", StringComparison.Ordinal), text);
        var both = XElement.Parse(StatusUpdate(patient.Ins, uuid, Approved, Deprecated));
        both.Descendants(Rim + "RegistryObjectList").Single().Add(XElement.Parse(MetadataUpdate(patient.Ins, gp.Rpps, uniqueId, "CR à masquer", uuid, "2")).Descendants(Rim + "ExtrinsicObject").Single());
        (code, text) = Error(await UpdateAsync(http, both.ToString()));
        Assert.Contains("one change per ITI-57 request", text, StringComparison.Ordinal);
        Assert.Equal("2", (await MhdAsync(http, id)).Meta.VersionId);

        // Archiving (Approved → Deprecated) and back; MHD shows superseded, then current.
        (code, text) = Error(await UpdateAsync(http, StatusUpdate(patient.Ins, uuid, Deprecated, Approved)));
        Assert.Contains($"is not the entry's status ({Approved})", text, StringComparison.Ordinal);
        Succeeded(await UpdateAsync(http, StatusUpdate(patient.Ins, uuid, Approved, Deprecated)));
        Assert.Equal(DocumentReferenceStatus.Superseded, (await MhdAsync(http, id)).Status);
        Assert.DoesNotContain(uuid, await FoundAsync(http, patient.Ins));
        Assert.Contains(uuid, await FoundAsync(http, patient.Ins, $"('{Deprecated}')"));
        Succeeded(await UpdateAsync(http, StatusUpdate(patient.Ins, uuid, Deprecated, Approved)));
        Assert.Equal(DocumentReferenceStatus.Current, (await MhdAsync(http, id)).Status);

        // Unmasking (MASQUE_PS removed, at version 4): the colleague finds it again.
        Succeeded(await UpdateAsync(http, MetadataUpdate(patient.Ins, gp.Rpps, uniqueId, "CR à masquer", uuid, "4")));
        Assert.Contains(uuid, await FoundAsync(Server.Http(colleague.Certificate), patient.Ins));
        (code, text) = Error(await UpdateAsync(Server.Http(colleague.Certificate), StatusUpdate(patient.Ins, uuid, Approved, Deprecated)));
        Assert.Equal("XDSRegistryError", code);
        Assert.Contains("only the document's author or the treating physician", text, StringComparison.Ordinal);

        // The patient's trail names each change, by the author.
        var actions = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().AuditEntries.AsNoTracking()
            .Where(e => e.RecordId == patient.Id && e.ObjectId == id && e.Outcome == "success" && e.ActorId == gp.Id).OrderBy(e => e.Seq).Select(e => e.Action).ToListAsync());
        Assert.Equal(["create", "mask", "replace", "replace", "unmask"], actions.Where(a => a is not ("read" or "search")));

        // An addendum (APND) to it, filed through XDS, relates to it for MHD; a relation within the same submission is refused with the reason.
        var (_, appended) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId + ".1", "Addendum", replaces: uuid, relation: "APND")), SubmissionBuilder.MinimalPdf("Addendum"));
        Succeeded(appended);
        using (var search = await http.GetAsync($"/fhir/DocumentReference?patient={patient.Id}&identifier=urn:oid:{uniqueId}.1"))
        {
            var addendum = (DocumentReference)FhirJson.Parse<Bundle>(await search.Content.ReadAsStringAsync()).Entry.Single(e => e.Resource is DocumentReference).Resource;
            Assert.Equal((DocumentRelationshipType.Appends, "DocumentReference/" + id), (addendum.RelatesTo.Single().Code!.Value, addendum.RelatesTo.Single().Target.Reference));
        }

        Assert.Equal(DocumentReferenceStatus.Current, (await MhdAsync(http, id)).Status);

        // A signed submission set (IHE DSG): the signature is kept as its own document, and the registry gives back "signs" to the set.
        var (_, signature) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId + ".2", "Signature", replaces: "SubmissionSet01", relation: "signs")), SubmissionBuilder.MinimalPdf("Signature"));
        Succeeded(signature);
        var (_, signatureEntry) = await QueryAsync(http, GetDocuments(uniqueId + ".2"));
        var signatureUuid = signatureEntry.Descendants(Rim + "ExtrinsicObject").Single().Attribute("id")!.Value;
        var (_, associations) = await QueryAsync(http, GetAssociations(signatureUuid));
        var byType = associations.Descendants(Rim + "Association").ToDictionary(a => a.Attribute("associationType")!.Value, a => (Source: a.Attribute("sourceObject")!.Value, Target: a.Attribute("targetObject")!.Value));
        var set = byType["urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"].Source;
        Assert.Equal((signatureUuid, set), byType["urn:ihe:iti:2007:AssociationType:signs"]);

        // The same through MHD: the author masks with $mask; PATCH archives and restores.
        using (var mask = await http.PostAsync($"/fhir/DocumentReference/{id}/$mask", null))
        {
            Assert.Equal(HttpStatusCode.OK, mask.StatusCode);
        }

        Assert.DoesNotContain(uuid, await FoundAsync(Server.Http(colleague.Certificate), patient.Ins));
        using (var refused = await Server.Http(colleague.Certificate).PostAsync($"/fhir/DocumentReference/{id}/$unmask", null))
        {
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        }

        // Replaced (RPLC), it stays deprecated: restoring it is refused with the reason (and traced).
        var (_, replacement) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, gp.Rpps, uniqueId + ".3", "CR corrigé", replaces: uuid)), SubmissionBuilder.MinimalPdf("Corrigé"));
        Succeeded(replacement);
        (code, text) = Error(await UpdateAsync(http, StatusUpdate(patient.Ins, uuid, Deprecated, Approved)));
        Assert.Equal("XDSMetadataUpdateError", code);
        Assert.Contains("a replaced document stays superseded", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmergencyAssertedInTheVihf_IsDeclaredOnce_ReadOnly_Notified_AndConfinedToItsPatient()
    {
        var gp = await Server.AddProfessionalAsync("10", "SM54", "Traitant", "Hélène");
        var patient = await Server.AddPatientAsync(gp);
        var doc = await Server.SubmitAsync(gp, patient, new DocumentToSubmit("Allergie à la pénicilline"u8.ToArray(), "text/plain", "Allergies", FormatCode: "urn:ihe:iti:xds-sd:text:2008"));
        var other = await Server.AddPatientAsync(gp);
        var urgentist = await Server.AddProfessionalAsync("10", "SM54", "Urgentiste", "Marc");
        var (finess, structure, _) = await Server.AddStructureAsync("Service des urgences (test)");
        var http = Server.Http(structure);
        string Security(string purpose, string? ins)
        {
            var now = DateTimeOffset.UtcNow;
            var assertion = Vihfs.Assertion(new Vihfs.Vihf(urgentist.Rpps, "10", "1" + finess, Server.BaseUrl.TrimEnd('/'), now.AddMinutes(-1), now.AddMinutes(10), purpose, ins), structure);
            return $"<wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\">{assertion}</wsse:Security>";
        }

        async Task<XElement> FindAsync(string purpose, string? vihfIns, string queryIns)
        {
            var (status, body, response) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(queryIns), Security(purpose, vihfIns)));
            response.Dispose();
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            return body;
        }

        // A normal access without authorisation: refused.
        Assert.Equal("XDSRegistryError", Error(await FindAsync("normal", patient.Ins, patient.Ins)).Code);

        // Break-glass: the documents are found; one emergency grant of four hours, one notification.
        var body = await FindAsync("bris_de_glace", patient.Ins, patient.Ins);
        Assert.Equal(["urn:uuid:" + doc], body.Descendants(Rim + "ExtrinsicObject").Select(e => e.Attribute("id")!.Value));
        body = await FindAsync("bris_de_glace", patient.Ins, patient.Ins);
        Assert.Single(body.Descendants(Rim + "ExtrinsicObject"));
        var (grants, notifications) = await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            return (await db.Grants.AsNoTracking().Where(g => g.RecordId == patient.Id && g.HolderId == urgentist.Id).ToListAsync(),
                await db.Notifications.AsNoTracking().Where(n => n.RecordId == patient.Id && n.Kind == "emergency-access").CountAsync());
        });
        var grant = Assert.Single(grants);
        Assert.Equal("break-glass", grant.Mode);
        Assert.InRange((grant.End!.Value - grant.Start).TotalHours, 3.9, 4.1);
        Assert.Contains("VIHF", grant.Reason, StringComparison.Ordinal);
        Assert.True(notifications >= 1);

        // Read-only: filing under break-glass is refused by the policy.
        var (_, filed) = await ProvideAsync(http, Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", ProvideAndRegister(patient.Ins, urgentist.Rpps, $"1.2.250.1.999.1.1.7898.58.{Random.Shared.Next()}", "Intrus"), Security("bris_de_glace", patient.Ins)), SubmissionBuilder.MinimalPdf("x"));
        Assert.Contains("read-only", Error(filed).Text, StringComparison.Ordinal);

        // Confined to the patient of resource-id: another patient's record is refused, even in an emergency.
        Assert.Contains("another patient than the one its VIHF names", Error(await FindAsync("bris_de_glace", patient.Ins, other.Ins)).Text, StringComparison.Ordinal);

        // The same assertion twice: a replay, refused with a SOAP fault.
        var once = Security("normal", patient.Ins);
        (_, _, var first) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins), once));
        first.Dispose();
        var (replayStatus, replay, second) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins), once));
        second.Dispose();
        Assert.Equal(HttpStatusCode.Unauthorized, replayStatus);
        Assert.Contains("already used (replay)", Fault(replay), StringComparison.Ordinal);

        // An emergency without a named patient is refused outright.
        var (faultStatus, fault, response) = await PostAsync(http, "/xds/registry", Envelope("urn:ihe:iti:2007:RegistryStoredQuery", FindDocuments(patient.Ins), Security("centre_15", null)));
        response.Dispose();
        Assert.Equal(HttpStatusCode.Unauthorized, faultStatus);
        Assert.Contains("names its patient", Fault(fault), StringComparison.Ordinal);
    }
}

public sealed class XdsUpdateTests_Sqlite() : XdsUpdateTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class XdsUpdateTests_Postgres(PostgresCluster pg) : XdsUpdateTests(new PostgresStorage(pg, "xdsup"));
