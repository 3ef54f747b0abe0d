using OpenDmp.Core.Pki;

namespace OpenDmp.Server.Hosting;

/// <summary>
/// Keeps the revocation list current (every Pki:RevocationRefreshSeconds, default 5: a certificate
/// revoked by the command line or another instance is refused within that time) and the CA's CRL
/// file current (at start, whenever revocations change, and before it expires).
/// </summary>
public sealed partial class RevocationService(IServiceProvider services, RevocationList revocations, DataDirectory data, IConfiguration configuration, TimeProvider time, ILogger<RevocationService> logger) : BackgroundService
{
    public static string CrlPath(DataDirectory data) => Path.Combine(data.Pki, "ca.crl");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seconds = Math.Max(1, configuration.GetValue("Pki:RevocationRefreshSeconds", 5));
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(seconds));
        var written = -1;
        var writtenAt = DateTimeOffset.MinValue;
        do
        {
            try
            {
                using var scope = services.CreateScope();
                var certificates = scope.ServiceProvider.GetRequiredService<CertificateService>();
                await certificates.RefreshAsync(stoppingToken);
                var count = revocations.Count;
                if (count != written || time.GetUtcNow() - writtenAt > TimeSpan.FromDays(1))
                {
                    var ca = TestCertificateAuthority.LoadOrCreate(data.Pki, time);
                    await certificates.WriteCrlAsync(ca, CrlPath(data), stoppingToken);
                    (written, writtenAt) = (count, time.GetUtcNow());
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex.GetType().Name, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Revocation refresh failed: {ExceptionType}")]
    private static partial void LogFailed(ILogger logger, string exceptionType, Exception ex);
}
