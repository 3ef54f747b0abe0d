using System.Globalization;
using System.Reflection;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Checks the configuration before anything starts: every key is one OpenDMP knows (a misspelt key
/// would otherwise be ignored silently, leaving a default in force), every value converts to its type
/// and lies in its range. All problems are reported at once, each naming its key.
/// </summary>
public static class ConfigurationValidation
{
    /// <summary>Sections bound to an options class: their keys are the class's properties.</summary>
    private static readonly (string Section, Type Options)[] Bound =
    [
        ("Database", typeof(DatabaseOptions)),
        ("Documents", typeof(OpenDmp.Core.Documents.DocumentOptions)),
        ("Server", typeof(OpenDmp.Core.Fhir.ServerOptions)),
        ("Audit", typeof(OpenDmp.Core.Audit.AuditOptions)),
        ("Records", typeof(OpenDmp.Core.Records.RetentionOptions)),
        ("PatientAuth", typeof(OpenDmp.Server.Patients.PatientAuthOptions)),
        ("Messaging", typeof(OpenDmp.Core.Messaging.MessagingOptions)),
        ("Telemetry", typeof(TelemetryOptions)),
        ("Alerts", typeof(OpenDmp.Core.Alerts.AlertOptions)),
        ("AccessSignals", typeof(OpenDmp.Core.Access.AccessSignalOptions)),
        ("Subscriptions", typeof(OpenDmp.Core.Subscriptions.SubscriptionOptions)),
        ("Sms", typeof(OpenDmp.Server.Messaging.SmsOptions)),
        ("Reminders", typeof(OpenDmp.Core.Reminders.ReminderOptions)),
        ("Xds", typeof(OpenDmp.Core.Xds.XdsOptions)),
        ("Exports", typeof(OpenDmp.Core.Exports.ExportOptions)),
        ("Portable", typeof(OpenDmp.Core.Exports.PortableOptions)),
        ("Research", typeof(OpenDmp.Core.Research.ResearchOptions)),
    ];

    /// <summary>Keys read one by one, with their type.</summary>
    private static readonly (string Key, Type Type)[] Scalars =
    [
        ("Messaging:NotificationSeconds", typeof(double)),
        ("Records:RetentionCheckHours", typeof(double)),
        ("Records:RetentionFirstCheckMinutes", typeof(double)),
        ("Pki:RevocationRefreshSeconds", typeof(int)),
        ("Content:Store", typeof(string)),
        ("Content:MasterKeyFile", typeof(string)),
        ("Content:SweepHours", typeof(double)),
        ("Content:SweepMinAgeMinutes", typeof(double)),
        ("Security:Contact", typeof(string)),
    ];

    /// <summary>Sections read by the framework or checked elsewhere (Access: the policy settings and matrix, checked when built).</summary>
    private static readonly string[] Other = ["Access", "Logging", "Kestrel", "AllowedHosts", "Urls"];

    /// <summary>Throws, listing every problem, when the configuration is not valid.</summary>
    public static void Validate(IConfiguration configuration)
    {
        var problems = Problems(configuration);
        if (problems.Count > 0)
        {
            throw OpenDmp.Core.Common.DmpException.Invalid("invalid configuration:\n  " + string.Join("\n  ", problems));
        }
    }

    public static IReadOnlyList<string> Problems(IConfiguration configuration)
    {
        var problems = new List<string>();
        var known = Bound.Select(b => b.Section).Concat(Scalars.Select(s => s.Key.Split(':')[0])).Concat(Other).ToHashSet(StringComparer.OrdinalIgnoreCase);
        // Every OpenDMP setting lives in a section; a lone top-level value (e.g. OPENDMP_BENCH_PG for the
        // benchmarks) is not one of its settings and is left alone.
        foreach (var section in configuration.GetChildren().Where(s => s.GetChildren().Any()))
        {
            if (!known.Contains(section.Key))
            {
                problems.Add($"{section.Key}: unknown setting (known sections: {string.Join(", ", known.Order(StringComparer.Ordinal))})");
            }
        }

        foreach (var (name, type) in Bound)
        {
            var section = configuration.GetSection(name);
            UnknownKeys(section, type, problems);
            try
            {
                section.Get(type);
            }
            catch (InvalidOperationException ex)
            {
                problems.Add(ex.InnerException is { } inner ? $"{ex.Message.TrimEnd('.')}: {inner.Message}" : ex.Message);
            }
        }

        foreach (var (key, type) in Scalars)
        {
            if (configuration[key] is { } value && type != typeof(string) && !Converts(value, type))
            {
                problems.Add($"{key}: '{value}' is not a {(type == typeof(int) ? "whole number" : "number")}");
            }
        }

        if (problems.Count == 0)
        {
            Ranges(configuration, problems);
        }

        return problems;
    }

    /// <summary>Keys under a bound section that no property takes (scalar keys of the same section are allowed).</summary>
    private static void UnknownKeys(IConfigurationSection section, Type type, List<string> problems)
    {
        foreach (var child in section.GetChildren())
        {
            var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || property.SetMethod is null && !IsComplex(property.PropertyType))
            {
                if (!Scalars.Any(s => string.Equals(s.Key, child.Path, StringComparison.OrdinalIgnoreCase)))
                {
                    var names = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is not null).Select(p => p.Name)
                        .Concat(Scalars.Where(s => s.Key.StartsWith(section.Path + ":", StringComparison.OrdinalIgnoreCase)).Select(s => s.Key[(section.Path.Length + 1)..]));
                    problems.Add($"{child.Path}: unknown setting (known: {string.Join(", ", names.Order(StringComparer.Ordinal))})");
                }
            }
            else if (IsComplex(property.PropertyType))
            {
                UnknownKeys(child, property.PropertyType, problems);
            }
            else if (property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(List<>) && IsComplex(property.PropertyType.GetGenericArguments()[0]))
            {
                // A list of objects (e.g. Alerts:ResultRules:0:Above): each item's keys are the item type's properties.
                foreach (var item in child.GetChildren())
                {
                    UnknownKeys(item, property.PropertyType.GetGenericArguments()[0], problems);
                }
            }
        }
    }

    private static bool IsComplex(Type type) => type.IsClass && type != typeof(string) && !typeof(System.Collections.IEnumerable).IsAssignableFrom(type);

    private static bool Converts(string value, Type type) => type == typeof(int)
        ? int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
        : double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    /// <summary>Values that convert but cannot work.</summary>
    private static void Ranges(IConfiguration configuration, List<string> problems)
    {
        var db = configuration.GetSection("Database").Get<DatabaseOptions>() ?? new DatabaseOptions();
        if (db.Provider == DatabaseProvider.Postgres)
        {
            if (string.IsNullOrWhiteSpace(db.ConnectionString))
            {
                problems.Add("Database:ConnectionString: required with Database:Provider Postgres (e.g. Host=db1,db2;Database=opendmp;Username=opendmp;Target Session Attributes=primary)");
            }
            else
            {
                try
                {
                    _ = new Npgsql.NpgsqlConnectionStringBuilder(db.ConnectionString);
                }
                catch (ArgumentException ex)
                {
                    problems.Add("Database:ConnectionString: " + ex.Message);
                }
            }
        }

        var docs = configuration.GetSection("Documents").Get<OpenDmp.Core.Documents.DocumentOptions>() ?? new OpenDmp.Core.Documents.DocumentOptions();
        Positive(problems, "Documents:MaxContentBytes", docs.MaxContentBytes);
        if (configuration["Content:Store"] is { } store && store is not ("file" or "database"))
        {
            problems.Add($"Content:Store: must be 'file' or 'database', got '{store}'");
        }

        if (configuration["Server:PublicBaseUrl"] is { Length: > 0 } publicUrl && (!Uri.TryCreate(publicUrl, UriKind.Absolute, out var u) || u.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"Server:PublicBaseUrl: must be an absolute https URL (e.g. https://dmp.example.fr), got '{publicUrl}'");
        }

        var retention = configuration.GetSection("Records").Get<OpenDmp.Core.Records.RetentionOptions>() ?? new OpenDmp.Core.Records.RetentionOptions();
        Positive(problems, "Records:RetentionYears", retention.RetentionYears);
        var audit = configuration.GetSection("Audit").Get<OpenDmp.Core.Audit.AuditOptions>() ?? new OpenDmp.Core.Audit.AuditOptions();
        if (audit.CheckpointSeconds < 0)
        {
            problems.Add($"Audit:CheckpointSeconds: must be 0 (no periodic checkpoint) or more, got {audit.CheckpointSeconds}");
        }

        Positive(problems, "Audit:GroupCommitMaxEntries", audit.GroupCommitMaxEntries);
        if (audit.DocumentFactsCacheEntries < 0)
        {
            problems.Add($"Audit:DocumentFactsCacheEntries: must be 0 (no cache) or more, got {audit.DocumentFactsCacheEntries}");
        }

        problems.AddRange((configuration.GetSection("Alerts").Get<OpenDmp.Core.Alerts.AlertOptions>() ?? new OpenDmp.Core.Alerts.AlertOptions()).Problems());
        problems.AddRange((configuration.GetSection("AccessSignals").Get<OpenDmp.Core.Access.AccessSignalOptions>() ?? new OpenDmp.Core.Access.AccessSignalOptions()).Problems());
        problems.AddRange((configuration.GetSection("Exports").Get<OpenDmp.Core.Exports.ExportOptions>() ?? new OpenDmp.Core.Exports.ExportOptions()).Problems());
        problems.AddRange((configuration.GetSection("Research").Get<OpenDmp.Core.Research.ResearchOptions>() ?? new OpenDmp.Core.Research.ResearchOptions()).Problems());
        problems.AddRange((configuration.GetSection("Portable").Get<OpenDmp.Core.Exports.PortableOptions>() ?? new OpenDmp.Core.Exports.PortableOptions()).Problems());
        problems.AddRange((configuration.GetSection("Subscriptions").Get<OpenDmp.Core.Subscriptions.SubscriptionOptions>() ?? new OpenDmp.Core.Subscriptions.SubscriptionOptions()).Problems());
        problems.AddRange((configuration.GetSection("Reminders").Get<OpenDmp.Core.Reminders.ReminderOptions>() ?? new OpenDmp.Core.Reminders.ReminderOptions()).Problems());
        problems.AddRange((configuration.GetSection("Sms").Get<OpenDmp.Server.Messaging.SmsOptions>() ?? new OpenDmp.Server.Messaging.SmsOptions()).Problems());

        var messaging = configuration.GetSection("Messaging").Get<OpenDmp.Core.Messaging.MessagingOptions>() ?? new OpenDmp.Core.Messaging.MessagingOptions();
        if (messaging.Enabled)
        {
            foreach (var (name, server) in new[] { ("Smtp", messaging.Smtp), ("Imap", messaging.Imap) })
            {
                if (string.IsNullOrWhiteSpace(server.Host))
                {
                    problems.Add($"Messaging:{name}:Host: required when Messaging:Enabled is true");
                }

                if (server.Port is <= 0 or > 65535)
                {
                    problems.Add($"Messaging:{name}:Port: must be between 1 and 65535, got {server.Port}");
                }
            }

            Positive(problems, "Messaging:BatchSize", messaging.BatchSize);
            Positive(problems, "Messaging:MaxMessageBytes", messaging.MaxMessageBytes);
        }

        var telemetry = configuration.GetSection("Telemetry").Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (telemetry.OtlpEndpoint is { Length: > 0 } otlp && !Uri.TryCreate(otlp, UriKind.Absolute, out _))
        {
            problems.Add($"Telemetry:OtlpEndpoint: must be an absolute URL (e.g. http://127.0.0.1:4317), got '{otlp}'");
        }

        if (telemetry.OtlpProtocol is not ("grpc" or "http"))
        {
            problems.Add($"Telemetry:OtlpProtocol: must be 'grpc' or 'http', got '{telemetry.OtlpProtocol}'");
        }

        if (telemetry.TraceSampleRatio is < 0 or > 1)
        {
            problems.Add($"Telemetry:TraceSampleRatio: must be between 0 and 1, got {telemetry.TraceSampleRatio.ToString(CultureInfo.InvariantCulture)}");
        }

        try
        {
            telemetry.AllowedNetworks();
        }
        catch (InvalidOperationException ex)
        {
            problems.Add(ex.Message);
        }
    }

    private static void Positive(List<string> problems, string key, double value)
    {
        if (value <= 0)
        {
            problems.Add($"{key}: must be positive, got {value.ToString(CultureInfo.InvariantCulture)}");
        }
    }
}
