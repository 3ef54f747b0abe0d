namespace OpenDmp.Core.Common;

/// <summary>Kinds of expected failures, each mapped to one HTTP status by the server.</summary>
public enum ErrorKind
{
    /// <summary>400: the request cannot be read (malformed JSON, wrong resource type).</summary>
    BadRequest,
    /// <summary>401: no or unknown credentials.</summary>
    Unauthenticated,
    /// <summary>403: authenticated but not allowed.</summary>
    Forbidden,
    /// <summary>404: no such resource (or not visible to the caller).</summary>
    NotFound,
    /// <summary>405: the resource type exists, but not with this interaction (see the CapabilityStatement).</summary>
    MethodNotAllowed,
    /// <summary>409: conflicts with the current state (duplicate identifier, record already open).</summary>
    Conflict,
    /// <summary>410: the resource existed and was erased.</summary>
    Gone,
    /// <summary>413: content larger than the configured limit.</summary>
    TooLarge,
    /// <summary>422: well-formed but the business rules refuse it (missing metadata, wrong hash, closed record).</summary>
    Unprocessable,
    /// <summary>429: too many attempts (login rate limit, locked account).</summary>
    TooManyRequests,
    /// <summary>503: a service OpenDMP depends on (e.g. the mail server) cannot be reached; retry later.</summary>
    Unavailable,
}

/// <summary>An expected failure with a message that tells the caller what is wrong. Never carries health data.</summary>
public sealed class DmpException : Exception
{
    public DmpException(ErrorKind kind, string message, string? expression = null)
        : base(message)
    {
        Kind = kind;
        Expression = expression;
    }

    public DmpException()
    {
    }

    public DmpException(string message)
        : base(message)
    {
    }

    public DmpException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ErrorKind Kind { get; } = ErrorKind.BadRequest;

    /// <summary>FHIRPath of the offending element, when known.</summary>
    public string? Expression { get; }

    /// <summary>For 429 and 503: when the caller may retry (sent as Retry-After).</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static DmpException Invalid(string message, string? expression = null) => new(ErrorKind.Unprocessable, message, expression);
    public static DmpException NotFound(string message) => new(ErrorKind.NotFound, message);
}
