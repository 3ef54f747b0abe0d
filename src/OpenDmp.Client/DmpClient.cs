using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hl7.Fhir.Model;
using System.Text.Json;
using Hl7.Fhir.Serialization;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Client;

/// <summary>A professional's authorisation on a record, as <c>$access-status</c> answers it.</summary>
/// <param name="Status">valid, expired, forbidden (blocked by the patient) or none.</param>
/// <param name="Mode">The mode of the authorisation (treating-physician, alleged, care-team, break-glass…), when there is one.</param>
/// <param name="End">When it ends, when it does.</param>
public sealed record AccessStatus(string Status, string? Mode, DateTimeOffset? End)
{
    /// <summary>Whether the professional may use the record now.</summary>
    public bool IsValid => Status == "valid";
}

/// <summary>A document to feed into a record, with the metadata the DMP needs (CI-SIS value sets).</summary>
/// <param name="Content">The document's bytes.</param>
/// <param name="ContentType">Its media type (application/pdf, text/plain…).</param>
/// <param name="Title">Its title.</param>
/// <param name="AuthorRpps">The RPPS of the professional who wrote it (the author; the filer is who authenticates).</param>
/// <param name="TypeCode">Its type (JDV_J07, LOINC, e.g. 11488-4 consultation report).</param>
/// <param name="ClassCode">Its class (JDV_J06, TRE_A03, e.g. 10 reports).</param>
/// <param name="FormatCode">Its format (JDV_J10, e.g. urn:ihe:iti:xds-sd:pdf:2008).</param>
/// <param name="FacilityTypeCode">The care setting's activity sector (JDV_J02, TRE_R02, e.g. SA07 individual practice).</param>
/// <param name="PracticeSettingCode">The practice setting (JDV_J04, TRE_A01, e.g. AMBULATOIRE).</param>
/// <param name="MaskedFromProfessionals">Filed masked from other professionals, at the patient's request (MASQUE_PS).</param>
public sealed record DocumentToFeed(
    byte[] Content,
    string ContentType,
    string Title,
    string AuthorRpps,
    string TypeCode = "11488-4",
    string ClassCode = "10",
    string FormatCode = "urn:ihe:iti:xds-sd:pdf:2008",
    string FacilityTypeCode = "SA07",
    string PracticeSettingCode = "AMBULATOIRE",
    bool MaskedFromProfessionals = false);

/// <summary>A refusal or failure of OpenDMP, with the text it gave (from its OperationOutcome).</summary>
public sealed class DmpClientException : Exception
{
    /// <summary>An exception with the status and text of OpenDMP's answer.</summary>
    /// <param name="status">The HTTP status.</param>
    /// <param name="message">What OpenDMP said.</param>
    /// <param name="outcome">Its OperationOutcome, when it gave one.</param>
    public DmpClientException(HttpStatusCode status, string message, OperationOutcome? outcome = null) : base(message)
    {
        Status = status;
        Outcome = outcome;
    }

    /// <summary>An exception without a status (a misuse of the client).</summary>
    public DmpClientException() : this(0, "OpenDMP client error")
    {
    }

    /// <summary>An exception without a status (a misuse of the client).</summary>
    /// <param name="message">What is wrong.</param>
    public DmpClientException(string message) : this(0, message)
    {
    }

    /// <summary>An exception without a status, with its cause.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="inner">The cause.</param>
    public DmpClientException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>The HTTP status of the answer (0 when there was none).</summary>
    public HttpStatusCode Status { get; }

    /// <summary>OpenDMP's OperationOutcome, when it gave one.</summary>
    public OperationOutcome? Outcome { get; }
}

/// <summary>
/// The client a practice software uses to work with OpenDMP over its FHIR API (MHD/PDSm) — with a
/// professional's own certificate, or with a structure's certificate and a VIHF per request
/// (<see cref="VihfIssuer"/>). Each call is one request; refusals are <see cref="DmpClientException"/>
/// carrying OpenDMP's explanation.
/// </summary>
public sealed class DmpClient : IDisposable
{
    /// <summary>The header carrying the VIHF on the FHIR API.</summary>
    public const string VihfHeader = "X-OpenDMP-VIHF";

    /// <summary>The INS (NIR) identifier system.</summary>
    public const string InsSystem = "urn:oid:1.2.250.1.213.1.4.8";

