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
}
