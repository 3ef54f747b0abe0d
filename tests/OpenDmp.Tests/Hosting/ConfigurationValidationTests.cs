using Microsoft.Extensions.Configuration;
using OpenDmp.Server.Cli;
using OpenDmp.Server.Hosting;

namespace OpenDmp.Tests.Hosting;

/// <summary>The configuration is checked at start: every wrong key or value is reported, by its name, before anything runs.</summary>
public sealed class ConfigurationValidationTests
{
    private static IReadOnlyList<string> Problems(params (string Key, string Value)[] settings) =>
        ConfigurationValidation.Problems(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());

    [Fact]
    public void ARealisticDeployment_IsValid()
    {
        Assert.Empty(Problems(
            ("Database:Provider", "Postgres"),
            ("Database:ConnectionString", "Host=db1,db2,db3;Database=opendmp;Username=opendmp;Target Session Attributes=primary"),
            ("Server:PublicBaseUrl", "https://dmp.example.fr"),
            ("Documents:MaxContentBytes", "20971520"),
            ("Content:Store", "database"),
            ("Audit:CheckpointSeconds", "5"),
            ("Records:RetentionYears", "10"),
            ("Records:RetentionCheckHours", "24"),
            ("Messaging:Enabled", "true"),
            ("Messaging:Smtp:Host", "smtp.example.fr"),
            ("Messaging:Smtp:Port", "587"),
            ("Messaging:Imap:Host", "imap.example.fr"),
            ("Messaging:Imap:Port", "993"),
            ("Messaging:NotificationSeconds", "10"),
            ("PatientAuth:Lockout", "00:15:00"),
            ("Telemetry:OtlpEndpoint", "http://127.0.0.1:4317"),
            ("Telemetry:PrometheusAllowedNetworks", "10.0.0.0/8, 127.0.0.1/32"),
            ("Access:ProfessionalsSeeMaskedExistence", "true"),
            ("Logging:LogLevel:Default", "Information")));
    }

    [Theory]
    [InlineData("Databse:Provider", "Postgres", "Databse: unknown setting")]
    [InlineData("Documents:MaxContentByte", "5", "Documents:MaxContentByte: unknown setting (known: ")]
    [InlineData("Messaging:Smtp:Prot", "25", "Messaging:Smtp:Prot: unknown setting")]
    [InlineData("Documents:MaxContentBytes", "lots", "'Documents:MaxContentBytes'")]
    [InlineData("Database:Provider", "Oracle", "'Database:Provider'")]
    [InlineData("PatientAuth:Lockout", "quinze minutes", "'PatientAuth:Lockout'")]
    [InlineData("Records:RetentionCheckHours", "daily", "Records:RetentionCheckHours: 'daily' is not a number")]
    [InlineData("Pki:RevocationRefreshSeconds", "2.5", "Pki:RevocationRefreshSeconds: '2.5' is not a whole number")]
    [InlineData("Database:Provider", "Postgres", "Database:ConnectionString: required")]
    [InlineData("Documents:MaxContentBytes", "0", "Documents:MaxContentBytes: must be positive")]
    [InlineData("Content:Store", "s3", "Content:Store: must be 'file' or 'database'")]
    [InlineData("Server:PublicBaseUrl", "dmp.example.fr", "Server:PublicBaseUrl: must be an absolute https URL")]
    [InlineData("Telemetry:PrometheusAllowedNetworks", "10.0.0.0/8,intranet", "Telemetry:PrometheusAllowedNetworks: 'intranet' is not a network")]
    [InlineData("Telemetry:TraceSampleRatio", "5", "Telemetry:TraceSampleRatio: must be between 0 and 1")]
    [InlineData("Audit:CheckpointSeconds", "-1", "Audit:CheckpointSeconds: must be 0")]
    [InlineData("Alerts:DispatchSeconds", "-2", "Alerts:DispatchSeconds: must be 0")]
    [InlineData("Alerts:ResultRules:0:Treshold", "5", "Alerts:ResultRules:0:Treshold: unknown setting")]
    [InlineData("Alerts:ResultRules:0:Id", "inr", "Alerts:ResultRules:0: a rule needs Above, Below or Interpretations")]
    [InlineData("Alerts:ResultRules:0:Above", "5", "Alerts:ResultRules:0:Codes: a threshold applies to named LOINC codes")]
    [InlineData("Alerts:ResultRules:0:Unit", "mmol/Z", "Alerts:ResultRules:0:Unit: 'mmol/Z' is not a UCUM unit")]
    public void AWrongKeyOrValue_IsReportedByItsName(string key, string value, string expected)
    {
        var problems = Problems((key, value));
        Assert.True(problems.Any(p => p.Contains(expected, StringComparison.Ordinal)), $"expected '{expected}' among: {string.Join(" | ", problems)}");
    }

    [Fact]
    public void EveryProblem_IsReportedAtOnce()
    {
        var problems = Problems(("Documents:MaxContentByte", "5"), ("Telemetri:Tracing", "true"), ("Records:RetentionCheckHours", "daily"));
        Assert.Equal(3, problems.Count);
    }

    [Fact]
    public async Task Serve_WithAMisspeltKeyInOpendmpJson_StopsBeforeStarting_AndNamesTheKey()
    {
        var root = Path.Combine(Path.GetTempPath(), "opendmp-config-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(root, "opendmp.json"), """{ "Documents": { "MaxContentBytes": 1048576 }, "Messaging": { "NotificationSecond": 30 } }""");
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            var code = await AdminCli.RunAsync(["serve", "--urls", "https://127.0.0.1:0", "--no-demo", "--data", root], null, stdout, stderr);
            Assert.Equal(2, code);
            Assert.Contains("Messaging:NotificationSecond: unknown setting", stderr.ToString(), StringComparison.Ordinal);
            Assert.Contains("NotificationSeconds", stderr.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("serving", stdout.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