    private const string FhirJson = "application/fhir+json";
    private static readonly JsonSerializerOptions Json = new JsonSerializerOptions { MaxDepth = 64 }.ForFhir(ModelInfo.ModelInspector);
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly VihfIssuer? _vihf;
    private readonly Dictionary<string, (string Ins, string System)> _insOf = new(StringComparer.Ordinal);

    /// <summary>A client for <paramref name="baseAddress"/> authenticated by <paramref name="certificate"/> (with its private key) over mutual TLS.</summary>
    /// <param name="baseAddress">The platform's address (e.g. https://dmp.example.fr).</param>
    /// <param name="certificate">A professional's certificate, or a structure's certificate (then give <paramref name="vihf"/>).</param>
    /// <param name="vihf">The VIHF issuer when acting for a structure.</param>
    /// <param name="serverCertificateCheck">A check of the server's certificate beyond the system's trust (e.g. a private CA in tests); null: the system's.</param>
    public DmpClient(Uri baseAddress, X509Certificate2 certificate, VihfIssuer? vihf = null, Func<X509Certificate2?, X509Chain?, System.Net.Security.SslPolicyErrors, bool>? serverCertificateCheck = null)
    {
        var handler = new HttpClientHandler { ClientCertificateOptions = ClientCertificateOption.Manual };
        handler.ClientCertificates.Add(certificate);
        if (serverCertificateCheck is not null)
        {
            handler.ServerCertificateCustomValidationCallback = (_, cert, chain, errors) => serverCertificateCheck(cert, chain, errors);
        }

        _http = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        _ownsHttp = true;
        _vihf = vihf;
    }

    /// <summary>A client over an HttpClient the caller configured (base address and client certificate).</summary>
    /// <param name="http">The HttpClient.</param>
    /// <param name="vihf">The VIHF issuer when acting for a structure.</param>
    public DmpClient(HttpClient http, VihfIssuer? vihf = null)
    {
        _http = http;
        _vihf = vihf;
    }

    /// <summary>Finds a patient by INS (PDQm); null when OpenDMP has none.</summary>
    /// <param name="ins">The patient's INS (15 characters).</param>
    /// <param name="system">The INS's identifier system (the NIR's by default; NIA or test identities have their own OIDs).</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<Patient?> FindPatientAsync(string ins, string system = InsSystem, CancellationToken ct = default)
    {
        var bundle = await SendAsync<Bundle>(HttpMethod.Get, $"fhir/Patient?identifier={Uri.EscapeDataString(system + "|" + ins)}", null, null, ct);
        var patient = bundle.Entry.Select(e => e.Resource).OfType<Patient>().FirstOrDefault();
        if (patient?.Id is { } id)
        {
            _insOf[id] = (ins, system);
        }

        return patient;
    }

    /// <summary>The professional's authorisation status on the patient's record (read before reading documents).</summary>
    /// <param name="patientId">The patient's id (from <see cref="FindPatientAsync"/>).</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<AccessStatus> GetAccessStatusAsync(string patientId, CancellationToken ct = default)
    {
        var p = await SendAsync<Parameters>(HttpMethod.Get, $"fhir/Patient/{Escape(patientId)}/$access-status", null, patientId, ct);
        return new AccessStatus(
            p.GetSingleValue<Code>("status")?.Value ?? "none",
            p.GetSingleValue<Code>("mode")?.Value,
            p.GetSingleValue<FhirDateTime>("end") is { } end && end.TryToDateTimeOffset(out var at) ? at : null);
    }

    /// <summary>Declares the professional's access with the patient's consent (alleged consent by default).</summary>
    /// <param name="patientId">The patient's id.</param>
    /// <param name="mode">alleged, group, delegation or care-team.</param>
    /// <param name="ct">Cancellation.</param>
    public async Task DeclareAccessAsync(string patientId, string mode = "alleged", CancellationToken ct = default)
    {
        var p = new Parameters();
        p.Add("mode", new Code(mode));
        p.Add("confirm", new FhirBoolean(true));
        await SendAsync<Resource>(HttpMethod.Post, $"fhir/Patient/{Escape(patientId)}/$declare-access", p, patientId, ct);
    }

