namespace OpenDmp.Core.Content;

/// <summary>Document content stored in the database (PostgreSQL content store).</summary>
public sealed class ContentBlob
{
    public required string RecordId { get; set; }
    public required string Key { get; set; }
    public required byte[] Data { get; set; }
}
