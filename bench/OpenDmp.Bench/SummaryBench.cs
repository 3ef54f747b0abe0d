using System.Diagnostics;
using System.Globalization;
using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 14's synthesis benchmark: a record with 500 documents, 2,000 results, 200 medication lines
/// and 20 stays, all filed through the API (ITI-65, as software does), then GET Patient/[id]/$summary
/// timed for the treating physician (every section) and for a pharmacist (the matrix applied).
/// </summary>
internal static class SummaryBench
{
    private const int Stays = 20;
    private const int Prescriptions = 40;
    private const int LinesPerPrescription = 5;
    private const int Reports = 100;
    private const int ResultsPerReport = 20;
    private const int Documents = 500;

    private static readonly string[] Tests = ["2345-7", "4548-4", "2160-0", "2093-3", "2571-8", "718-7", "6690-2", "777-3", "1742-6", "1920-8", "2951-2", "2823-3", "3016-3", "14749-6", "2085-9", "13457-7", "33914-3", "17861-6", "2000-8", "1975-2"];

    public static async System.Threading.Tasks.Task RunAsync(HttpClient gp, HttpClient pharmacist, string gpRpps, string patientId, int requests)
    {
        var patient = "Patient/" + patientId;
        var seed = Stopwatch.StartNew();
        var documents = 0;
        var r = new Random(14);

        async System.Threading.Tasks.Task PostAsync(Bundle bundle)
        {
            using var response = await gp.PostAsync("/fhir", new StringContent(FhirJson.Serialize(bundle), Encoding.UTF8, "application/fhir+json"));
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"seeding failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            }

            documents += bundle.Entry.Count(e => e.Resource is DocumentReference);
        }

        DocumentToSubmit Pdf(string title, string type, string cls, DateTimeOffset date) =>
            new(SubmissionBuilder.MinimalPdf(title), "application/pdf", title, TypeCode: type, ClassCode: cls, Date: date);

        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < Stays; i++)
        {
            var start = now.AddDays(-30 * (i + 1));
            var bundle = SubmissionBuilder.Build(patient, gpRpps, "Claire Martin", [Pdf("Lettre de liaison", "11490-0", "10", start.AddDays(5))]);
            var stayUrl = "urn:uuid:" + Guid.NewGuid();
            var mainUrl = "urn:uuid:" + Guid.NewGuid();
            var otherUrl = "urn:uuid:" + Guid.NewGuid();
            Add(bundle, stayUrl, new Encounter
            {
                Status = Encounter.EncounterStatus.Finished,
                Class = new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP"),
                Subject = new ResourceReference(patient),
                Period = new Period { Start = start.ToString("o", CultureInfo.InvariantCulture), End = start.AddDays(5).ToString("o", CultureInfo.InvariantCulture) },
                ServiceProvider = new ResourceReference { Display = "CH " + i.ToString(CultureInfo.InvariantCulture) },
                Diagnosis = [new Encounter.DiagnosisComponent { Condition = new ResourceReference(mainUrl), Rank = 1 }, new Encounter.DiagnosisComponent { Condition = new ResourceReference(otherUrl), Rank = 2 }],
            });
            Add(bundle, mainUrl, new Condition { Subject = new ResourceReference(patient), Code = new CodeableConcept(OpenDmp.Core.Clinical.Stays.Cim10, "I" + (10 + i).ToString(CultureInfo.InvariantCulture), "Diagnostic " + i.ToString(CultureInfo.InvariantCulture)), Encounter = new ResourceReference(stayUrl) });
            Add(bundle, otherUrl, new Condition { Subject = new ResourceReference(patient), Code = new CodeableConcept(OpenDmp.Core.Clinical.Stays.Cim10, "E11.9", "Diabète de type 2"), Encounter = new ResourceReference(stayUrl) });
            Add(bundle, "urn:uuid:" + Guid.NewGuid(), new Procedure { Status = EventStatus.Completed, Subject = new ResourceReference(patient), Code = new CodeableConcept(OpenDmp.Core.Clinical.Stays.Ccam, "DEQP003", "ECG"), Performed = new FhirDateTime(start.AddDays(1)), Encounter = new ResourceReference(stayUrl) });
            await PostAsync(bundle);
        }

