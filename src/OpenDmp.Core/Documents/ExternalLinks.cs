using System.Text;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Documents;

/// <summary>
/// A document that is a link to content held elsewhere (mission M2, "links"): an imaging study in a
/// PACS (type IMG-KOS or an imaging report, the DICOM Study Instance UID in context.related) or a
/// hospital record. Its content is a text/uri-list (RFC 2483) naming exactly one https address:
/// nothing is copied. Reading it follows the document's access rules and is audited; the portal opens
/// it through an audited redirect.
/// </summary>
public static class ExternalLinks
{
    public const string MediaType = "text/uri-list";

    /// <summary>The most a link document may hold.</summary>
    public const int MaxBytes = 4096;

    public static bool IsLink(string? contentType) =>
        contentType is not null && contentType.Split(';')[0].Trim().Equals(MediaType, StringComparison.OrdinalIgnoreCase);

    /// <summary>The one https address of a uri-list; a clear error otherwise.</summary>
    public static Uri Parse(byte[] content)
    {
        if (content.Length > MaxBytes)
        {
            throw DmpException.Invalid($"a link document (text/uri-list) holds at most {MaxBytes} bytes");
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(content);
        }
        catch (DecoderFallbackException)
        {
            throw DmpException.Invalid("a link document (text/uri-list) is UTF-8 text");
        }

        var uris = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (uris.Count != 1)
        {
            throw DmpException.Invalid($"a link document (text/uri-list) names exactly one address, not {uris.Count}");
        }

        if (!Uri.TryCreate(uris[0], UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            throw DmpException.Invalid("a link document names an absolute https address (e.g. the PACS viewer's URL for the study)");
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            throw DmpException.Invalid("a link document's address carries no credentials");
        }

        return uri;
    }
}
