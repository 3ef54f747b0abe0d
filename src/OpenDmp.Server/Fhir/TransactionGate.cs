using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// Admits at most <see cref="DocumentOptions.MaxConcurrentLargeTransactions"/> large ITI-65 bodies
/// at once. Parsing a transaction costs several times its size in memory (the text, the resource
/// tree, the decoded and encrypted content): without a gate, a handful of clients posting bodies at
/// the size limit could exhaust the server's memory. Smaller bodies never wait. A large body that
/// finds no slot within <see cref="DocumentOptions.LargeTransactionWaitSeconds"/> is refused with a
/// 503 and Retry-After before it is read.
/// </summary>
public sealed class TransactionGate(DocumentOptions options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.MaxConcurrentLargeTransactions));

    /// <summary>Large transactions being processed now.</summary>
    public int InProgress => Math.Max(1, options.MaxConcurrentLargeTransactions) - _slots.CurrentCount;

    public async Task<IDisposable?> EnterAsync(HttpContext context)
    {
        // A body of unknown length (chunked) may be as large as the limit: it counts as large.
        if (context.Request.ContentLength is { } length && length <= options.LargeTransactionBytes)
        {
            return null;
        }

        if (!await _slots.WaitAsync(TimeSpan.FromSeconds(Math.Max(0, options.LargeTransactionWaitSeconds)), context.RequestAborted))
        {
            throw new DmpException(
                ErrorKind.Unavailable,
                $"{options.MaxConcurrentLargeTransactions} transactions larger than {options.LargeTransactionBytes} bytes are already being processed (Documents:MaxConcurrentLargeTransactions): retry in a few seconds")
            {
                RetryAfter = TimeSpan.FromSeconds(5),
            };
        }

        return new Slot(_slots);
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
