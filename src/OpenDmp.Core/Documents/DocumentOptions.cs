namespace OpenDmp.Core.Documents;

/// <summary>Settings of the documents module.</summary>
public sealed class DocumentOptions
{
    /// <summary>Largest document content accepted, in bytes (default 20 MB).</summary>
    public long MaxContentBytes { get; set; } = 20L * 1024 * 1024;

    /// <summary>
    /// Largest ITI-65 request body, in bytes (0: derived from <see cref="MaxContentBytes"/>, one
    /// document in base64 plus 2 MB of metadata). Larger bodies are refused with a 413 before they are read.
    /// </summary>
    public long MaxTransactionBytes { get; set; }

    /// <summary>Most DocumentReferences in one ITI-65 transaction (default 100).</summary>
    public int MaxDocumentsPerTransaction { get; set; } = 100;

    /// <summary>Most entries in one ITI-65 transaction Bundle (default 300: a SubmissionSet, documents, Binaries, patches).</summary>
    public int MaxEntriesPerTransaction { get; set; } = 300;

    /// <summary>
    /// ITI-65 bodies above this size (bytes, default 1 MB; unknown lengths included) are "large": at
    /// most <see cref="MaxConcurrentLargeTransactions"/> (default 2) are read and processed at once,
    /// the others wait up to <see cref="LargeTransactionWaitSeconds"/> (default 30) and are then
    /// refused with a 503. This bounds the memory that transactions can take together.
    /// </summary>
    public long LargeTransactionBytes { get; set; } = 1024 * 1024;
    public int MaxConcurrentLargeTransactions { get; set; } = 2;
    public double LargeTransactionWaitSeconds { get; set; } = 30;

    /// <summary>The request-body limit of ITI-65 in force.</summary>
    public long TransactionBytesLimit => MaxTransactionBytes > 0 ? MaxTransactionBytes : (MaxContentBytes * 4 / 3) + (2 * 1024 * 1024);

    /// <summary>What one "_content" search may read and decompress (bytes) and spend (seconds) over all its documents.</summary>
    public long TextSearchBudgetBytes { get; set; } = 256L * 1024 * 1024;
    public double TextSearchBudgetSeconds { get; set; } = 5;

    /// <summary>Default and maximum page sizes of searches.</summary>
    public int DefaultPageSize { get; set; } = 50;
    public int MaxPageSize { get; set; } = 500;
}
