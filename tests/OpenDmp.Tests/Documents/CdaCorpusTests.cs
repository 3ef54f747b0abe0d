using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Documents;

/// <summary>
/// The ANS's own CI-SIS example documents (TestData/ans-cda) filed by ITI-105 Simplified Publish with
/// no metadata supplied: everything comes from the CDA header. Then found by type, class and date,
/// retrieved byte-exact, and shown as HTML in both portals.
/// </summary>
public abstract class CdaCorpusTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "TestData", "ans-cda");

    /// <summary>The example patient of the ANS documents (test INS, valid key).</summary>
    internal static readonly NewPatient Dominique = new("279035121518989", Ins.TestSystem, "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", new DateOnly(1979, 3, 28), "F", null);

    /// <summary>File → (type, class, format) the header must give.</summary>
    public static TheoryData<string, string, string, string> Corpus => new()
    {
        { "VSM_1.4_2022.01.xml", "SYNTH", "11", "urn:asip:ci-sis:vsm:2012" },
        { "BIO-CR-BIO_2024.01_DEP-CCU-tout-structuré.xml", "11502-2", "10", "urn:ihe:lab:xd-lab:2008" },
        { "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml", "11502-2", "10", "urn:ihe:iti:xds-sd:pdf:2008" },
        { "BIO-CR-BIO_2021.01_Auto-Presentable.xml", "11502-2", "10", "urn:ihe:lab:xd-lab:2008" },
        { "LDL-SES_2022.01.xml", "11490-0", "10", "urn:asip:ci-sis:ldl-ses:2017" },
        { "IMG_CR_IMG_2024.01.xml", "18748-4", "31", "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013" },
        { "DOC_NON_STRUCTURE_CDA-R2-N1.xml", "11502-2", "10", "urn:ihe:iti:xds-sd:pdf:2008" },
        { "VAC_2023.01.xml", "11369-6", "52", "urn:asip:ci-sis:vac:2019" },
        { "eP-MED-DM_2024.01_PosoStruct.xml", "57833-6", "42", "urn:ihe:pharm:pre:2010" },
        { "IPS-FR_2024.01.xml", "60591-5", "11", "urn:ihe:pcc:ips:2020" },
        { "TLM-CR_2022.01.xml", "85208-7", "10", "urn:ihe:iti:xds-sd:pdf:2008" },
    };

    /// <summary>A DocumentReference that gives nothing but the bytes, their media type and the status FHIR requires.</summary>
    private static DocumentReference Bare(byte[] cda) =>
        new() { Status = DocumentReferenceStatus.Current, Content = [new DocumentReference.ContentComponent { Attachment = new Attachment { ContentType = "text/xml", Data = cda } }] };

    private async Task<(TestProfessional Gp, TestPatient Patient)> SetUpAsync()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(Dominique, gp);

        // IMG and IPS replace earlier versions (relatedDocument RPLC): they are in the record first.
        foreach (var previous in new[] { "90E1C8EC-F951-4B26-A305-A34848818DD6", "8D5E778C-E155-4685-95C6-5FF65A362964" })
        {
            var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes("version précédente"), "text/plain", "Version précédente", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
            bundle.Entry.Select(e => e.Resource).OfType<DocumentReference>().Single().MasterIdentifier = new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + previous.ToLowerInvariant());
            using var filed = await Server.Http(gp.Certificate).PostAsync("/fhir", FhirAssert.Json(bundle));
            Assert.Equal(HttpStatusCode.OK, filed.StatusCode);
        }

        return (gp, patient);
    }

    [Fact]
    public async Task TheAnsExamples_FiledWithNoMetadata_AreFoundRetrievedAndShown()
    {
        var (gp, patient) = await SetUpAsync();
        var http = Server.Http(gp.Certificate);
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in Corpus)
        {
            var (file, type, cls, format) = ((string)row[0], (string)row[1], (string)row[2], (string)row[3]);
            var bytes = await File.ReadAllBytesAsync(Path.Combine(Dir, file));
            using var response = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(Bare(bytes)));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{file}: {body}");
            var doc = FhirJson.Parse<DocumentReference>(body);
            Assert.Equal($"{Server.FhirBase}/DocumentReference/{doc.Id}/_history/1", response.Headers.Location?.ToString());
            Assert.Equal(type, doc.Type.Coding[0].Code);
            Assert.Equal(cls, doc.Category[0].Coding[0].Code);
            Assert.Equal(format, doc.Content[0].Format.Code);
            Assert.NotNull(doc.Context.FacilityType.Coding[0].Code);
            Assert.NotNull(doc.Context.PracticeSetting.Coding[0].Code);
            Assert.Equal(Rpps.IdNatPsSystem, doc.Contained.OfType<PractitionerRole>().Single().Identifier[0].System);
            ids[file] = doc.Id!;

            // Byte-exact retrieval (ITI-68).
            using var retrieve = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Binary/{doc.Id}");
            retrieve.Headers.Accept.ParseAdd("text/xml");
            using var content = await http.SendAsync(retrieve);
            Assert.Equal(bytes, await content.Content.ReadAsByteArrayAsync());
        }

        // IMG and IPS replaced their earlier versions.
        var superseded = FhirJson.Parse<Bundle>(await http.GetStringAsync($"/fhir/DocumentReference?patient={patient.Id}&status=superseded"));
        Assert.Equal(2, superseded.Entry.Count);

        // Found by type, class and date.
        Assert.Equal(4, await CountAsync(http, patient, "type=http://loinc.org|11502-2"));
        Assert.Equal(2, await CountAsync(http, patient, "category=" + Terminology.ClassSystem + "|11"));
        Assert.Equal(2, await CountAsync(http, patient, "date=ge2024-01-01"));

        // Shown as HTML in both portals: the header's title and a section, never the XML.
        var (_, cookie) = await Server.LoginPatientAsync(patient);
        var patientPortal = Server.Http(null);
        patientPortal.DefaultRequestHeaders.Add("Cookie", cookie);
        foreach (var (file, id) in ids)
        {
            var pro = await Server.Http(gp.Certificate).GetStringAsync($"/pro/patients/{patient.Id}/documents/{id}");
            var own = await patientPortal.GetStringAsync($"/patient/documents/{id}");
            foreach (var html in new[] { pro, own })
            {
                Assert.Contains("<article class=\"cda\">", html, StringComparison.Ordinal);
                Assert.DoesNotContain("&lt;ClinicalDocument", html, StringComparison.Ordinal);
            }
        }

        var bio = await Server.Http(gp.Certificate).GetStringAsync($"/pro/patients/{patient.Id}/documents/{ids["BIO-CR-BIO_2021.01_Auto-Presentable.xml"]}");
        Assert.Contains("<table>", bio, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWrongIns_OrTraitsThatDiffer_Are422NamingTheHeaderElement_NothingWritten()
    {
        var (gp, patient) = await SetUpAsync();
        var http = Server.Http(gp.Certificate);
        var before = await Server.CountDocumentsAsync();

        // The CSE-MDE example's INS has a wrong check key (the ANS example's erratum).
        var cse = await File.ReadAllBytesAsync(Path.Combine(Dir, "CSE-MDE_2023.01.xml"));
        using (var refused = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(Bare(cse))))
        {
            var oo = await FhirAssert.OutcomeAsync(refused, HttpStatusCode.UnprocessableEntity, "recordTarget/patientRole/id");
            Assert.Contains("recordTarget/patientRole/id", oo.Issue[0].Expression);
        }

        // Corrected and registered, it files (type 29274-8 → class 10, format cse-mde).
        var corrected = Ins.WithKey("2221275056112");
        var child = await Server.AddPatientAsync(new NewPatient(corrected, Ins.NirSystem, "DECOURCY", "Ruth Isabelle", new DateOnly(2022, 12, 25), "F", null), gp);
        var fixedCse = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(cse).Replace("222127505611201", corrected, StringComparison.Ordinal));
        using (var filed = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(Bare(fixedCse))))
        {
            var body = await filed.Content.ReadAsStringAsync();
            Assert.True(filed.StatusCode == HttpStatusCode.Created, body);
            var cseDoc = FhirJson.Parse<DocumentReference>(body);
            Assert.Equal("urn:ans:ci-sis:cse-mde:2023", cseDoc.Content[0].Format.Code);
            var page = await Server.Http(gp.Certificate).GetStringAsync($"/pro/patients/{child.Id}/documents/{cseDoc.Id}");
            Assert.Contains("<article class=\"cda\">", page, StringComparison.Ordinal);
        }

        // A birth date that differs from the registered identity.
        var vsm = Encoding.UTF8.GetString(await File.ReadAllBytesAsync(Path.Combine(Dir, "VSM_1.4_2022.01.xml")));
        using (var wrongBirth = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(Bare(Encoding.UTF8.GetBytes(vsm.Replace("<birthTime value=\"19790328\"/>", "<birthTime value=\"19790329\"/>", StringComparison.Ordinal))))))
        {
            var oo = await FhirAssert.OutcomeAsync(wrongBirth, HttpStatusCode.UnprocessableEntity, "birth date differs");
            Assert.Contains("recordTarget/patientRole/patient/birthTime", oo.Issue[0].Expression);
        }

        // A header without its facility type, and a DocumentReference that does not give it either.
        var noFacility = vsm.Replace("<code code=\"SA04\"", "<code nullFlavor=\"UNK\" codeX=\"SA04\"", StringComparison.Ordinal);
        using (var missing = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(Bare(Encoding.UTF8.GetBytes(noFacility)))))
        {
            await FhirAssert.OutcomeAsync(missing, HttpStatusCode.UnprocessableEntity, "componentOf/encompassingEncounter/location/healthCareFacility/code is missing");
        }

        // A DocumentReference element wins over the header: the type given here is kept.
        var given = Bare(Encoding.UTF8.GetBytes(vsm));
        given.Type = new CodeableConcept(Terminology.Loinc, "34133-9");
        using (var kept = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(given)))
        {
            var body = await kept.Content.ReadAsStringAsync();
            Assert.True(kept.StatusCode == HttpStatusCode.Created, body);
            Assert.Equal("34133-9", FhirJson.Parse<DocumentReference>(body).Type.Coding[0].Code);
        }

        Assert.Equal(before + 2, await Server.CountDocumentsAsync());
    }

    private static async Task<int> CountAsync(HttpClient http, TestPatient patient, string query) =>
        FhirJson.Parse<Bundle>(await http.GetStringAsync($"/fhir/DocumentReference?patient={patient.Id}&status=current&{query}")).Entry.Count;
}

public sealed class CdaCorpusTests_Sqlite() : CdaCorpusTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class CdaCorpusTests_Postgres(PostgresCluster pg) : CdaCorpusTests(new PostgresStorage(pg, "cdacorpus"));
