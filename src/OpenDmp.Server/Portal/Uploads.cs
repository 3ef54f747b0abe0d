using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;

namespace OpenDmp.Server.Portal;

/// <summary>
/// A document chosen in a browser form (multipart): its bytes, checked against the platform's size
/// limit, and its content type reduced to the formats the record accepts. The metadata come from
/// the value-set lists of the form; ProvideDocumentBundle validates everything again.
/// </summary>
public static class Uploads
{
    /// <summary>Content types accepted from a browser, with the JDV_J10 format chosen by default.</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultFormats = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["application/pdf"] = "urn:ihe:iti:xds-sd:pdf:2008",
        ["text/plain"] = "urn:ihe:iti:xds-sd:text:2008",
        ["image/jpeg"] = "urn:ihe:iti-fr:xds-sd:jpeg:2010",
        ["image/tiff"] = "urn:ihe:iti-fr:xds-sd:tiff:2010",
        ["application/rtf"] = "urn:ihe:iti-fr:xds-sd:rtf:2010",
        ["text/xml"] = "urn:ihe:pcc:ips:2020",
    };

    /// <summary>The file of the form field <paramref name="field"/>, or an invalid-input error saying what is wrong.</summary>
    public static async Task<(byte[] Content, string ContentType)> ReadAsync(HttpContext http, string field, DocumentOptions options)
    {
        var file = http.Request.HasFormContentType ? http.Request.Form.Files.GetFile(field) : null;
        if (file is null || file.Length == 0)
        {
            throw DmpException.Invalid(Ui.T("upload.nofile"), field);
        }

        if (file.Length > options.MaxContentBytes)
        {
            throw DmpException.Invalid(Ui.T("upload.toolarge", options.MaxContentBytes / (1024 * 1024)), field);
        }

        var type = ContentType(file.FileName, file.ContentType);
        if (!DefaultFormats.ContainsKey(type))
        {
            throw DmpException.Invalid(Ui.T("upload.badtype"), field);
        }

        using var ms = new MemoryStream((int)file.Length);
        await file.CopyToAsync(ms, http.RequestAborted);
        var bytes = ms.ToArray();
        if (type == "application/pdf" && !bytes.AsSpan().StartsWith("%PDF-"u8))
        {
            throw DmpException.Invalid(Ui.T("upload.notpdf"), field);
        }

        return (bytes, type);
    }

    /// <summary>The browser's content type, or the one of the file name's extension when the browser gave none.</summary>
    public static string ContentType(string fileName, string? browserType)
    {
        var t = (browserType ?? string.Empty).Split(';')[0].Trim().ToLowerInvariant();
        if (t is "application/xml")
        {
            t = "text/xml";
        }

        if (t is "" or "application/octet-stream")
        {
            t = Path.GetExtension(fileName).ToLowerInvariant() switch
            {
                ".pdf" => "application/pdf",
                ".txt" => "text/plain",
                ".jpg" or ".jpeg" => "image/jpeg",
                ".tif" or ".tiff" => "image/tiff",
                ".rtf" => "application/rtf",
                ".xml" => "text/xml",
                _ => t,
            };
        }

        return t;
    }

    /// <summary>A date field of a form (YYYY-MM-DD), as noon in Paris so that the day shown is the day chosen; null when empty.</summary>
    public static DateTimeOffset? Date(string? value, string field) =>
        string.IsNullOrWhiteSpace(value) ? null
        : DateOnly.TryParseExact(value, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var d)
            ? new DateTimeOffset(d.ToDateTime(new TimeOnly(12, 0)), TimeSpan.FromHours(1))
            : throw DmpException.Invalid(Ui.T("upload.baddate"), field);
}
