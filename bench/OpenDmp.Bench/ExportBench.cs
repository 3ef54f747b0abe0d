using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Patients;
using OpenDmp.Server.Patients;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 18's export benchmark: a record of N documents (filed through ITI-65), exported by its
/// patient (POST /patient/export, the age-encrypted XDM archive, passphrase work factor as
/// configured), timed end to end with the server's resident memory sampled while it streams; then
/// the portable record of the same patient with five key documents.
/// </summary>
internal static class ExportBench
{
    private const string Passphrase = "banc d'essai export chiffré";

    public static async Task RunAsync(HttpClient gp, Workload workload, string recordId, string ins, int documents, int serverPid, Func<IServiceProvider> services, Func<HttpClient> anonymous)
    {
        var plan = Enumerable.Repeat(recordId, documents).ToList();
        var seeded = await workload.IngestAsync(plan, null);
        Console.WriteLine($"export: {seeded.Count} documents filed for one patient in {seeded.Elapsed.TotalSeconds:F1} s (failures {seeded.Failures})");

        string code;
        await using (var sp = (ServiceProvider)services())
        {
            using var scope = sp.CreateScope();
            code = await scope.ServiceProvider.GetRequiredService<PatientAuthService>().IssueActivationAsync(recordId, null, Actor.Operator, Channels.Admin, CancellationToken.None);
        }

        var patient = anonymous();
        const string password = "banc d'essai 2026 !";
        using (var activate = await patient.PostAsJsonAsync("/patient/activate", new { ins, code, password }))
        {
            var body = await activate.Content.ReadAsStringAsync();
            var secret = Base32(JsonDocument.Parse(body).RootElement.GetProperty("totpSecret").GetString()!);
            using var login = await patient.PostAsJsonAsync("/patient/login", new { ins, password, totp = Totp.Code(secret, Totp.StepAt(DateTimeOffset.UtcNow)) });
            var token = JsonDocument.Parse(await login.Content.ReadAsStringAsync()).RootElement.GetProperty("access_token").GetString();
            patient.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        for (var round = 0; round < 3; round++)
        {
            var (_, before) = BenchSupport.Memory(serverPid);
            var peak = before;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    peak = Math.Max(peak, BenchSupport.Memory(serverPid).RssKb);
                    await Task.Delay(20);
                }
            });
            var watch = Stopwatch.StartNew();
            using var request = new HttpRequestMessage(HttpMethod.Post, "/patient/export") { Content = JsonContent.Create(new { passphrase = Passphrase }) };
            using var response = await patient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var firstByte = watch.Elapsed;
            await using var stream = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[81920];
            long total = 0;
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                total += n;
            }

            watch.Stop();
            await sampling.CancelAsync();
            await sampler;
            if (!response.IsSuccessStatusCode || total != response.Content.Headers.ContentLength)
            {
                throw new InvalidOperationException($"export failed: {(int)response.StatusCode}, {total} bytes of {response.Content.Headers.ContentLength}");
            }

            Console.WriteLine($"export of {documents} documents (round {round + 1}): {total / 1024.0 / 1024.0:F1} MiB in {watch.Elapsed.TotalMilliseconds:F0} ms (first byte {firstByte.TotalMilliseconds:F0} ms, scrypt included); {total / 1024.0 / 1024.0 / (watch.Elapsed - firstByte).TotalSeconds:F0} MiB/s streamed; server RSS {before / 1024.0:F0} MB before, peak {peak / 1024.0:F0} MB during (+{(peak - before) / 1024.0:F0} MB)");
        }

        var ids = await workload.IdsAsync($"/fhir/DocumentReference?patient={recordId}");
        var parameters = new Hl7.Fhir.Model.Parameters();
        parameters.Add("code", new Hl7.Fhir.Model.FhirString("code-banc-2026"));
        foreach (var id in ids.Take(5))
        {
            parameters.Add("document", new Hl7.Fhir.Model.ResourceReference("DocumentReference/" + id));
        }

        for (var round = 0; round < 3; round++)
        {
            var watch = Stopwatch.StartNew();
            using var portable = await gp.PostAsync($"/fhir/Patient/{recordId}/$portable-record", new StringContent(OpenDmp.Core.Fhir.FhirJson.Serialize(parameters), System.Text.Encoding.UTF8, "application/fhir+json"));
            var bytes = await portable.Content.ReadAsByteArrayAsync();
            if (!portable.IsSuccessStatusCode)
            {
                throw new InvalidOperationException("portable record failed: " + System.Text.Encoding.UTF8.GetString(bytes));
            }

            Console.WriteLine($"portable record (synthesis + 5 key documents, PBKDF2 as configured) round {round + 1}: {bytes.Length / 1024.0:F0} KiB in {watch.Elapsed.TotalMilliseconds:F0} ms");
        }
    }

    private static byte[] Base32(string s)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = new List<byte>();
        int buffer = 0, bits = 0;
        foreach (var c in s.TrimEnd('='))
        {
            buffer = (buffer << 5) | alphabet.IndexOf(c, StringComparison.Ordinal);
            bits += 5;
            if (bits >= 8)
            {
                bytes.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }

        return [.. bytes];
    }
}
