namespace OpenDmp.Core.Storage;

/// <summary>
/// One key of the ASP.NET Core data-protection key ring (antiforgery tokens, protected URLs), shared
/// by every instance through the database; <see cref="Xml"/> holds the key sealed under a key
/// derived from the master key, never the key in clear. No patient data.
/// </summary>
public sealed class DataProtectionKey
{
    public long Id { get; set; }
    public required string FriendlyName { get; set; }
    public required string Xml { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
