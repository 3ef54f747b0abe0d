namespace OpenDmp.Core.Documents;

/// <summary>Settings of the documents module.</summary>
public sealed class DocumentOptions
{
    /// <summary>Largest document content accepted, in bytes (default 20 MB).</summary>
    public long MaxContentBytes { get; set; } = 20L * 1024 * 1024;

    /// <summary>What one "_content" search may read and decompress (bytes) and spend (seconds) over all its documents.</summary>
    public long TextSearchBudgetBytes { get; set; } = 256L * 1024 * 1024;
    public double TextSearchBudgetSeconds { get; set; } = 5;

    /// <summary>Default and maximum page sizes of searches.</summary>
    public int DefaultPageSize { get; set; } = 50;
    public int MaxPageSize { get; set; } = 500;
}
