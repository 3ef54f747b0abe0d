using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace OpenDmp.Core.Storage;

/// <summary>
/// One leader per background job among several OpenDMP instances (design D13): on PostgreSQL a
/// session-level advisory lock held on a dedicated, unpooled connection for as long as the leader
/// works (it is released when the connection ends, so a crashed leader frees it at once); on SQLite,
/// a single process, the caller always leads.
/// </summary>
public sealed class JobLeader(DatabaseOptions options)
{
    /// <summary>A lease on a job; <see cref="IsHeldAsync"/> tells whether it still holds.</summary>
    public interface ILease : IAsyncDisposable
    {
        Task<bool> IsHeldAsync(CancellationToken ct);
    }

    /// <summary>The lease on <paramref name="job"/>, or null when another instance holds it.</summary>
    public async Task<ILease?> TryAcquireAsync(string job, CancellationToken ct)
    {
        if (options.Provider != DatabaseProvider.Postgres)
        {
            return SingleProcess.Instance;
        }

        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString) { Pooling = false, ApplicationName = "opendmp-leader-" + job };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
            cmd.Parameters.AddWithValue("key", KeyOf(job));
            if (await cmd.ExecuteScalarAsync(ct) is true)
            {
                return new AdvisoryLease(connection);
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        await connection.DisposeAsync();
        return null;
    }

    /// <summary>
    /// Runs <paramref name="round"/> while this instance leads <paramref name="job"/>: as soon as
    /// <paramref name="wake"/> is signalled and at least every <paramref name="period"/>. The lease is
    /// held between rounds (not taken per round: a wake per filing would open a connection each time)
    /// and checked at most once a second; a failed round is reported to <paramref name="failed"/> and
    /// the loop goes on after a period. Returns when <paramref name="ct"/> is cancelled.
    /// </summary>
    public async Task LeadAsync(string job, TimeSpan period, Common.WakeSignal wake, Func<CancellationToken, Task> round, Action<Exception> failed, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var lease = await TryAcquireAsync(job, ct);
                if (lease is null)
                {
                    await Task.Delay(period, ct);
                    continue;
                }

                var checkedAt = System.Diagnostics.Stopwatch.StartNew();
                while (true)
                {
                    await round(ct);
                    await wake.WaitAsync(period, ct);
                    if (checkedAt.Elapsed > TimeSpan.FromSeconds(1))
                    {
                        if (!await lease.IsHeldAsync(ct))
                        {
                            break;
                        }

                        checkedAt.Restart();
                    }
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failed(ex);
                await Task.Delay(period, ct);
            }
        }
    }

    /// <summary>A stable 64-bit key per job name.</summary>
    public static long KeyOf(string job) => BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("opendmp:" + job)), 0);

    private sealed class SingleProcess : ILease
    {
        public static readonly SingleProcess Instance = new();

        public Task<bool> IsHeldAsync(CancellationToken ct) => Task.FromResult(true);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class AdvisoryLease(NpgsqlConnection connection) : ILease
    {
        public async Task<bool> IsHeldAsync(CancellationToken ct)
        {
            try
            {
                await using var cmd = new NpgsqlCommand("SELECT 1", connection);
                await cmd.ExecuteScalarAsync(ct);
                return true;
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
            {
                return false;
            }
        }

        public ValueTask DisposeAsync() => connection.DisposeAsync();
    }
}
