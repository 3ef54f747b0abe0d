using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Content;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Import;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>Registration of the Core modules: one DbContext, the content store, the handlers.</summary>
public static partial class CoreServices
{
    public static IServiceCollection AddOpenDmpCore(this IServiceCollection services, IConfiguration configuration, DataDirectory data)
    {
        ConfigurationValidation.Validate(configuration);
        var db = configuration.GetSection("Database").Get<DatabaseOptions>() ?? new DatabaseOptions();
        var docs = configuration.GetSection("Documents").Get<DocumentOptions>() ?? new DocumentOptions();

        services.AddSingleton(data);
        services.AddSingleton(configuration.GetSection("Server").Get<OpenDmp.Core.Fhir.ServerOptions>() ?? new OpenDmp.Core.Fhir.ServerOptions());
        services.AddSingleton(db);
        services.AddSingleton(docs);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<WriteGate>();
        services.AddSingleton<JobLeader>();
        services.AddSingleton<AuditTrail>();
        var audit = configuration.GetSection("Audit").Get<AuditOptions>() ?? new AuditOptions();
        services.AddSingleton(audit);
        services.AddSingleton(configuration.GetSection("Records").Get<OpenDmp.Core.Records.RetentionOptions>() ?? new OpenDmp.Core.Records.RetentionOptions());
        services.AddSingleton(new AuditKeys(audit, data.Root));
        var storeKind = configuration["Content:Store"] ?? (db.Provider == DatabaseProvider.Postgres ? "database" : "file");
        IContentStore store = storeKind switch
        {
            "database" => new DatabaseContentStore(),
            "file" => new FileContentStore(data.Content),
            _ => throw new InvalidOperationException($"Content:Store must be 'file' or 'database', got '{storeKind}'"),
        };
        // Content is encrypted at rest under per-record data keys wrapped by the master key (design D6).
        var keyRing = KeyRing.FromFile(MasterKeyFile(configuration, data));
        services.AddSingleton(keyRing);
        services.AddSingleton<IContentStore>(new EncryptingContentStore(store, keyRing));
        services.AddDbContextPool<DmpDbContext>(o => db.Configure(o, data.Root));
        // SQLite: kept connections for the hottest reads (their statements stay compiled); none on PostgreSQL.
        services.AddSingleton(_ => db.Provider == DatabaseProvider.Sqlite ? new SqliteStatements(db.SqliteConnectionString(data.Root)) : new SqliteStatements());
        services.AddScoped<RecordService>();
        services.AddScoped<OpenDmp.Core.Records.RecordRetention>();
        services.AddScoped<PatientQueries>();
        services.AddScoped<DirectoryService>();
        services.AddScoped<StaffService>();
        services.AddScoped<OpenDmp.Core.Pki.VihfAuthentication>();
        services.AddScoped<DirectoryQueries>();
        services.AddScoped<OpenDmp.Core.Directory.DirectorySearch>();
        services.AddScoped<OpenDmp.Core.Identity.DuplicateQueue>();
        services.AddScoped<OpenDmp.Core.Identity.IdentityMerges>();
        services.AddScoped<OpenDmp.Core.Networks.NetworkRecords>();
        services.AddSingleton(configuration.GetSection("Exports").Get<OpenDmp.Core.Exports.ExportOptions>() ?? new OpenDmp.Core.Exports.ExportOptions());
        services.AddSingleton(configuration.GetSection("Portable").Get<OpenDmp.Core.Exports.PortableOptions>() ?? new OpenDmp.Core.Exports.PortableOptions());
        services.AddSingleton<OpenDmp.Core.Exports.ExportKeyDerivations>();
        services.AddScoped<OpenDmp.Core.Exports.RecordExports>();
        services.AddScoped<OpenDmp.Core.Exports.PortableRecords>();
        services.AddSingleton(configuration.GetSection("Research").Get<OpenDmp.Core.Research.ResearchOptions>() ?? new OpenDmp.Core.Research.ResearchOptions());
        // The studies' pseudonym secrets live in files, apart from the database (ADR 0034).
        services.AddSingleton(new OpenDmp.Core.Research.StudySecrets(Path.Combine(data.Root, "study-secrets")));
        services.AddSingleton(new OpenDmp.Core.Research.ResearchFiles(Path.Combine(data.Root, "research-extracts")));
        services.AddScoped<OpenDmp.Core.Research.StudyService>();
        services.AddScoped<OpenDmp.Core.Research.StudyExtractor>();
        services.AddScoped<OpenDmp.Core.Directory.Import.DirectoryImporter>();
        services.AddScoped<ProvideDocumentBundle>();
        services.AddScoped<SimplifiedPublish>();
        services.AddSingleton<OpenDmp.Core.Audit.IAuditLabels, OpenDmp.Server.Portal.PortalAuditLabels>();
        services.AddSingleton<OpenDmp.Core.Terminologies.TerminologyCatalog>();
        services.AddScoped<OpenDmp.Core.Terminologies.TerminologyImporter>();
        services.AddScoped<DocumentQueries>();
        services.AddScoped<FhirImporter>();
        services.AddScoped<OpenDmp.Core.Clinical.ObservationQueries>();
        services.AddScoped<OpenDmp.Core.Clinical.ClinicalIntake>();
        services.AddScoped<OpenDmp.Core.Clinical.ResultIntake>();
        services.AddScoped<OpenDmp.Core.Clinical.ClinicalQueries>();
        services.AddScoped<OpenDmp.Core.Clinical.PatientSummary>();
        services.AddScoped<OpenDmp.Core.Clinical.MedicationQueries>();
        services.AddScoped<AuditVerifier>();
        services.AddScoped<AuditQueries>();
        services.AddScoped<AuditProofs>();
        services.AddScoped<ContentSweeper>();
        services.AddSingleton<OpenDmp.Core.Pki.RevocationList>();
        services.AddScoped<OpenDmp.Core.Pki.CertificateService>();
        services.AddSingleton<AuditGroupCommit>();
        services.AddSingleton<OpenDmp.Core.Access.DocumentFactsCache>();
        services.AddScoped<OpenDmp.Core.Access.RecordGuard>();
        services.AddScoped<OpenDmp.Core.Access.ConsentService>();
        services.AddScoped<OpenDmp.Core.Access.AccessSignalService>();
        services.AddSingleton(configuration.GetSection("AccessSignals").Get<OpenDmp.Core.Access.AccessSignalOptions>() ?? new OpenDmp.Core.Access.AccessSignalOptions());
        services.AddScoped<OpenDmp.Core.Records.PersonalSpaceService>();
        services.AddScoped<OpenDmp.Core.Patients.PatientPreferences>();
        services.AddScoped<OpenDmp.Core.Patients.InsurerLetterProof>();
        services.AddScoped<OpenDmp.Core.Patients.IOnlineIdentityProof>(sp => sp.GetRequiredService<OpenDmp.Core.Patients.InsurerLetterProof>());
        services.AddSingleton(AccessSettings(configuration));
        services.AddSingleton(configuration.GetSection("PatientAuth").Get<OpenDmp.Server.Patients.PatientAuthOptions>() ?? new OpenDmp.Server.Patients.PatientAuthOptions());
        services.AddScoped<OpenDmp.Server.Patients.PatientAuthService>();
        services.AddSingleton<OpenDmp.Server.Patients.LoginThrottle>();
        var messaging = configuration.GetSection("Messaging").Get<OpenDmp.Core.Messaging.MessagingOptions>() ?? new OpenDmp.Core.Messaging.MessagingOptions();
        services.AddSingleton(messaging);
        services.AddSingleton(sp => new OpenDmp.Core.Messaging.MessagingKeys(data.Pki, messaging, sp.GetRequiredService<TimeProvider>()));
        services.AddScoped<OpenDmp.Core.Messaging.DepositProcessor>();
        services.AddScoped<OpenDmp.Core.Messaging.SecureMessageService>();
        services.AddSingleton(configuration.GetSection("Alerts").Get<OpenDmp.Core.Alerts.AlertOptions>() ?? new OpenDmp.Core.Alerts.AlertOptions());
        services.AddSingleton(configuration.GetSection("Xds").Get<OpenDmp.Core.Xds.XdsOptions>() ?? new OpenDmp.Core.Xds.XdsOptions());
        services.AddScoped<OpenDmp.Core.Xds.XdsRegistry>();
        services.AddScoped<OpenDmp.Core.Xds.XdsProvide>();
        services.AddScoped<OpenDmp.Core.Xds.XdsUpdate>();
        services.AddSingleton<OpenDmp.Core.Alerts.AlertSignal>();
        services.AddScoped<OpenDmp.Core.Alerts.AlertService>();
        services.AddSingleton(configuration.GetSection("Subscriptions").Get<OpenDmp.Core.Subscriptions.SubscriptionOptions>() ?? new OpenDmp.Core.Subscriptions.SubscriptionOptions());
        services.AddSingleton<OpenDmp.Core.Subscriptions.SubscriptionRegistry>();
        services.AddSingleton<OpenDmp.Core.Subscriptions.SubscriptionSignal>();
        services.AddScoped<OpenDmp.Core.Subscriptions.SubscriptionService>();
        services.AddScoped<OpenDmp.Core.Subscriptions.SubscriptionFanOut>();
        services.AddScoped<OpenDmp.Core.Subscriptions.SubscriptionDelivery>();
        services.AddScoped<OpenDmp.Core.Notifications.NotificationDelivery>();
        services.AddSingleton(configuration.GetSection("Sms").Get<OpenDmp.Server.Messaging.SmsOptions>() ?? new OpenDmp.Server.Messaging.SmsOptions());
        services.AddSingleton<OpenDmp.Server.Messaging.SmsGateway>();
        services.AddScoped<OpenDmp.Server.Patients.RecordOpeningService>();
        services.AddSingleton<OpenDmp.Core.Notifications.NotificationSignal>();
        services.AddSingleton(OpenDmp.Core.Reminders.VaccinationSchedule.Load());
        services.AddSingleton(configuration.GetSection("Reminders").Get<OpenDmp.Core.Reminders.ReminderOptions>() ?? new OpenDmp.Core.Reminders.ReminderOptions());
        services.AddScoped<OpenDmp.Core.Reminders.ReminderService>();
        services.AddScoped<OpenDmp.Core.SelfMonitoring.SelfMonitoringService>();
        services.AddScoped<OpenDmp.Core.Hl7v2.AdtFeed>();
        return services;
    }

