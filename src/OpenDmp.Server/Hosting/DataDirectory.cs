namespace OpenDmp.Server.Hosting;

/// <summary>Layout of an OpenDMP data directory.</summary>
public sealed class DataDirectory(string root)
{
    public string Root { get; } = Path.GetFullPath(root);
    public string Pki => Path.Combine(Root, "pki");
    public string Content => Path.Combine(Root, "content");
    public string Demo => Path.Combine(Root, "demo");
    public string CaCertificate => Path.Combine(Pki, "ca.crt");
    public string ServerCertificate => Path.Combine(Pki, "server.crt");
    public string ServerKey => Path.Combine(Pki, "server.key");
    /// <summary>Optional configuration file of the data directory (JSON, same keys as appsettings).</summary>
    public string ConfigFile => Path.Combine(Root, "opendmp.json");

    public void Ensure()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(Pki);
        Directory.CreateDirectory(Content);
    }
}
