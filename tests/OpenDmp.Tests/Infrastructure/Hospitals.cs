using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Storage;

namespace OpenDmp.Tests.Infrastructure;

public static class Hospitals
{
    /// <summary>An establishment of the directory and an emergency physician working there.</summary>
    public static async Task<(TestProfessional Urgentist, string OrganizationName)> AddHospitalAsync(this RunningServer server)
    {
        var name = "CH des Alertes " + Guid.NewGuid().ToString("N")[..4];
        var orgId = await server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            var org = new OpenDmp.Core.Directory.Organization { Id = Guid.NewGuid().ToString(), Name = name, CreatedAt = DateTimeOffset.UtcNow };
            db.Organizations.Add(org);
            await db.SaveChangesAsync();
            return org.Id;
        });
        var urgentist = await server.AddProfessionalAsync("10", "SM54", "Urgences", "Marc");
        await server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Professionals.Where(x => x.Id == urgentist.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.OrganizationId, orgId)));
        return (urgentist, name);
    }

    /// <summary>An establishment added with the command line, and its organisation certificate (pki issue-organisation).</summary>
    public static async Task<(string Finess, X509Certificate2 Certificate, string Id)> AddStructureAsync(this RunningServer server, string name)
    {
        var finess = "69" + Random.Shared.Next(1_000_000, 9_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var dir = Path.Combine(server.Data.Root, "structure-certs");
        string[][] commands = [["organization", "add", "--finess", finess, "--name", name], ["pki", "issue-organisation", "--finess", finess, "--out", dir, "--p12-password", "test"]];
        foreach (var args in commands)
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            var code = await OpenDmp.Server.Cli.AdminCli.RunAsync([.. args, "--data", server.Data.Root], server.Config, stdout, stderr);
            Assert.True(code == 0, $"opendmp {string.Join(' ', args)}: {stdout}{stderr}");
        }

        var cert = X509Certificate2.CreateFromPemFile(Path.Combine(dir, $"org-{finess}.crt"), Path.Combine(dir, $"org-{finess}.key"));
        var id = await server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().Organizations.Where(o => o.Finess == finess).Select(o => o.Id).SingleAsync());
        return (finess, RunningServer.Reload(cert), id);
    }
}
