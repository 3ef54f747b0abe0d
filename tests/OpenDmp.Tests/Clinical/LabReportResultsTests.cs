using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Tests.Infrastructure;
using OpenDmp.Tests.Integration;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Clinical;

/// <summary>
/// A CI-SIS lab report (CR-BIO) yields its coded results as Observations derived from it: searchable,
/// curved, and seen only by whoever may see the report (masked or erased with it).
/// </summary>
public abstract class LabReportResultsTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    private static readonly NewPatient Dominique = new("279035121518989", Ins.TestSystem, "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", new DateOnly(1979, 3, 28), "F", null);

    /// <summary>The ANS CR-BIO example with two numeric glucose results added (the example itself has coded results only).</summary>
    private static byte[] LabReport()
    {
        var xml = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "ans-cda", "BIO-CR-BIO_2024.01_DEP-CCU-tout-structuré.xml"));
        const string Glucose = """
            <component><section><code code="18719-5" codeSystem="2.16.840.1.113883.6.1" displayName="Chimie"/><title>Biochimie</title>
            <entry><observation classCode="OBS" moodCode="EVN"><code code="2345-7" codeSystem="2.16.840.1.113883.6.1" displayName="Glucose"/><statusCode code="completed"/>
            <effectiveTime value="20240104092200+0100"/><value xsi:type="PQ" value="5.4" unit="mmol/L"/><interpretationCode code="N" codeSystem="2.16.840.1.113883.5.83"/>
            <referenceRange><observationRange><value xsi:type="IVL_PQ"><low value="3.9" unit="mmol/L"/><high value="5.5" unit="mmol/L"/></value></observationRange></referenceRange></observation></entry>
            <entry><observation classCode="OBS" moodCode="EVN"><code code="2345-7" codeSystem="2.16.840.1.113883.6.1" displayName="Glucose"/><statusCode code="completed"/>
            <effectiveTime value="20231204092200+0100"/><value xsi:type="PQ" value="6.1" unit="mmol/L"/><interpretationCode code="H" codeSystem="2.16.840.1.113883.5.83"/></observation></entry>
            </section></component>
            """;
        return Encoding.UTF8.GetBytes(xml.Replace("</structuredBody>", Glucose + "</structuredBody>", StringComparison.Ordinal));
    }

    private static async Task<Bundle> SearchAsync(HttpClient http, string query)
    {
        using var response = await http.GetAsync("/fhir/Observation?" + query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return FhirJson.Parse<Bundle>(body);
    }

    [Fact]
    public async Task ALabReport_YieldsItsResults_ThatCurve_AndFollowTheReportsVisibility()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(Dominique, gp);
        var http = Server.Http(gp.Certificate);
        using var filed = await http.PostAsync("/fhir/DocumentReference", FhirAssert.Json(new DocumentReference
        {
            Status = DocumentReferenceStatus.Current,
            Content = [new DocumentReference.ContentComponent { Attachment = new Attachment { ContentType = "text/xml", Data = LabReport() } }],
        }));
        var body = await filed.Content.ReadAsStringAsync();
        Assert.True(filed.StatusCode == HttpStatusCode.Created, body);
        var reportId = FhirJson.Parse<DocumentReference>(body).Id;

        // Numeric results with unit, range and interpretation, derived from the report; coded ones too.
        var glucose = (await SearchAsync(http, $"patient={patient.Id}&code=http://loinc.org|2345-7")).Entry.Select(e => (Observation)e.Resource).ToList();
        Assert.Equal(2, glucose.Count);
        var latest = glucose.Single(o => ((Quantity)o.Value).Value == 5.4m);
        Assert.Equal(("mmol/L", "http://unitsofmeasure.org"), (((Quantity)latest.Value).Code, ((Quantity)latest.Value).System));
        Assert.Equal(3.9m, latest.ReferenceRange.Single().Low.Value);
        Assert.Equal("DocumentReference/" + reportId, latest.DerivedFrom.Single().Reference);
        Assert.Equal(2, (await SearchAsync(http, $"patient={patient.Id}&code=77379-6")).Entry.Count);

        // The curve (professional synthesis, patient space) has both points in time order.
        var series = await Server.WithScopeAsync(sp => sp.GetRequiredService<ObservationQueries>().NumericSeriesAsync(patient.Id, new Actor(ActorKind.Professional, gp.Id, gp.Display, "10"), Channels.Portal, CancellationToken.None));
        Assert.Equal([6.1, 5.4], series.Single(s => s.Code == "2345-7").Points.Select(p => p.Value));

        // Masked by the patient: a professional with an ordinary access no longer sees the results; the treating physician does.
        var other = await Server.AddProfessionalAsync();
        var otherHttp = Server.Http(other.Certificate);
        using (var declared = await otherHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, (await SearchAsync(otherHttp, $"patient={patient.Id}&code=2345-7")).Entry.Count);
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        using (var masked = await patientHttp.PostAsync($"/fhir/DocumentReference/{reportId}/$mask", FhirAssert.Json(new Parameters())))
        {
            Assert.True(masked.IsSuccessStatusCode, await masked.Content.ReadAsStringAsync());
        }

        Assert.Empty((await SearchAsync(otherHttp, $"patient={patient.Id}&code=2345-7")).Entry);
        Assert.Equal(2, (await SearchAsync(http, $"patient={patient.Id}&code=2345-7")).Entry.Count);

        // Erased: nobody sees them any more.
        using (var erased = await http.PostAsync($"/fhir/DocumentReference/{reportId}/$erase", FhirAssert.Json(new Parameters())))
        {
            Assert.True(erased.IsSuccessStatusCode, await erased.Content.ReadAsStringAsync());
        }

        Assert.Empty((await SearchAsync(http, $"patient={patient.Id}&code=2345-7")).Entry);
        Assert.Empty((await SearchAsync(patientHttp, $"patient={patient.Id}&code=2345-7")).Entry);
    }
}

public sealed class LabReportResultsTests_Sqlite() : LabReportResultsTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class LabReportResultsTests_Postgres(PostgresCluster pg) : LabReportResultsTests(new PostgresStorage(pg, "labresults"));
