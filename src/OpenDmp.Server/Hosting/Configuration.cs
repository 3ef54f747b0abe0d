namespace OpenDmp.Server.Hosting;

/// <summary>Configuration sources: defaults, the data directory's opendmp.json, OPENDMP_* environment variables, then explicit values.</summary>
public static class OpenDmpConfiguration
{
    public static IConfigurationRoot Build(DataDirectory data, IDictionary<string, string?>? overrides = null)
    {
        var builder = new ConfigurationBuilder();
        if (File.Exists(data.ConfigFile))
        {
            builder.AddJsonFile(data.ConfigFile, optional: true);
        }

        builder.AddEnvironmentVariables("OPENDMP_");
        if (overrides is not null)
        {
            builder.AddInMemoryCollection(overrides);
        }

        return builder.Build();
    }
}
