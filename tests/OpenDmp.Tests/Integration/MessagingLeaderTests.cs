using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Messaging;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Integration;

/// <summary>
/// Two OpenDMP instances on one PostgreSQL database and one deposit mailbox (design D13): one
/// watches the mailbox at a time (advisory lock), so every deposit is filed and answered once;
/// when the leader stops, the other takes over.
/// </summary>
[Collection(MailCollection.Name)]
public sealed class MessagingLeaderTests(MailServers mail, PostgresCluster pg) : IAsyncLifetime
{
    private RunningServer? _first;
    private RunningServer? _second;
    private string _cs = string.Empty;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_first is not null)
        {
            await _first.DisposeAsync();
        }

        if (_second is not null)
        {
            await _second.DisposeAsync();
        }
    }

    [Fact]
    public async Task OneInstanceWatchesTheMailbox_AndTheOtherTakesOver()
    {
        _cs = await pg.CreateDatabaseAsync("leader");
        var deposit = mail.CreateMailbox("depot");
        var config = mail.ServerConfig(deposit, 0.1);
        _first = await RunningServer.StartAsync(_cs, config, ownsData: false);
        await Wait.UntilAsync(async () => await LeadersAsync() == 1);
        _second = await RunningServer.StartAsync(_cs, config, shared: _first.Data);

        // A GP with a mailbox and a patient, through the first instance.
        var gp = await _first.AddProfessionalAsync();
        var box = mail.CreateMailbox("dr");
        var dir = Path.Combine(_first.Data.Root, "mail-certs", gp.Rpps);
        using var issued = _first.Ca.IssueProfessional(gp.Rpps, gp.Display, box.Address, dir, TimeProvider.System);
        await _first.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<DirectoryService>().SetMessagingAsync(gp.Rpps, box.Address, issued.ExportCertificatePem(), default);
            return 0;
        });
        using var signer = RunningServer.Reload(issued);
        var patient = await _first.AddPatientAsync(gp);
        var platform = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(await _first.Http(null).GetStringAsync("/messaging/deposit-certificate"));

        async Task SendAsync(int from, int count)
        {
            for (var i = from; i < from + count; i++)
            {
                var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("Doc " + i), "application/pdf", "Document " + i)]);
                var m = Deposits.Message(box.Address, deposit.Address, Xdm.FromBundle(bundle, patient.Ins, patient.System[8..]), signer, platform, askReceipt: true);
                await mail.SendAsync(m);
            }
        }

        // Both instances run; exactly one holds the mailbox.
        Assert.Equal(1, await LeadersAsync());
        await SendAsync(0, 12);
        await Wait.UntilAsync(async () => await _second.CountDocumentsAsync() == 12);
        await box.WaitForAsync(12);
        await Task.Delay(1500);
        Assert.Equal(12, (await box.WaitForAsync(12)).Count);

        // The leader stops: the other instance takes the mailbox over.
        await _first.DisposeAsync();
        _first = null;
        await Wait.UntilAsync(async () => await LeadersAsync() == 1, TimeSpan.FromSeconds(30));
        await SendAsync(12, 3);
        await Wait.UntilAsync(async () => await _second.CountDocumentsAsync() == 15, TimeSpan.FromSeconds(30));
        await box.WaitForAsync(15);
        await Task.Delay(1500);
        Assert.Equal(15, (await box.WaitForAsync(15)).Count);
    }

    private async Task<long> LeadersAsync()
    {
        await using var conn = new NpgsqlConnection(_cs);
        await conn.OpenAsync();
        // Holders of the granted advisory lock in this database (a follower's short-lived attempt
        // also shows in pg_stat_activity under the same application name, but holds nothing).
        await using var cmd = new NpgsqlCommand(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            + "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() AND a.application_name = 'opendmp-leader-deposit-mailbox'", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
