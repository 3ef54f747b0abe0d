using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using Hl7.Fhir.Rest;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>A real OpenDMP: Kestrel over HTTPS on a loopback port, a real database, a temporary data directory.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly Microsoft.AspNetCore.Builder.WebApplication _app;
    private readonly List<HttpClient> _clients = [];

    private readonly bool _ownsData;

    private RunningServer(Microsoft.AspNetCore.Builder.WebApplication app, DataDirectory data, IDictionary<string, string?> config, bool ownsData)
    {
        _app = app;
        _ownsData = ownsData;
        Data = data;
        Config = config;
        BaseUrl = app.Urls.First();
        Ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
    }

    public DataDirectory Data { get; }
    public IDictionary<string, string?> Config { get; }
    public string BaseUrl { get; }
    public string FhirBase => BaseUrl + "/fhir";
    public TestCertificateAuthority Ca { get; }
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts a server on SQLite (connectionString null) or on the given PostgreSQL database; with
    /// <paramref name="shared"/>, a second instance on the same data directory (several instances of
    /// one deployment). The data directory is deleted on dispose when <paramref name="ownsData"/>.
    /// </summary>
    public static async Task<RunningServer> StartAsync(string? postgres, IDictionary<string, string?>? extra = null, DataDirectory? shared = null, bool ownsData = true, Action<Microsoft.Extensions.Logging.ILoggingBuilder>? logging = null)
    {
        var dir = shared ?? new DataDirectory(Path.Combine(Path.GetTempPath(), "opendmp-test-" + Guid.NewGuid().ToString("N")[..10]));
        dir.Ensure();
        var config = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (postgres is not null)
        {
            config["Database:Provider"] = "Postgres";
            config["Database:ConnectionString"] = postgres;
        }

        foreach (var kv in extra ?? new Dictionary<string, string?>())
        {
            config[kv.Key] = kv.Value;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(config).Build();
        var app = OpenDmpHost.Build(dir, configuration, ["https://127.0.0.1:0"], logging);
        await OpenDmpHost.PrepareAsync(dir, app.Services, CancellationToken.None);
        await app.StartAsync();
        return new RunningServer(app, dir, config, ownsData);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _clients)
        {
            c.Dispose();
        }

        // Every request of the test is held to the audit rule (AuditEnforcementMiddleware): a request
        // that read patient data without an audit entry, or did not write its declared action, fails the test.
        var violations = _app.Services.GetRequiredService<AuditEnforcement>().Violations.ToList();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_ownsData)
        {
            try
            {
                Directory.Delete(Data.Root, true);
            }
            catch (IOException)
            {
            }
        }

        Assert.True(violations.Count == 0, "requests broke the audit rule:\n" + string.Join("\n", violations.GroupBy(v => v, StringComparer.Ordinal).Select(g => $"{g.Key} (×{g.Count()})")));
    }

    public async Task<T> WithScopeAsync<T>(Func<IServiceProvider, Task<T>> action)
    {
        using var scope = Services.CreateScope();
        return await action(scope.ServiceProvider);
    }

    /// <summary>A change saved straight into the database, by no service of the server (as another instance or SQL by hand would).</summary>
    public Task<int> WriteAsync(Action<DmpDbContext> change) => WithScopeAsync(async sp =>
    {
        var db = sp.GetRequiredService<DmpDbContext>();
        change(db);
        return await db.SaveChangesAsync();
    });

    /// <summary>A professional in the directory with a client certificate from the platform CA.</summary>
    public async Task<TestProfessional> AddProfessionalAsync(string profession = "10", string? specialty = "SM54", string family = "Durand", string given = "Paul")
    {
        var rpps = TestIds.NewRpps();
        var p = await WithScopeAsync(sp => sp.GetRequiredService<DirectoryService>().AddProfessionalAsync(rpps, profession, profession == "10" ? specialty : null, family, given, Actor.Operator, Channels.Admin, CancellationToken.None));
        var certDir = Path.Combine(Data.Root, "test-certs");
        var cert = Ca.IssueProfessional(rpps, p.DisplayName, null, certDir, TimeProvider.System);
        return new TestProfessional(p.Id, rpps, p.DisplayName, Reload(cert));
    }

    /// <summary>A patient with a demo INS and an open record whose treating physician is given.</summary>
    public async Task<TestPatient> AddPatientAsync(TestProfessional? treating, string? insSystem = null)
    {
        var ins = TestIds.NewIns();
        var system = insSystem ?? Ins.NirSystem;
        var p = await WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(new NewPatient(ins, system, "TESTPATIENT", "Anne", new DateOnly(1970, 5, 17), "F", "75056"), Actor.Operator, Channels.Admin, CancellationToken.None));
        if (treating is not null)
        {
            await WithScopeAsync(async sp => await sp.GetRequiredService<RecordService>().OpenAsync(p.RecordId, treating.Rpps, treating.Rpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, CancellationToken.None));
        }

        return new TestPatient(p.RecordId, ins, system);
    }

    /// <summary>A patient with the given identity (e.g. the one an ANS example document names) and an open record whose treating physician is given.</summary>
    public async Task<TestPatient> AddPatientAsync(NewPatient identity, TestProfessional treating)
    {
        var p = await WithScopeAsync(sp => sp.GetRequiredService<RecordService>().AddPatientAsync(identity, Actor.Operator, Channels.Admin, CancellationToken.None));
        await WithScopeAsync(async sp => await sp.GetRequiredService<RecordService>().OpenAsync(p.RecordId, treating.Rpps, treating.Rpps, OpeningChannel.Office, Actor.Operator, Channels.Admin, CancellationToken.None));
        return new TestPatient(p.RecordId, identity.Ins, identity.InsSystem);
    }

    public HttpClient Http(X509Certificate2? clientCertificate, bool followRedirects = true)
    {
        var handler = new HttpClientHandler
        {
            AllowAutoRedirect = followRedirects,
            ClientCertificateOptions = ClientCertificateOption.Manual,
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => cert is not null && cert.Issuer == Ca.Certificate.Subject,
        };
        if (clientCertificate is not null)
        {
            handler.ClientCertificates.Add(clientCertificate);
        }

        var client = new HttpClient(handler) { BaseAddress = new Uri(BaseUrl) };
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/fhir+json"));
        _clients.Add(client);
        return client;
    }

    public FhirClient Fhir(X509Certificate2 clientCertificate)
    {
        var http = Http(clientCertificate);
        return new FhirClient(FhirBase, http, new FhirClientSettings { PreferredFormat = ResourceFormat.Json, VerifyFhirVersion = false });
    }

    /// <summary>Certificates created from PEM carry an ephemeral key; a PKCS#12 round trip makes it usable by SslStream.</summary>
    public static X509Certificate2 Reload(X509Certificate2 cert) =>
        X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);

    public async Task<int> CountDocumentsAsync() =>
        await WithScopeAsync(sp => Task.FromResult(sp.GetRequiredService<DmpDbContext>().Documents.Count()));
}

public sealed record TestProfessional(string Id, string Rpps, string Display, X509Certificate2 Certificate);

public sealed record TestPatient(string Id, string Ins, string System)
{
    public string Reference => "Patient/" + Id;
}

public static class TestIds
{
    public static string NewRpps() => Rpps.WithCheckDigit("1" + Random.Shared.NextInt64(100_000_000, 999_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A random valid INS of a woman (first digit 2): the test patients are declared F.</summary>
    public static string NewIns()
    {
        var r = Random.Shared;
        var nir = $"2{r.Next(40, 99):00}{r.Next(1, 13):00}{r.Next(1, 96):00}{r.Next(1, 999):000}{r.Next(1, 999):000}";
        return Ins.WithKey(nir);
    }
}
