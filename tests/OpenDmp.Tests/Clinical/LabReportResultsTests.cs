using System.Net;
using System.Text;
using Hl7.Fhir.Model;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
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

    private static Observation Result(TestPatient patient, string code, string display, decimal value, string unit, DateTimeOffset when) => new()
    {
        Status = ObservationStatus.Final,
        Category = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")],
        Code = new CodeableConcept("http://loinc.org", code, display),
        Subject = new ResourceReference(patient.Reference),
        Effective = new FhirDateTime(when),
        Value = new Quantity { Value = value, Unit = unit, Code = unit, System = "http://unitsofmeasure.org" },
        ReferenceRange = [new Observation.ReferenceRangeComponent { Low = new Quantity { Value = 0.7m, Unit = "g/L", Code = "g/L", System = "http://unitsofmeasure.org" }, High = new Quantity { Value = 1.1m, Unit = "g/L", Code = "g/L", System = "http://unitsofmeasure.org" } }],
        Interpretation = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "N")],
    };

    [Fact]
    public async Task Laboratories_WriteResults_AloneOrWithTheirReport_AndTheCurveConvertsTheirUnits()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var lab = await Server.AddProfessionalAsync("21", null, "Biolo", "Gisèle");
        var labHttp = Server.Http(lab.Certificate);
        using (var declared = await labHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        // Alone, in g/L.
        using (var alone = await labHttp.PostAsync("/fhir/Observation", FhirAssert.Json(Result(patient, "2345-7", "Glucose", 0.95m, "g/L", DateTimeOffset.UtcNow.AddDays(-30)))))
        {
            var body = await alone.Content.ReadAsStringAsync();
            Assert.True(alone.StatusCode == HttpStatusCode.Created, body);
            Assert.EndsWith("/_history/1", alone.Headers.Location!.ToString(), StringComparison.Ordinal);
        }

        // With the report, in mg/dL, in one transaction: linked to it.
        var bundle = SubmissionBuilder.Build(patient.Reference, lab.Rpps, lab.Display,
            [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR de biologie"), "application/pdf", "CR de biologie", TypeCode: "11502-2", ClassCode: "10")])
            .WithEntries(Result(patient, "2345-7", "Glucose", 102m, "mg/dL", DateTimeOffset.UtcNow.AddDays(-2)), Result(patient, "2345-7", "Glucose", 88m, "mg/dL", DateTimeOffset.UtcNow.AddDays(-60)));
        var response = await Server.Fhir(lab.Certificate).TransactionAsync(bundle);
        var reportId = response!.Entry.Select(e => e.Response.Location).First(l => l.StartsWith("DocumentReference/", StringComparison.Ordinal)).Split('/')[1];
        Assert.Equal(2, response.Entry.Count(e => e.Response.Location.StartsWith("Observation/", StringComparison.Ordinal)));

        var gpHttp = Server.Http(gp.Certificate);
        var all = (await SearchAsync(gpHttp, $"patient={patient.Id}&code=http://loinc.org|2345-7&category=laboratory")).Entry.Select(e => (Observation)e.Resource!).ToList();
        Assert.Equal(3, all.Count);
        Assert.Equal(2, all.Count(o => o.DerivedFrom.Any(d => d.Reference == "DocumentReference/" + reportId)));
        Assert.Single((await SearchAsync(gpHttp, $"patient={patient.Id}&code=2345-7&date=ge{DateTimeOffset.UtcNow.AddDays(-10):yyyy-MM-dd}")).Entry);

        // One curve in the latest unit (mg/dL): 0.95 g/L is 95 mg/dL.
        var series = await Server.WithScopeAsync(sp => sp.GetRequiredService<ObservationQueries>().NumericSeriesAsync(patient.Id, new Actor(ActorKind.Professional, gp.Id, gp.Display, "10"), Channels.Portal, CancellationToken.None));
        var glucose = Assert.Single(series, s => s.Code == "2345-7");
        Assert.Equal("mg/dL", glucose.Unit);
        Assert.Equal([88, 95, 102], glucose.Points.Select(p => Math.Round(p.Value, 6)));

        // The patient sees them too.
        var (patientHttp, _) = await Server.LoginPatientAsync(patient);
        Assert.Equal(3, (await SearchAsync(patientHttp, $"patient={patient.Id}&code=2345-7")).Entry.Count);

        // Bad input is a 422 naming the element; a profession without biology may not write results.
        var noUcum = Result(patient, "2345-7", "Glucose", 1m, "g/L", DateTimeOffset.UtcNow);
        ((Quantity)noUcum.Value).System = "http://example.org/units";
        using (var bad = await labHttp.PostAsync("/fhir/Observation", FhirAssert.Json(noUcum)))
        {
            await FhirAssert.OutcomeAsync(bad, HttpStatusCode.UnprocessableEntity, "UCUM");
        }

        var physio = await Server.AddProfessionalAsync("70", null, "Kine", "Marc");
        var physioHttp = Server.Http(physio.Certificate);
        using (var declared = await physioHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        using (var refused = await physioHttp.PostAsync("/fhir/Observation", FhirAssert.Json(Result(patient, "2345-7", "Glucose", 1m, "g/L", DateTimeOffset.UtcNow))))
        {
            await FhirAssert.OutcomeAsync(refused, HttpStatusCode.Forbidden, "may not write biology results");
        }

        // Masking the report hides its results from other professionals; the result written alone stays.
        using (var masked = await patientHttp.PostAsync($"/fhir/DocumentReference/{reportId}/$mask", FhirAssert.Json(new Parameters())))
        {
            Assert.True(masked.IsSuccessStatusCode, await masked.Content.ReadAsStringAsync());
        }

        // Seen by a physician with an ordinary access (neither the treating physician nor the report's author).
        var other = await Server.AddProfessionalAsync();
        var otherHttp = Server.Http(other.Certificate);
        using (var declared = await otherHttp.PostAsync($"/fhir/Patient/{patient.Id}/$declare-access", FhirAssert.Json(TrustServicesTests.Declare("alleged", true))))
        {
            Assert.True(declared.IsSuccessStatusCode, await declared.Content.ReadAsStringAsync());
        }

        var seen = (await SearchAsync(otherHttp, $"patient={patient.Id}&code=2345-7")).Entry;
        Assert.Single(seen);
        Assert.Empty(((Observation)seen[0].Resource!).DerivedFrom);
    }
}

public sealed class LabReportResultsTests_Sqlite() : LabReportResultsTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class LabReportResultsTests_Postgres(PostgresCluster pg) : LabReportResultsTests(new PostgresStorage(pg, "labresults"));
