using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Pki;
using OpenDmp.Core.Storage;
using OpenDmp.Server.Fhir;
using OpenDmp.Server.Patients;
using OpenDmp.Server.Portal;

namespace OpenDmp.Server.Hosting;

/// <summary>Builds the OpenDMP web application: Kestrel over HTTPS with optional client certificates, the FHIR API, health probes.</summary>
public static class OpenDmpHost
{
    /// <summary>Ensures the data directory, its PKI (CA and server certificate) and the database schema.</summary>
    public static async Task PrepareAsync(DataDirectory data, IServiceProvider services, CancellationToken ct)
    {
        data.Ensure();
        var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, TimeProvider.System);
        if (!File.Exists(data.ServerCertificate) || !File.Exists(data.ServerKey))
        {
            ca.IssueServer(data.Pki, [Environment.MachineName], TimeProvider.System);
        }

        await CoreServices.MigrateAsync(services, ct);

        // The terminology in force (shipped ANS publications plus imports) before the first document.
        await services.GetRequiredService<OpenDmp.Core.Terminologies.TerminologyCatalog>().RefreshAsync(force: true, ct);

        // The revocation list is loaded before the first handshake (then refreshed by RevocationService).
        using var scope = services.CreateScope();

        // After a restore: records destroyed since the backup lose again what the database holds in clear.
        await scope.ServiceProvider.GetRequiredService<OpenDmp.Core.Records.RecordRetention>().ReapplyTombstonesAsync(ct);
        await OpenDmp.Core.Directory.SearchKeys.BackfillAsync(scope.ServiceProvider.GetRequiredService<DmpDbContext>(), ct);
        await services.GetRequiredService<RevocationList>().RefreshAsync(scope.ServiceProvider.GetRequiredService<DmpDbContext>(), TimeProvider.System, ct);
    }

    public static WebApplication Build(DataDirectory data, IConfiguration configuration, IEnumerable<string> urls, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Configuration.AddConfiguration(configuration);
        if (logging is not null)
        {
            logging(builder.Logging);
        }

        builder.Logging.AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddOpenDmpCore(configuration, data);
        builder.Services.AddMemoryCache();
        builder.Services.AddOpenDmpTelemetry(configuration);
        builder.Services.AddSharedDataProtection();
        builder.Services.AddSingleton<AuditEnforcement>();
        builder.Services.AddSingleton<OpenDmp.Server.Fhir.TransactionGate>();
        builder.Services.AddHostedService<AuditCheckpointService>();
        builder.Services.AddHostedService<RevocationService>();
        builder.Services.AddHostedService<ContentSweepService>();
        builder.Services.AddHostedService<RetentionService>();
        builder.Services.AddHostedService<OpenDmp.Server.Research.ResearchExtractService>();
        builder.Services.AddHostedService<OpenDmp.Server.Messaging.DepositMailboxService>();
        builder.Services.AddHostedService<OpenDmp.Server.Messaging.NotificationMailService>();
        builder.Services.AddHostedService<OpenDmp.Server.Messaging.ReminderDispatchService>();
        builder.Services.AddHostedService<OpenDmp.Server.Messaging.AccessSignalScanService>();
        builder.Services.AddSingleton<OpenDmp.Server.Messaging.SmsNotificationService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OpenDmp.Server.Messaging.SmsNotificationService>());
        builder.Services.AddSingleton<OpenDmp.Server.Messaging.AlertDispatchService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OpenDmp.Server.Messaging.AlertDispatchService>());
        builder.Services.AddSingleton<OpenDmp.Server.Messaging.SubscriptionDeliveryService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OpenDmp.Server.Messaging.SubscriptionDeliveryService>());
        builder.Services.AddProblemDetails();
        builder.Services.AddPatientAuth(configuration);
        builder.Services.AddPortals();
        var docs = configuration.GetSection("Documents").Get<DocumentOptions>() ?? new DocumentOptions();
        // One revocation list, read by the TLS handshake below and by the authentication of each request.
        var revocations = new OpenDmp.Core.Pki.RevocationList();
        builder.Services.AddSingleton(revocations);
        builder.WebHost.UseUrls([.. urls]);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = docs.TransactionBytesLimit;
            k.ConfigureHttpsDefaults(h =>
            {
                h.ServerCertificate = LoadServerCertificate(data);
                // The certificate is requested at the handshake. A revoked one (or one of a deactivated
                // professional) ends the handshake; anything else is checked by the authentication
                // middleware, so that a refusal is a 401 that says why.
                h.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                h.ClientCertificateValidation = (certificate, _, _) => revocations.Check(certificate) is null;
                h.CheckCertificateRevocation = false;
            });
        });

        var app = builder.Build();
        // Without a configured public URL, the platform names itself by its first listening address (never by a request's Host).
        var server = app.Services.GetRequiredService<OpenDmp.Core.Fhir.ServerOptions>();
        app.Lifetime.ApplicationStarted.Register(() => server.PublicBaseUrl ??= app.Urls.First().Replace("://0.0.0.0:", "://localhost:", StringComparison.Ordinal).Replace("://[::]:", "://localhost:", StringComparison.Ordinal));
        app.UseMiddleware<SecurityHeadersMiddleware>();
        app.UseMiddleware<ErrorMappingMiddleware>();
        app.UseMiddleware<InputSanityMiddleware>();
        app.UsePortals();
        app.UseRouting();
        app.UseMiddleware<AuditEnforcementMiddleware>();
        app.UseMiddleware<ProfessionalAuthenticationMiddleware>();
        app.UseRateLimiter();
        app.UseAntiforgery();
        app.MapGet("/health/live", () => Results.Text("ok")).WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: no patient data"));
        app.MapGet("/health/ready", async (DmpDbContext db, OpenDmp.Core.Content.IContentStore content, CancellationToken ct) =>
            !await db.Database.CanConnectAsync(ct) ? Results.Problem("database unreachable", statusCode: 503)
            : content.Unavailable() is { } problem ? Results.Problem("content store unavailable: " + problem, statusCode: 503)
            : Results.Text("ready"))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: no patient data"));
        // RFC 9116: where to report a vulnerability (docs/SECURITY.md).
        app.MapGet("/.well-known/security.txt", (IConfiguration config, TimeProvider clock) => config["Security:Contact"] is { Length: > 0 } contact
                ? Results.Text($"Contact: {contact}\nExpires: {clock.GetUtcNow().AddYears(1):yyyy-MM-ddT00:00:00Z}\nPreferred-Languages: fr, en\n", "text/plain; charset=utf-8")
                : Results.Problem("no security contact is configured (Security:Contact)", statusCode: 404))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: the security contact"));
        app.MapGet("/pki/ca.crl", (DataDirectory d) => File.Exists(RevocationService.CrlPath(d))
                ? Results.File(File.ReadAllBytes(RevocationService.CrlPath(d)), "application/pkix-crl", "ca.crl")
                : Results.Problem("the certificate revocation list is not written yet: retry in a few seconds", statusCode: 503))
            .WithMetadata(DmpEndpoint.Exempt(Requirement.Public, "public: the CA's revocation list"));
        app.MapOpenDmpMetrics();
        app.MapFhir();
        OpenDmp.Server.Hl7v2.AdtEndpoints.MapAdt(app);
        OpenDmp.Server.Xds.XdsEndpoints.MapXds(app);
        app.MapPatientAuth();
        OpenDmp.Server.Exports.ExportEndpoints.MapExports(app);
        OpenDmp.Server.Research.ResearchEndpoints.MapResearch(app);
        OpenDmp.Server.Messaging.MessagingEndpoints.MapMessagingCertificate(app);
        app.MapPortals();
        return app;
    }

    private static X509Certificate2 LoadServerCertificate(DataDirectory data)
    {
        using var pem = X509Certificate2.CreateFromPemFile(data.ServerCertificate, data.ServerKey);
        // Export/import so that the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }
}