        for (var i = 0; i < Prescriptions; i++)
        {
            var date = now.AddDays(-7 * i);
            var bundle = SubmissionBuilder.Build(patient, gpRpps, "Claire Martin", [Pdf("Ordonnance", "57833-6", "42", date)]);
            for (var l = 0; l < LinesPerPrescription; l++)
            {
                var code = (100000090000 + r.Next(60)).ToString(CultureInfo.InvariantCulture);
                Add(bundle, "urn:uuid:" + Guid.NewGuid(), new MedicationRequest
                {
                    Status = MedicationRequest.MedicationrequestStatus.Active,
                    Intent = MedicationRequest.MedicationRequestIntent.Order,
                    Subject = new ResourceReference(patient),
                    Medication = new CodeableConcept(OpenDmp.Core.Clinical.Prescriptions.SubstanceSystem, code, "Substance " + code),
                    AuthoredOn = date.ToString("o", CultureInfo.InvariantCulture),
                    DispenseRequest = new MedicationRequest.DispenseRequestComponent { Quantity = new Quantity(30, "comprimé"), NumberOfRepeatsAllowed = 2 },
                });
            }

            await PostAsync(bundle);
        }

        for (var i = 0; i < Reports; i++)
        {
            var date = now.AddDays(-3 * i);
            var bundle = SubmissionBuilder.Build(patient, gpRpps, "Claire Martin", [Pdf("CR de biologie", "11502-2", "10", date)]);
            for (var k = 0; k < ResultsPerReport; k++)
            {
                Add(bundle, "urn:uuid:" + Guid.NewGuid(), new Observation
                {
                    Status = ObservationStatus.Final,
                    Code = new CodeableConcept("http://loinc.org", Tests[k], "Test " + Tests[k]),
                    Subject = new ResourceReference(patient),
                    Effective = new FhirDateTime(date),
                    Value = new Quantity { Value = (decimal)(1 + (r.NextDouble() * 10)), Unit = "mmol/L", Code = "mmol/L", System = "http://unitsofmeasure.org" },
                });
            }

            await PostAsync(bundle);
        }

        while (documents < Documents)
        {
            var batch = Math.Min(10, Documents - documents);
            await PostAsync(SubmissionBuilder.Build(patient, gpRpps, "Claire Martin", Enumerable.Range(0, batch).Select(k => Pdf("Compte rendu", "11488-4", "10", now.AddDays(-r.Next(1, 3000)))).ToList()));
        }

        Console.WriteLine($"summary record seeded through the API: {documents} documents, {Reports * ResultsPerReport} results, {Prescriptions * LinesPerPrescription} medication lines, {Stays} stays in {seed.Elapsed.TotalSeconds:F1} s");

        var declare = new Parameters();
        declare.Add("mode", new Code("alleged"));
        declare.Add("confirm", new FhirBoolean(true));
        using (var declared = await pharmacist.PostAsync($"/fhir/Patient/{patientId}/$declare-access", new StringContent(FhirJson.Serialize(declare), Encoding.UTF8, "application/fhir+json")))
        {
            if (!declared.IsSuccessStatusCode)
            {
                throw new InvalidOperationException("$declare-access failed: " + await declared.Content.ReadAsStringAsync());
            }
        }

        async Task<(List<double> Latencies, int Bytes, int Sections)> TimeAsync(HttpClient client, int n)
        {
            var lat = new List<double>(n);
            var bytes = 0;
            var sections = 0;
            for (var i = 0; i < n; i++)
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await client.GetAsync($"/fhir/Patient/{patientId}/$summary");
                var body = await response.Content.ReadAsByteArrayAsync();
                lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"$summary failed: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)}");
                }

                if (i == 0)
                {
                    bytes = body.Length;
                    sections = FhirJson.Parse<Bundle>(Encoding.UTF8.GetString(body)).Entry[0].Resource is Composition c ? c.Section.Count : 0;
                }
            }

            lat.Sort();
            return (lat, bytes, sections);
        }

        await TimeAsync(gp, 30);
        await TimeAsync(pharmacist, 30);
        var n = Math.Max(100, requests / 4);
        var full = await TimeAsync(gp, n);
        Console.WriteLine($"$summary, treating physician (all sections: {full.Sections}, {full.Bytes / 1024.0:F0} KB), 1 client: p50 {BenchSupport.P(full.Latencies, 50):F1} ms, p95 {BenchSupport.P(full.Latencies, 95):F1} ms, p99 {BenchSupport.P(full.Latencies, 99):F1} ms ({n} requests)");
        var matrix = await TimeAsync(pharmacist, n);
        Console.WriteLine($"$summary, pharmacist (matrix applied: {matrix.Sections} sections, {matrix.Bytes / 1024.0:F0} KB), 1 client: p50 {BenchSupport.P(matrix.Latencies, 50):F1} ms, p95 {BenchSupport.P(matrix.Latencies, 95):F1} ms, p99 {BenchSupport.P(matrix.Latencies, 99):F1} ms ({n} requests)");
    }

    private static void Add(Bundle bundle, string fullUrl, Resource resource) =>
        bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = fullUrl, Resource = resource, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = resource.TypeName } });
}