    /// <summary>Feeds a document with its metadata (ITI-105); returns it as filed.</summary>
    /// <param name="patientId">The patient's id.</param>
    /// <param name="document">The document and its metadata.</param>
    /// <param name="ct">Cancellation.</param>
    public Task<DocumentReference> FeedAsync(string patientId, DocumentToFeed document, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        var now = DateTimeOffset.UtcNow;
        var doc = new DocumentReference
        {
            MasterIdentifier = new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + Guid.NewGuid()),
            Status = DocumentReferenceStatus.Current,
            Type = new CodeableConcept(Systems.Loinc, document.TypeCode),
            Category = [new CodeableConcept(Systems.Class, document.ClassCode)],
            Subject = new ResourceReference("Patient/" + patientId),
            Date = now,
            Description = document.Title,
            Contained =
            [
                new PractitionerRole
                {
                    Id = "author",
                    Identifier = [new Identifier(Systems.IdNatPs, "8" + document.AuthorRpps)],
                    Practitioner = new ResourceReference { Identifier = new Identifier(Systems.IdNatPs, "8" + document.AuthorRpps) },
                },
            ],
            Author = [new ResourceReference("#author")],
            SecurityLabel =
            [
                new CodeableConcept(Systems.Confidentiality, "N"),
                .. document.MaskedFromProfessionals ? new[] { new CodeableConcept(Systems.Visibility, "MASQUE_PS") } : [],
            ],
            Content =
            [
                new DocumentReference.ContentComponent
                {
                    Attachment = new Attachment { ContentType = document.ContentType, Language = "fr-FR", Data = document.Content, Title = document.Title, Creation = now.ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture) },
                    Format = new Coding(Systems.Format, document.FormatCode),
                },
            ],
            Context = new DocumentReference.ContextComponent
            {
                FacilityType = new CodeableConcept(Systems.Facility, document.FacilityTypeCode),
                PracticeSetting = new CodeableConcept(Systems.PracticeSetting, document.PracticeSettingCode),
            },
        };
        return SendAsync<DocumentReference>(HttpMethod.Post, "fhir/DocumentReference", doc, patientId, ct);
    }

    /// <summary>
    /// Feeds a CDA R2 document (ITI-105): its metadata come from its header (type, class, confidentiality,
    /// author, care setting, dates); the patient is the header's, whose INS and traits must be OpenDMP's.
    /// </summary>
    /// <param name="patientId">The patient's id.</param>
    /// <param name="cda">The CDA document's bytes.</param>
    /// <param name="ct">Cancellation.</param>
    public Task<DocumentReference> FeedCdaAsync(string patientId, byte[] cda, CancellationToken ct = default)
    {
        var doc = new DocumentReference
        {
            Status = DocumentReferenceStatus.Current,
            Subject = new ResourceReference("Patient/" + patientId),
            Content = [new DocumentReference.ContentComponent { Attachment = new Attachment { ContentType = "text/xml", Data = cda } }],
        };
        return SendAsync<DocumentReference>(HttpMethod.Post, "fhir/DocumentReference", doc, patientId, ct);
    }

    /// <summary>The documents of the record the professional may see (every page).</summary>
    /// <param name="patientId">The patient's id.</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<IReadOnlyList<DocumentReference>> SearchAsync(string patientId, CancellationToken ct = default) =>
        await AllAsync<DocumentReference>($"fhir/DocumentReference?patient={Escape(patientId)}&_count=100", patientId, ct);

    /// <summary>A document's exact bytes.</summary>
    /// <param name="document">The document (from <see cref="SearchAsync"/>).</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<byte[]> RetrieveAsync(DocumentReference document, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(document);
        using var request = Request(HttpMethod.Get, $"fhir/Binary/{Escape(document.Id)}", PatientOf(document));
        request.Headers.Accept.ParseAdd(document.Content.FirstOrDefault()?.Attachment?.ContentType ?? "application/octet-stream");
        using var response = await _http.SendAsync(request, ct);
        await ThrowIfRefusedAsync(response, ct);
        return await response.Content.ReadAsByteArrayAsync(ct);
    }

    /// <summary>Masks a document from other professionals (its author, at the patient's request).</summary>
    /// <param name="document">The document.</param>
    /// <param name="ct">Cancellation.</param>
    public Task MaskAsync(DocumentReference document, CancellationToken ct = default) =>
        SendAsync<Resource>(HttpMethod.Post, $"fhir/DocumentReference/{Escape(document?.Id)}/$mask", null, PatientOf(document), ct);

    /// <summary>Makes a masked document visible to professionals again (its author, or the patient).</summary>
    /// <param name="document">The document.</param>
    /// <param name="ct">Cancellation.</param>
    public Task UnmaskAsync(DocumentReference document, CancellationToken ct = default) =>
        SendAsync<Resource>(HttpMethod.Post, $"fhir/DocumentReference/{Escape(document?.Id)}/$unmask", null, PatientOf(document), ct);

    /// <summary>The record's access trail as the professional may read it (AuditEvent).</summary>
    /// <param name="patientId">The patient's id.</param>
    /// <param name="ct">Cancellation.</param>
    public async Task<IReadOnlyList<AuditEvent>> ReadTrailAsync(string patientId, CancellationToken ct = default) =>
        await AllAsync<AuditEvent>($"fhir/AuditEvent?patient={Escape(patientId)}&_count=100", patientId, ct);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private async Task<List<T>> AllAsync<T>(string first, string patientId, CancellationToken ct)
        where T : Resource
    {
        var found = new List<T>();
        for (var url = first; url is not null;)
        {
            var page = await SendAsync<Bundle>(HttpMethod.Get, url, null, patientId, ct);
            found.AddRange(page.Entry.Select(e => e.Resource).OfType<T>());
            url = page.NextLink?.ToString();
        }

        return found;
    }

    private static string? PatientOf(DocumentReference? document) => document?.Subject?.Reference?.Split('/').LastOrDefault();

    private HttpRequestMessage Request(HttpMethod method, string url, string? patientId)
    {
        var request = new HttpRequestMessage(method, url);
        if (_vihf is not null)
        {
            // One fresh assertion per request (OpenDMP refuses a replay), naming the patient when the request concerns one.
            var known = patientId is not null && _insOf.TryGetValue(patientId, out var ins) ? ins : default;
            request.Headers.Add(VihfHeader, known.Ins is null ? _vihf.Header() : _vihf.Header(known.Ins, AccessModes.Normal, known.System));
        }

        return request;
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string url, Resource? body, string? patientId, CancellationToken ct)
        where T : Resource
    {
        using var request = Request(method, url, patientId);
        request.Headers.Accept.ParseAdd(FhirJson);
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, body.GetType(), Json), Encoding.UTF8, FhirJson);
        }
        else if (method == HttpMethod.Post)
        {
            request.Content = new StringContent(string.Empty, Encoding.UTF8, FhirJson);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(FhirJson);
        }

        using var response = await _http.SendAsync(request, ct);
        await ThrowIfRefusedAsync(response, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        var resource = Parse(text) ?? throw new DmpClientException(response.StatusCode, "OpenDMP answered an empty body");
        return resource as T ?? throw new DmpClientException(response.StatusCode, $"OpenDMP answered a {resource.TypeName} where a {typeof(T).Name} was expected");
    }

    private static async Task ThrowIfRefusedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var text = await response.Content.ReadAsStringAsync(ct);
        var outcome = Parse(text) as OperationOutcome;

        var message = outcome?.Issue.Select(i => i.Diagnostics ?? i.Details?.Text).FirstOrDefault(m => !string.IsNullOrEmpty(m)) ?? $"OpenDMP answered {(int)response.StatusCode} {response.ReasonPhrase}";
        throw new DmpClientException(response.StatusCode, message, outcome);
    }

    /// <summary>A FHIR resource from OpenDMP's answer; null when the text is none (e.g. an HTML error page from a proxy).</summary>
    private static Resource? Parse(string text)
    {
        try
        {
            return JsonSerializer.Deserialize<Resource>(text, Json);
        }
        catch (Exception ex) when (ex is JsonException or DeserializationFailedException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string Escape(string? id) => Uri.EscapeDataString(id ?? throw new DmpClientException("the resource has no id (read it from OpenDMP first)"));

    /// <summary>The code systems of the metadata (CI-SIS terminologies).</summary>
    private static class Systems
    {
        public const string Loinc = "http://loinc.org";
        public const string IdNatPs = "urn:oid:1.2.250.1.71.4.2.1";
        public const string Class = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument";
        public const string Format = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode";
        public const string Facility = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite";
        public const string PracticeSetting = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice";
        public const string Confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
        public const string Visibility = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument";
    }
}
