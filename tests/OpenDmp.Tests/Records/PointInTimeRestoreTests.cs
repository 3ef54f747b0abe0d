using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Server.Cli;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Records;

/// <summary>
/// PostgreSQL backups with pgBackRest (docs/OPERATIONS.md): a full backup plus continuous WAL
/// archiving, restored to a point in time into a fresh cluster. The restored platform has every
/// document and content filed before that time and nothing after, its audit chains verify against
/// the anchored checkpoints, and a record shredded after that time stays unreadable although the
/// restored database holds its wrapped key again (the key store's tombstone wins, ADR 0019).
/// </summary>
public sealed class PointInTimeRestoreTests : IAsyncLifetime
{
    private const string Stanza = "opendmp";
    private readonly List<string> _clusters = [];
    private string _root = string.Empty;
    private string _bin = string.Empty;

    public async Task InitializeAsync()
    {
        _bin = PgTools.FindBinaries() ?? throw new InvalidOperationException("PostgreSQL server binaries not found: run the test command from README.md");
        Assert.True(File.Exists("/usr/bin/pgbackrest"), "pgbackrest is not installed: run the test command from README.md (it installs the 'pgbackrest' package)");
        _root = await PgTools.CreateDirectoryAsync("opendmp-pitr-");
    }

    public async Task DisposeAsync()
    {
        foreach (var data in _clusters)
        {
            try
            {
                await PgTools.RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"], PgTools.AsPostgresUser);
            }
            catch (InvalidOperationException)
            {
            }
        }

        try
        {
            Directory.Delete(_root, true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task APointInTimeRestore_HasTheDocumentsAndIntactAuditOfThatTime_AndNoRecordShreddedSince()
    {
        var conf = Path.Combine(_root, "pgbackrest.conf");
        var source = Path.Combine(_root, "source");
        var sourcePort = Wait.FreePort();
        await File.WriteAllTextAsync(conf, $"""
            [global]
            repo1-path={_root}/repo
            log-path={_root}/log
            lock-path={_root}/lock
            log-level-console=warn
            log-level-file=info
            start-fast=y
            compress-type=lz4

            [{Stanza}]
            pg1-path={source}
            pg1-port={sourcePort}
            pg1-socket-path={_root}
            pg1-user=postgres

            """);
        await PgTools.RunAsync("mkdir", ["-p", Path.Combine(_root, "log"), Path.Combine(_root, "lock")], PgTools.AsPostgresUser);
        await PgTools.RunAsync(Path.Combine(_bin, "initdb"), ["-D", source, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"], PgTools.AsPostgresUser);
        await File.AppendAllTextAsync(Path.Combine(source, "postgresql.conf"), $"""

            listen_addresses = '127.0.0.1'
            port = {sourcePort}
            unix_socket_directories = '{_root}'
            wal_level = replica
            archive_mode = on
            archive_command = 'pgbackrest --config={conf} --stanza={Stanza} archive-push %p'
            max_connections = 100

            """);
        await StartAsync(source);
        await BackRestAsync("stanza-create");
        await BackRestAsync("check");
        var cs = await CreateDatabaseAsync(sourcePort);

        // The platform before the backup: a document (with its content) and a closed record.
        var config = new Dictionary<string, string?> { ["Audit:CheckpointSeconds"] = "0" };
        var server = await RunningServer.StartAsync(cs, config, ownsData: false);
        var data = server.Data;
        RunningServer? running = server;
        string kept, later, shreddedDoc;
        TestProfessional gp;
        var content = SubmissionBuilder.MinimalPdf("Compte rendu gardé");
        try
        {
            gp = await server.AddProfessionalAsync();
            var patient = await server.AddPatientAsync(gp);
            kept = await server.SubmitAsync(gp, patient, new DocumentToSubmit(content, "application/pdf", "Compte rendu gardé"));
            var closed = await server.AddPatientAsync(gp);
            shreddedDoc = await server.SubmitAsync(gp, closed, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Ancien"), "application/pdf", "Ancien dossier"));
            await CliAsync(server, "record", "close", "--ins", closed.Id);
            await CliAsync(server, "audit", "checkpoint");
            await BackRestAsync("backup", "--type=full");

            // The point in time (pgBackRest keeps the backup's stop time to the second: the target is
            // taken a second later); then a document filed and a record shredded after it.
            await Task.Delay(1200);
            var target = await ScalarAsync(cs, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
            await Task.Delay(200);
            later = await server.SubmitAsync(gp, patient, new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Après"), "application/pdf", "Compte rendu d'après"));
            await CliAsync(server, "record", "shred", "--ins", closed.Id, "--confirm", closed.Id);
            await BackRestAsync("check");

            // Restore into a fresh cluster, to that time.
            await server.DisposeAsync();
            running = null;
            var restored = await PgTools.CreateDirectoryAsync("opendmp-pitr-restored-");
            await BackRestAsync("restore", $"--pg1-path={restored}", "--type=time", $"--target={target}", "--target-action=promote");
            var restoredPort = Wait.FreePort();
            await StartAsync(restored, $"-p {restoredPort} -c archive_mode=off");
            await Wait.UntilAsync(async () => await ScalarAsync(Admin(restoredPort), "SELECT pg_is_in_recovery()::text") == "false", TimeSpan.FromSeconds(60));
            var restoredCs = new NpgsqlConnectionStringBuilder(cs) { Port = restoredPort }.ConnectionString;
            Assert.Equal("1", await ScalarAsync(restoredCs, $"SELECT count(*)::text FROM record_keys WHERE record_id = '{closed.Id}'"));

            // The restored platform (same data folder: the master key and its tombstones, the audit anchors).
            server = running = await RunningServer.StartAsync(restoredCs, config, shared: data, ownsData: false);
            var http = server.Http(gp.Certificate);
            using (var raw = new HttpRequestMessage(HttpMethod.Get, $"/fhir/Binary/{kept}") { Headers = { { "Accept", "application/pdf" } } })
            using (var binary = await http.SendAsync(raw))
            {
                Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
                Assert.Equal(content, await binary.Content.ReadAsByteArrayAsync());
            }

            using (var after = await http.GetAsync($"/fhir/DocumentReference/{later}"))
            {
                Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
            }

            // (Even the operator, whom no grant limits, finds it gone.)
            var kind = await server.WithScopeAsync<ErrorKind?>(async sp =>
            {
                try
                {
                    await sp.GetRequiredService<DocumentQueries>().RetrieveAsync(shreddedDoc, Actor.Operator, Channels.Admin, CancellationToken.None);
                    return null;
                }
                catch (DmpException ex)
                {
                    return ex.Kind;
                }
            });
            Assert.Equal(ErrorKind.Gone, kind);

            Assert.Equal("0", await ScalarAsync(restoredCs, $"SELECT count(*)::text FROM record_keys WHERE record_id = '{closed.Id}'"));
            var verify = await CliAsync(server, "audit", "verify");
            Assert.Contains("intact", verify, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            if (running is not null)
            {
                await running.DisposeAsync();
            }

            try
            {
                Directory.Delete(data.Root, true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string Admin(int port) => $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";

    private async Task StartAsync(string data, string? options = null)
    {
        _clusters.Add(data);
        await PgTools.RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", data, "-w", "-t", "120", "-l", data + ".log", .. options is null ? Array.Empty<string>() : ["-o", options], "start"], PgTools.AsPostgresUser);
    }

    private async Task BackRestAsync(string command, params string[] options) =>
        await PgTools.RunAsync("/usr/bin/pgbackrest", [$"--config={Path.Combine(_root, "pgbackrest.conf")}", $"--stanza={Stanza}", .. options, command], PgTools.AsPostgresUser);

    private static async Task<string> CreateDatabaseAsync(int port)
    {
        await using var conn = new NpgsqlConnection(Admin(port));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("CREATE DATABASE opendmp", conn);
        await cmd.ExecuteNonQueryAsync();
        return $"Host=127.0.0.1;Port={port};Username=postgres;Database=opendmp;Maximum Pool Size=20";
    }

    private static async Task<string> ScalarAsync(string cs, string sql)
    {
        await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToString(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture) ?? string.Empty;
    }

    private static async Task<string> CliAsync(RunningServer server, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--data", server.Data.Root], server.Config, stdout, stderr);
        Assert.True(code == 0, $"opendmp {string.Join(' ', args)}: {stderr}");
        return stdout.ToString();
    }
}
