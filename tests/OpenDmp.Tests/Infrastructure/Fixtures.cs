namespace OpenDmp.Tests.Infrastructure;

/// <summary>Provides the storage under test: SQLite (no connection string) or a fresh PostgreSQL database.</summary>
public interface IStorageUnderTest
{
    Task<string?> ConnectionStringAsync();
}

public sealed class SqliteStorage : IStorageUnderTest
{
    public Task<string?> ConnectionStringAsync() => Task.FromResult<string?>(null);
}

/// <summary>One server per test class, on the class's storage.</summary>
public abstract class ServerTestBase : IAsyncLifetime
{
    private readonly IStorageUnderTest _storage;

    protected ServerTestBase(IStorageUnderTest storage) => _storage = storage;

    protected RunningServer Server { get; private set; } = null!;

    protected virtual IDictionary<string, string?>? ExtraConfig => null;

    /// <summary>Extra logging of the server (e.g. a provider that captures what is logged).</summary>
    protected virtual Action<Microsoft.Extensions.Logging.ILoggingBuilder>? Logging => null;

    public async Task InitializeAsync() => Server = await RunningServer.StartAsync(await _storage.ConnectionStringAsync(), ExtraConfig, logging: Logging);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class PostgresStorage(PostgresCluster cluster, string prefix) : IStorageUnderTest
{
    public async Task<string?> ConnectionStringAsync() => await cluster.CreateDatabaseAsync(prefix);
}
