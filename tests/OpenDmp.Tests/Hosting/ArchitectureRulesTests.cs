using System.Reflection;
using Microsoft.AspNetCore.Components;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Hosting;

/// <summary>Rules of the code's shape that keep policy and audit impossible to skip.</summary>
public class ArchitectureRulesTests
{
    /// <summary>
    /// Server code and portal pages reach patient data through the Core services (policy + audit);
    /// only these files may name the DbContext, each for a reviewed reason.
    /// </summary>
    private static readonly Dictionary<string, string> DbContextAllowList = new(StringComparer.Ordinal)
    {
        ["Hosting/CoreServices.cs"] = "registers the DbContext and migrates",
        ["Hosting/OpenDmpHost.cs"] = "readiness probe (CanConnect, no table)",
        ["Fhir/Authentication.cs"] = "finds the professional of a client certificate (directory)",
        ["Patients/PatientAuthService.cs"] = "patient accounts and sessions (authentication)",
        ["Demo/DemoWorld.cs"] = "creates the demo world in an empty data folder",
        ["Hosting/DataProtectionKeys.cs"] = "the data-protection key ring shared by the instances (no patient data)",
        ["Hosting/KeyStore.cs"] = "master-key rotation: re-wraps record keys and data-protection keys (nothing in clear)",
    };

    [Fact]
    public void ServerCode_NamesTheDbContextOnlyInTheAllowList()
    {
        var server = Path.Combine(Repository.Root, "src", "OpenDmp.Server");
        var offenders = System.IO.Directory.EnumerateFiles(server, "*.*", SearchOption.AllDirectories)
            .Where(f => (f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".razor", StringComparison.Ordinal)) && !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f).Contains(nameof(DmpDbContext), StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(server, f).Replace('\\', '/'))
            .Where(f => !DbContextAllowList.ContainsKey(f))
            .ToList();
        Assert.True(offenders.Count == 0, "these files reach the database directly instead of through a Core service: " + string.Join(", ", offenders));
    }

    [Fact]
    public void NoPortalPage_InjectsTheDbContext()
    {
        var pages = typeof(OpenDmp.Server.Portal.PortalComponent).Assembly.GetTypes().Where(t => typeof(ComponentBase).IsAssignableFrom(t));
        var injected = pages.SelectMany(t => t.GetProperties(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(p => p.GetCustomAttribute<InjectAttribute>() is not null && p.PropertyType == typeof(DmpDbContext))
            .Select(p => t.Name)).ToList();
        Assert.Empty(injected);
    }

    [Fact]
    public void EveryAuditAction_HasACode_AMeaningForThePatient_AndAPortalText()
    {
        var texts = OpenDmp.Server.Portal.Ui.Resources.GetResourceSet(System.Globalization.CultureInfo.InvariantCulture, true, false)!;
        foreach (var action in Enum.GetValues<AuditAction>())
        {
            var code = action.Code();
            Assert.Equal(action, AuditActions.Parse(code));
            Assert.NotNull(action.Interaction());
            Assert.False(string.IsNullOrEmpty(texts.GetString("action." + code)), $"no portal text action.{code}");
        }

        // Entries written before the type was closed are read with their meaning.
        Assert.Equal(AuditAction.Create, AuditActions.Parse("CreateDocument"));
        Assert.Equal(AuditAction.Replace, AuditActions.Parse("ReplaceDocument"));
    }

    [Theory]
    [InlineData("SELECT d.id FROM \"documents\" AS d WHERE d.record_id = @p", true)]
    [InlineData("SELECT p.id FROM professionals AS p WHERE p.rpps = @p", false)]
    [InlineData("SELECT s.token_hash FROM patient_sessions AS s", false)]
    [InlineData("INSERT INTO audit_entries (record_id, seq) VALUES (@p0, @p1)", true)]
    [InlineData("SELECT 1 FROM professionals p JOIN grants g ON g.holder_id = p.id", true)]
    public void PatientDataInterceptor_RecognisesPatientTables(string sql, bool expected) =>
        Assert.Equal(expected, PatientDataInterceptor.TouchesPatientData(sql));
}
