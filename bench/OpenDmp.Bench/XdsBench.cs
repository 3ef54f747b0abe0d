using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace OpenDmp.Bench;

/// <summary>
/// Issue 17: XDS.b next to MHD, in the same run, on the same server and data — ITI-41 ingest (MTOM,
/// one document of the same size per request, by the same number of clients) and ITI-18 FindDocuments
/// for the patient whose documents ITI-67 was measured on (LeafClass and ObjectRef; FindDocuments
/// answers every match, so it compares with ITI-67 asking for all of them in one page).
/// </summary>
internal static class XdsBench
{
    private const string Boundary = "MIMEBoundary_bench_41";

    public static async Task RunAsync(HttpClient http, BenchOptions opts, string gpRpps, IReadOnlyList<(string Id, string Ins)> patients, string targetIns, double mhdRate, List<double> mhdWhole)
    {
        // ITI-41: the other patients, round robin, as the MHD ingest spread them.
        var next = -1;
        var failures = 0;
        var latencies = new List<double>[opts.Clients];
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, opts.Clients).Select(async c =>
        {
            var lat = latencies[c] = [];
            var rnd = new Random(100 + c);
            var content = new byte[opts.DocumentBytes];
            int i;
            while ((i = Interlocked.Increment(ref next)) < opts.XdsDocuments)
            {
                rnd.NextBytes(content);
                var ins = patients[1 + (i % (patients.Count - 1))].Ins;
                using var body = Mtom(Submission(ins, gpRpps, $"1.2.250.1.999.1.1.7898.41.{Guid.NewGuid().ToString("N")[..12]}.{i}"), content);
                var t = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync("/xds/repository/provide", body);
                var text = await response.Content.ReadAsStringAsync();
                lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                if (!response.IsSuccessStatusCode || !text.Contains("ResponseStatusType:Success", StringComparison.Ordinal))
                {
                    if (Interlocked.Increment(ref failures) < 5)
                    {
                        Console.Error.WriteLine($"ITI-41 failed: {(int)response.StatusCode} {text[..Math.Min(600, text.Length)]}");
                    }
                }
            }
        }));
        watch.Stop();
        var all = latencies.SelectMany(x => x).Order().ToList();
        var rate = opts.XdsDocuments / watch.Elapsed.TotalSeconds;
        Console.WriteLine($"ITI-41 ingest (XDS.b, MTOM): {opts.XdsDocuments} documents in {watch.Elapsed.TotalSeconds:F1} s = {rate:F0} documents/s with {opts.Clients} clients; latency p50 {BenchSupport.P(all, 50):F1} ms, p95 {BenchSupport.P(all, 95):F1} ms, p99 {BenchSupport.P(all, 99):F1} ms; failures {failures}; ITI-41 / ITI-65 = {rate / mhdRate:F2}");

        // ITI-18 FindDocuments for the target patient (its opts.TargetDocuments documents), 1 client.
        foreach (var returnType in new[] { "LeafClass", "ObjectRef" })
        {
            var query = FindDocuments(targetIns, returnType);
            var requests = Math.Max(50, opts.SearchRequests / 10);
            var times = new List<double>(requests);
            for (var i = 0; i < requests + 20; i++)
            {
                using var body = new StringContent(query, Encoding.UTF8, "application/soap+xml");
                var t = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync("/xds/registry", body);
                var text = await response.Content.ReadAsStringAsync();
                var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                if (!response.IsSuccessStatusCode || !text.Contains("ResponseStatusType:Success", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"ITI-18 failed: {(int)response.StatusCode} {text[..Math.Min(600, text.Length)]}");
                }

                if (i >= 20)
                {
                    times.Add(ms);
                }
            }

            times.Sort();
            Console.WriteLine($"ITI-18 FindDocuments ({returnType}, all {opts.TargetDocuments} of the patient), 1 client: p50 {BenchSupport.P(times, 50):F2} ms, p95 {BenchSupport.P(times, 95):F2} ms, p99 {BenchSupport.P(times, 99):F2} ms ({times.Count} requests); ITI-67 all in one page p95 {BenchSupport.P(mhdWhole, 95):F2} ms");
        }
    }

    private static ByteArrayContent Mtom(string envelope, byte[] document)
    {
        var message = new MemoryStream();
        void Text(string t) => message.Write(Encoding.UTF8.GetBytes(t));
        Text($"--{Boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <root@bench>\r\n\r\n{envelope}\r\n");
        Text($"--{Boundary}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <document01@bench>\r\n\r\n");
        message.Write(document);
        Text($"\r\n--{Boundary}--\r\n");
        var bytes = new ByteArrayContent(message.ToArray());
        bytes.Headers.TryAddWithoutValidation("Content-Type", $"multipart/related; type=\"application/xop+xml\"; boundary=\"{Boundary}\"; start=\"<root@bench>\"; start-info=\"application/soap+xml\"");
        return bytes;
    }

    private static string Envelope(string action, string body) =>
        $"<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><soap:Header><wsa:Action soap:mustUnderstand=\"true\">{action}</wsa:Action><wsa:MessageID>urn:uuid:{Guid.NewGuid()}</wsa:MessageID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>";

    private static string FindDocuments(string ins, string returnType) => Envelope("urn:ihe:iti:2007:RegistryStoredQuery", $"""
        <query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><query:ResponseOption returnComposedObjects="true" returnType="{returnType}"/><rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"><rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{ins}^^^&amp;1.2.250.1.213.1.4.10&amp;ISO'</rim:Value></rim:ValueList></rim:Slot><rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value></rim:ValueList></rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>
        """);

    /// <summary>An ITI-41 request of one document (ITI TF-3 §4.2, the ANS code systems' OIDs).</summary>
    private static string Submission(string ins, string rpps, string uniqueId)
    {
        var now = DateTimeOffset.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        var patient = $"{ins}^^^&amp;1.2.250.1.213.1.4.10&amp;ISO";
        static string Code(string scheme, string id, string code, string codingScheme) =>
            $"<rim:Classification classificationScheme=\"{scheme}\" classifiedObject=\"Document01\" id=\"{id}\" nodeRepresentation=\"{code}\"><rim:Slot name=\"codingScheme\"><rim:ValueList><rim:Value>{codingScheme}</rim:Value></rim:ValueList></rim:Slot></rim:Classification>";
        return Envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", $"""
            <xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007" xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" xmlns:xop="http://www.w3.org/2004/08/xop/include"><lcm:SubmitObjectsRequest><rim:RegistryObjectList>
            <rim:RegistryPackage id="SubmissionSet01"><rim:Slot name="submissionTime"><rim:ValueList><rim:Value>{now}</rim:Value></rim:ValueList></rim:Slot>
            <rim:ExternalIdentifier id="ei01" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" registryObject="SubmissionSet01" value="{uniqueId}.9"/>
            <rim:ExternalIdentifier id="ei02" identificationScheme="urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832" registryObject="SubmissionSet01" value="1.2.250.1.999.1.1.7898"/>
            <rim:ExternalIdentifier id="ei03" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" registryObject="SubmissionSet01" value="{patient}"/></rim:RegistryPackage>
            <rim:Classification id="cl02" classifiedObject="SubmissionSet01" classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"/>
            <rim:ExtrinsicObject id="Document01" mimeType="application/pdf" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
            <rim:Slot name="creationTime"><rim:ValueList><rim:Value>{now}</rim:Value></rim:ValueList></rim:Slot>
            <rim:Slot name="languageCode"><rim:ValueList><rim:Value>fr-FR</rim:Value></rim:ValueList></rim:Slot>
            <rim:Name><rim:LocalizedString value="Compte rendu"/></rim:Name>
            <rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="Document01" id="cl10" nodeRepresentation=""><rim:Slot name="authorPerson"><rim:ValueList><rim:Value>8{rpps}^MARTIN^CLAIRE^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO</rim:Value></rim:ValueList></rim:Slot></rim:Classification>
            {Code("urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a", "cl11", "10", "1.2.250.1.213.1.1.4.1")}
            {Code("urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f", "cl12", "N", "2.16.840.1.113883.5.25")}
            {Code("urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d", "cl13", "urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3")}
            {Code("urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1", "cl14", "SA07", "1.2.250.1.71.4.2.4")}
            {Code("urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead", "cl15", "AMBULATOIRE", "1.2.250.1.213.1.1.4.9")}
            {Code("urn:uuid:f0306f51-975f-434e-a61c-c59651d33983", "cl16", "11488-4", "2.16.840.1.113883.6.1")}
            <rim:ExternalIdentifier id="ei10" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" registryObject="Document01" value="{patient}"/>
            <rim:ExternalIdentifier id="ei11" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" registryObject="Document01" value="{uniqueId}"/>
            </rim:ExtrinsicObject>
            <rim:Association associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember" id="as01" sourceObject="SubmissionSet01" targetObject="Document01"><rim:Slot name="SubmissionSetStatus"><rim:ValueList><rim:Value>Original</rim:Value></rim:ValueList></rim:Slot></rim:Association>
            </rim:RegistryObjectList></lcm:SubmitObjectsRequest><xdsb:Document id="Document01"><xop:Include href="cid:document01%40bench"/></xdsb:Document></xdsb:ProvideAndRegisterDocumentSetRequest>
            """);
    }
}