    /// <summary>The master key file: Content:MasterKeyFile, else DATA/keys/master.key.</summary>
    public static string MasterKeyFile(IConfiguration configuration, DataDirectory data) => configuration["Content:MasterKeyFile"] ?? Path.Combine(data.Root, "keys", "master.key");

    /// <summary>
    /// The policy's deployment settings (section Access): MaskedVisibleToTreatingAndAuthor,
    /// ProfessionalsSeeMaskedExistence, durations, and the profession × document-type Matrix.
    /// </summary>
    public static OpenDmp.Core.Access.PolicySettings AccessSettings(IConfiguration configuration)
    {
        var section = configuration.GetSection("Access");
        var settings = new OpenDmp.Core.Access.PolicySettings();
        section.Bind(settings, o => o.BindNonPublicProperties = false);
        var matrix = section.GetSection("Matrix");
        if (matrix.Exists())
        {
            var rules = matrix.GetChildren().ToDictionary(c => c.Key, c => c.GetChildren().Select(x => x.Value ?? string.Empty).ToArray(), StringComparer.Ordinal);
            settings.Matrix = new OpenDmp.Core.Access.AccessMatrix(rules);
        }
        else
        {
            settings.Matrix = OpenDmp.Core.Access.AccessMatrix.Default;
        }

        return settings;
    }

    /// <summary>Applies the provider's migrations; SQLite gets WAL mode for concurrent readers.</summary>
    public static async Task MigrateAsync(IServiceProvider services, CancellationToken ct)
    {
        using var scope = services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
        await db.Database.MigrateAsync(ct);
        if (db.Database.IsSqlite())
        {
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
            var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("OpenDmp.Storage");
            if (SqliteProcessSettings.Apply())
            {
                LogSqliteSettings(log);
            }
            else
            {
                LogSqliteSettingsLate(log);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite: process settings applied (memory statistics off)")]
    private static partial void LogSqliteSettings(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite was initialised in this process before its settings could be applied: memory statistics stay on (slower under concurrent requests)")]
    private static partial void LogSqliteSettingsLate(ILogger logger);
}
