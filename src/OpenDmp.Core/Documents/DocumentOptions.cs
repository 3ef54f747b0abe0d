namespace OpenDmp.Core.Documents;

/// <summary>Settings of the documents module.</summary>
public sealed class DocumentOptions
{
    /// <summary>Largest document content accepted, in bytes (default 20 MB).</summary>
    public long MaxContentBytes { get; set; } = 20L * 1024 * 1024;

    /// <summary>Default and maximum page sizes of searches.</summary>
    public int DefaultPageSize { get; set; } = 50;
    public int MaxPageSize { get; set; } = 500;
}
