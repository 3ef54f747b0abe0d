// Design-time entry point for `dotnet ef migrations add`; not part of the product build.
// Usage (from the repository root):
//   EF_PROVIDER=Sqlite   dotnet ef migrations add NAME --project src/OpenDmp.Migrations.Sqlite   --startup-project tools/OpenDmp.DesignTime --output-dir Migrations
//   EF_PROVIDER=Postgres dotnet ef migrations add NAME --project src/OpenDmp.Migrations.Postgres --startup-project tools/OpenDmp.DesignTime --output-dir Migrations
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using OpenDmp.Core.Storage;

public sealed class Factory : IDesignTimeDbContextFactory<DmpDbContext>
{
    public DmpDbContext CreateDbContext(string[] args)
    {
        var provider = Environment.GetEnvironmentVariable("EF_PROVIDER") ?? "Sqlite";
        var b = new DbContextOptionsBuilder<DmpDbContext>();
        var o = provider == "Postgres"
            ? new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = "Host=localhost;Database=design" }
            : new DatabaseOptions { Provider = DatabaseProvider.Sqlite, ConnectionString = "Data Source=design.db" };
        o.Configure(b, ".");
        return new DmpDbContext(b.Options);
    }
}

public static class Program
{
    public static void Main()
    {
    }
}
