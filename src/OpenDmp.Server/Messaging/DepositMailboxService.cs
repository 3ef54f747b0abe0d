using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MimeKit;
using OpenDmp.Core.Messaging;

namespace OpenDmp.Server.Messaging;

/// <summary>
/// Watches the platform's mailbox over IMAP (design D12/D13). Each message is processed (deposit,
/// receipt or bounce), answered when needed, and only then moved out of INBOX (to Processed or
/// Rejected), so a crash at any point leaves it in INBOX to be seen again; the Message-ID key
/// written with the documents makes the second pass a no-op. A message that keeps failing for an
/// unexpected reason goes to the dead-letter folder after Messaging:MaxAttempts tries.
/// </summary>
public sealed partial class DepositMailboxService(IServiceProvider services, MessagingOptions options, OpenDmp.Core.Storage.JobLeader leader, ILogger<DepositMailboxService> logger) : BackgroundService
{
    private readonly Dictionary<UniqueId, int> _attempts = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Enabled)
        {
            return;
        }

        var idle = TimeSpan.FromSeconds(Math.Max(0.05, options.PollSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            // One instance watches the mailbox at a time (the Message-ID key would make a second one
            // harmless, but it would duplicate work and answers).
            await using var lease = await leader.TryAcquireAsync("deposit-mailbox", stoppingToken);
            if (lease is null)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, options.PollSeconds)), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            LogLeading(logger);
            try
            {
                using var imap = await MailConnections.ConnectImapAsync(options.Imap, stoppingToken);
                var inbox = imap.Inbox;
                await inbox.OpenAsync(FolderAccess.ReadWrite, stoppingToken);
                var folders = new Dictionary<string, IMailFolder>(StringComparer.Ordinal);
                foreach (var name in new[] { options.ProcessedFolder, options.RejectedFolder, options.DeadLetterFolder })
                {
                    folders[name] = await FolderAsync(imap, name, stoppingToken);
                }

                while (!stoppingToken.IsCancellationRequested && await lease.IsHeldAsync(stoppingToken))
                {
                    var uids = await inbox.SearchAsync(SearchQuery.NotDeleted, stoppingToken);
                    OpenDmp.Core.Common.DmpTelemetry.SetDepositQueue(uids.Count);
                    if (uids.Count == 0)
                    {
                        await Task.Delay(idle, stoppingToken);
                        await inbox.CheckAsync(stoppingToken);
                        continue;
                    }

                    var moves = new Dictionary<string, List<UniqueId>>(StringComparer.Ordinal);
                    using var replies = new ReplySender(options);
                    var batch = uids.Take(Math.Max(1, options.BatchSize)).ToList();
                    var sizes = (await inbox.FetchAsync(batch, MessageSummaryItems.UniqueId | MessageSummaryItems.Size, stoppingToken))
                        .ToDictionary(s => s.UniqueId, s => (long)(s.Size ?? 0));
                    foreach (var uid in batch)
                    {
                        var folder = await HandleAsync(inbox, uid, sizes.GetValueOrDefault(uid), replies, stoppingToken);
                        if (folder is not null)
                        {
                            (moves.TryGetValue(folder, out var l) ? l : moves[folder] = []).Add(uid);
                        }
                    }

                    if (replies.Sent.Count > 0)
                    {
                        using var scope = services.CreateScope();
                        await scope.ServiceProvider.GetRequiredService<DepositProcessor>().MarkRepliesSentAsync(replies.Sent, stoppingToken);
                    }

                    foreach (var (name, list) in moves)
                    {
                        await inbox.MoveToAsync(list, folders[name], stoppingToken);
                    }

                    if (moves.Count == 0)
                    {
                        await Task.Delay(idle, stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ServiceNotConnectedException or ImapProtocolException or ImapCommandException or MailKit.Security.AuthenticationException or MailKit.Security.SslHandshakeException)
            {
                LogMailbox(logger, ex.GetType().Name, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, options.PollSeconds)), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>The whole message, parsed with the bounded inbound options (MIME depth, address groups).</summary>
    private static async Task<MimeMessage> LoadAsync(IMailFolder inbox, UniqueId uid, CancellationToken ct)
    {
        await using var stream = await inbox.GetStreamAsync(uid, ct);
        return await MimeMessage.LoadAsync(OpenDmp.Core.Messaging.SecureMail.InboundParserOptions, stream, ct);
    }

    /// <summary>Processes one message; returns the folder it now belongs in, or null to leave it in INBOX for a retry.</summary>
    private async Task<string?> HandleAsync(IMailFolder inbox, UniqueId uid, long size, ReplySender replies, CancellationToken ct)
    {
        MimeMessage message;
        var tooLarge = size > options.MaxMessageBytes;
        try
        {
            // An oversized message is refused on its headers alone: its body is never downloaded.
            message = tooLarge ? new MimeMessage(await inbox.GetHeadersAsync(uid, ct)) : await LoadAsync(inbox, uid, ct);
        }
        catch (FormatException)
        {
            return options.DeadLetterFolder;
        }

        try
        {
            using var scope = services.CreateScope();
            var processor = scope.ServiceProvider.GetRequiredService<DepositProcessor>();
            var result = tooLarge ? await processor.RejectTooLargeAsync(message, size, ct) : await processor.ProcessAsync(message, ct);
            if (result.Row.ReplySentAt is null && processor.BuildReply(result.Row, message) is { } reply)
            {
                await replies.SendAsync(reply, result.Row.Key, ct);
            }

            LogProcessed(logger, result.Row.Kind, result.Row.Outcome, result.AlreadyProcessed);
            _attempts.Remove(uid);
            return result.Folder;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var n = _attempts[uid] = _attempts.GetValueOrDefault(uid) + 1;
            LogFailed(logger, ex.GetType().Name, n, ex);
            if (n >= options.MaxAttempts)
            {
                _attempts.Remove(uid);
                return options.DeadLetterFolder;
            }

            return null;
        }
    }

    /// <summary>One SMTP session for the answers of a batch, opened on the first answer.</summary>
    private sealed class ReplySender(MessagingOptions options) : IDisposable
    {
        private MailKit.Net.Smtp.SmtpClient? _smtp;

        /// <summary>Keys of the messages whose answer went out in this batch.</summary>
        public List<string> Sent { get; } = [];

        public async Task SendAsync(MimeMessage reply, string key, CancellationToken ct)
        {
            if (_smtp is not { IsConnected: true })
            {
                _smtp?.Dispose();
                _smtp = await MailConnections.ConnectSmtpAsync(options.Smtp, ct);
            }

            await _smtp.SendAsync(reply, MailboxAddress.Parse(options.DepositAddress), reply.To.Mailboxes, ct);
            Sent.Add(key);
        }

        public void Dispose()
        {
            if (_smtp is { IsConnected: true })
            {
                _smtp.Disconnect(true);
            }

            _smtp?.Dispose();
        }
    }

    private static async Task<IMailFolder> FolderAsync(ImapClient imap, string name, CancellationToken ct)
    {
        var root = imap.GetFolder(imap.PersonalNamespaces[0]);
        try
        {
            return await root.GetSubfolderAsync(name, ct) ?? throw new FolderNotFoundException(name);
        }
        catch (FolderNotFoundException)
        {
            return await root.CreateAsync(name, true, ct) ?? throw new FolderNotFoundException(name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This instance watches the deposit mailbox")]
    private static partial void LogLeading(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Mailbox message: {Kind} {Outcome} (already processed: {Again})")]
    private static partial void LogProcessed(ILogger logger, string kind, string outcome, bool again);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mailbox unavailable ({ExceptionType}): {Reason}; retrying")]
    private static partial void LogMailbox(ILogger logger, string exceptionType, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Mailbox message failed ({ExceptionType}), attempt {Attempt}; left in INBOX")]
    private static partial void LogFailed(ILogger logger, string exceptionType, int attempt, Exception ex);
}
