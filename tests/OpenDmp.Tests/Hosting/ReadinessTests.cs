using System.Net;
using Npgsql;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Hosting;

/// <summary>/health/ready turns unhealthy when the database or the content store cannot serve, and recovers by itself.</summary>
public sealed class ReadinessTests_Sqlite() : ServerTestBase(new SqliteStorage())
{
    [Fact]
    public async Task AMissingContentFolder_MakesTheServerUnready_UntilItIsBack()
    {
        var http = Server.Http(null);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
        var moved = Server.Data.Content + ".away";
        Directory.Move(Server.Data.Content, moved);
        try
        {
            using var unready = await http.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unready.StatusCode);
            Assert.Contains("content store unavailable", await unready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.False(Directory.Exists(Server.Data.Content), "the probe must not re-create the content folder");
        }
        finally
        {
            Directory.Move(moved, Server.Data.Content);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
    }
}

[Collection(PostgresCollection.Name)]
public sealed class ReadinessTests_Postgres(PostgresCluster pg) : ServerTestBase(new PostgresStorage(pg, "readiness"))
{
    [Fact]
    public async Task AnUnreachableDatabase_MakesTheServerUnready_ThenItRecoversByItself()
    {
        var http = Server.Http(null);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
        var database = new NpgsqlConnectionStringBuilder(Server.Config["Database:ConnectionString"]).Database!;
        await AdminAsync($"ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS false");
        await AdminAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'");
        try
        {
            using var unready = await http.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unready.StatusCode);
            Assert.Contains("database unreachable", await unready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            await AdminAsync($"ALTER DATABASE \"{database}\" WITH ALLOW_CONNECTIONS true");
        }

        // Recovers without a restart (a pooled connection broken by the outage may fail once).
        var status = HttpStatusCode.ServiceUnavailable;
        for (var i = 0; i < 20 && status != HttpStatusCode.OK; i++)
        {
            status = (await http.GetAsync("/health/ready")).StatusCode;
            if (status != HttpStatusCode.OK)
            {
                await Task.Delay(250);
            }
        }

        Assert.Equal(HttpStatusCode.OK, status);
    }

    private async Task AdminAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(pg.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
