using System.Diagnostics;
using System.Globalization;
using System.Text;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Bench;

/// <summary>
/// The load the driver applies, the same against OpenDMP and against a peer (bench/peers.sh):
/// ITI-65 transactions (SubmissionSet List, DocumentReference, Binary of random bytes), a
/// patient's first page of DocumentReferences, and DocumentReference reads by id, each by
/// several concurrent clients over one <see cref="HttpClient"/>.
/// </summary>
internal sealed class Workload(HttpClient http, int clients, int documentBytes, string gpRpps)
{
    public sealed record IngestResult(int Count, TimeSpan Elapsed, List<double> Latencies, int Failures)
    {
        public double Rate => Count / Elapsed.TotalSeconds;
    }

    /// <summary>One ingest pass over a plan of patients (one document each); stops at the end of the plan or at the deadline.</summary>
    public async Task<IngestResult> IngestAsync(IReadOnlyList<string> work, TimeSpan? deadline)
    {
        var next = -1;
        var done = 0;
        var latencies = new List<double>[clients];
        var failures = 0;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var lat = latencies[c] = new List<double>(work.Count / clients + 1);
            var rnd = new Random(c);
            var content = new byte[documentBytes];
            // The client must stay cheap (it shares the 2 cores with the server): one bundle is built
            // with Firely, then each request substitutes the patient, ids, date, content and hash.
            var templateBundle = SubmissionBuilder.Build("Patient/@PATIENT@", gpRpps, "Claire Martin", [new DocumentToSubmit(content, "application/pdf", "Compte rendu", Date: new DateTimeOffset(2015, 1, 1, 0, 0, 0, TimeSpan.Zero))]);
            var templateMaster = templateBundle.Entry.Select(e => e.Resource).OfType<Hl7.Fhir.Model.DocumentReference>().Single().MasterIdentifier!.Value!;
            var templateListId = templateBundle.Entry.Select(e => e.Resource).OfType<Hl7.Fhir.Model.List>().Single().Identifier[0].Value!;
            var template = FhirJson.Serialize(templateBundle);
            var templateData = Convert.ToBase64String(content);
            var templateHash = Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(content));
            int i;
            while ((i = Interlocked.Increment(ref next)) < work.Count && (deadline is null || watch.Elapsed < deadline))
            {
                rnd.NextBytes(content);
                var when = new DateTimeOffset(2015, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(rnd.Next(0, 5_000_000));
                var json = new StringBuilder(template)
                    .Replace("@PATIENT@", work[i])
                    .Replace(templateMaster, "urn:uuid:" + Guid.NewGuid())
                    .Replace(templateListId, "urn:uuid:" + Guid.NewGuid())
                    .Replace(templateData, Convert.ToBase64String(content))
                    .Replace(templateHash, Convert.ToBase64String(System.Security.Cryptography.SHA1.HashData(content)))
                    .Replace("2015-01-01T00:00:00+00:00", when.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture))
                    .ToString();
                using var body = new StringContent(json, Encoding.UTF8, "application/fhir+json");
                var t = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync("/fhir", body);
                lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                Interlocked.Increment(ref done);
                if (!response.IsSuccessStatusCode)
                {
                    if (Interlocked.Increment(ref failures) < 5)
                    {
                        Console.Error.WriteLine($"ITI-65 failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }
                }
            }
        }));
        watch.Stop();
        return new IngestResult(done, watch.Elapsed, latencies.SelectMany(x => x).Order().ToList(), failures);
    }

    /// <summary>The same GET repeated, <paramref name="requests"/> in all by <paramref name="searchClients"/> clients; the sorted latencies.</summary>
    public async Task<List<double>> SearchAsync(string query, int requests, int searchClients)
    {
        var results = new List<double>[searchClients];
        var n = -1;
        await Task.WhenAll(Enumerable.Range(0, searchClients).Select(async c =>
        {
            var lat = results[c] = [];
            while (Interlocked.Increment(ref n) < requests)
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync(query);
                var bytes = await response.Content.ReadAsByteArrayAsync();
                lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"search failed: {(int)response.StatusCode} {Encoding.UTF8.GetString(bytes)}");
                }
            }
        }));
        return results.SelectMany(x => x).Order().ToList();
    }

    /// <summary>DocumentReference reads by id, round robin over <paramref name="ids"/>; the rate and the sorted latencies.</summary>
    public async Task<(double Rate, List<double> Latencies)> ReadByIdAsync(IReadOnlyList<string> ids, int reads)
    {
        var n = -1;
        var latencies = new List<double>[clients];
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var lat = latencies[c] = [];
            int i;
            while ((i = Interlocked.Increment(ref n)) < reads)
            {
                var t = Stopwatch.GetTimestamp();
                using var response = await http.GetAsync("/fhir/DocumentReference/" + ids[i % ids.Count]);
                await response.Content.ReadAsByteArrayAsync();
                lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"read by id failed: {(int)response.StatusCode}");
                }
            }
        }));
        watch.Stop();
        return (reads / watch.Elapsed.TotalSeconds, latencies.SelectMany(x => x).Order().ToList());
    }

    /// <summary>The ids of the DocumentReferences in a searchset page.</summary>
    public async Task<List<string>> IdsAsync(string query)
    {
        using var page = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(query));
        return page.RootElement.GetProperty("entry").EnumerateArray()
            .Select(e => e.GetProperty("resource"))
            .Where(r => r.GetProperty("resourceType").GetString() == "DocumentReference")
            .Select(r => r.GetProperty("id").GetString()!)
            .ToList();
    }
}
