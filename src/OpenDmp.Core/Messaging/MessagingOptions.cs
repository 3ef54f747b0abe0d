namespace OpenDmp.Core.Messaging;

/// <summary>How to reach a mail server (any SMTP or IMAP server).</summary>
public sealed class MailServerOptions
{
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; }
    /// <summary>None, StartTls, Tls (implicit), Auto.</summary>
    public string Security { get; set; } = "Auto";
    public string? User { get; set; }
    public string? Password { get; set; }
    /// <summary>
    /// A PEM file of certificates to trust for this server's TLS (its own certificate or its CA),
    /// for private servers; without it the system's trust store decides.
    /// </summary>
    public string? TrustedCertificateFile { get; set; }
}

/// <summary>Configuration section Messaging.</summary>
public sealed class MessagingOptions
{
    /// <summary>Off by default: a mail server must be configured first.</summary>
    public bool Enabled { get; set; }
    /// <summary>The platform's address: deposits, receipts and bounces arrive there.</summary>
    public string DepositAddress { get; set; } = "depot@opendmp.test";
    public MailServerOptions Smtp { get; set; } = new() { Port = 25 };
    public MailServerOptions Imap { get; set; } = new() { Port = 143 };
    /// <summary>Seconds between two looks at the mailbox when it was empty.</summary>
    public double PollSeconds { get; set; } = 5;
    public string ProcessedFolder { get; set; } = "Processed";
    public string RejectedFolder { get; set; } = "Rejected";
    public string DeadLetterFolder { get; set; } = "DeadLetter";
    /// <summary>Attempts on a message that keeps failing for an unexpected reason before it goes to the dead-letter folder.</summary>
    public int MaxAttempts { get; set; } = 5;
    /// <summary>Messages processed before they are moved out of INBOX together (bounded work between two moves).</summary>
    public int BatchSize { get; set; } = 20;
    /// <summary>Largest accepted message, in bytes.</summary>
    public long MaxMessageBytes { get; set; } = 50L * 1024 * 1024;
}
