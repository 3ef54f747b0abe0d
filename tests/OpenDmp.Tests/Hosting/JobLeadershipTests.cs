using System.Globalization;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Hosting;

/// <summary>
/// Two instances on one PostgreSQL database: the full audit checkpoint (every chain) is walked by
/// one of them only, and the other takes over when that one stops. (The mailbox, notification,
/// retention and sweep jobs have their own leader tests.)
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class JobLeadershipTests(PostgresCluster pg)
{
    [Fact]
    public async Task TheFullAuditCheckpoint_IsWalkedByOneInstance_AndTakenOverWhenItStops()
    {
        var cs = await pg.CreateDatabaseAsync("fullcheckpoint");
        var config = new Dictionary<string, string?>
        {
            ["Audit:CheckpointSeconds"] = "1",
            ["Audit:FullCheckpointHours"] = (1.0 / 3600).ToString(CultureInfo.InvariantCulture),
        };
        var firstLog = new TelemetryCapture();
        var secondLog = new TelemetryCapture();
        var first = await RunningServer.StartAsync(cs, config, ownsData: false, logging: firstLog.Install);
        await using var second = await RunningServer.StartAsync(cs, config, shared: first.Data, logging: secondLog.Install);
        await first.AddProfessionalAsync();
        try
        {
            await Wait.UntilAsync(() => Task.FromResult(Full(firstLog) >= 4), TimeSpan.FromSeconds(30), () => $"first: {Full(firstLog)} full checkpoints");
            Assert.Equal(0, Full(secondLog));
        }
        finally
        {
            await first.DisposeAsync();
        }

        await Wait.UntilAsync(() => Task.FromResult(Full(secondLog) >= 2), TimeSpan.FromSeconds(30), () => $"second: {Full(secondLog)} full checkpoints after the first stopped");
    }

    private static int Full(TelemetryCapture log) => log.Logs.Count(l => l.Contains("Audit checkpoint", StringComparison.Ordinal) && l.Contains("(full: True)", StringComparison.Ordinal));
}
