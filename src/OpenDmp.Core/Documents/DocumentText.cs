using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Xml;

namespace OpenDmp.Core.Documents;

/// <summary>
/// The readable text of a document, for the "_content" search: plain text, the text nodes of an XML
/// document (CDA R2: narrative and coded display names; DTDs refused), the text-showing operators of
/// a PDF (literal strings of uncompressed or Flate-compressed content streams). Nothing is stored:
/// the text is extracted at search time from the decrypted content, so no plaintext index exists.
/// </summary>
public static class DocumentText
{
    /// <summary>Extracted text is capped (a search does not need more of one document).</summary>
    public const int MaxChars = 200_000;

    public static string Extract(string contentType, byte[] content)
    {
        try
        {
            var type = contentType.Split(';')[0].Trim().ToLowerInvariant();
            return type switch
            {
                "application/pdf" => Pdf(content),
                "text/xml" or "application/xml" or "application/hl7-v3+xml" or "application/hl7-cda+xml" => Xml(content),
                _ when type.StartsWith("text/", StringComparison.Ordinal) => Cap(Encoding.UTF8.GetString(content)),
                _ => string.Empty,
            };
        }
        catch (Exception ex) when (ex is XmlException or InvalidDataException or DecoderFallbackException)
        {
            // A document whose text cannot be read simply does not match.
            return string.Empty;
        }
    }

    /// <summary>The words of a query, normalised (case and accents ignored).</summary>
    public static IReadOnlyList<string> Words(string query) =>
        Normalise(query).Split((char[])[' ', '\t', '\n', '\r', ',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Whether every word occurs in the text (case and accents ignored).</summary>
    public static bool Matches(string text, IReadOnlyList<string> words)
    {
        if (words.Count == 0 || text.Length == 0)
        {
            return false;
        }

        var normalised = Normalise(text);
        return words.All(w => normalised.Contains(w, StringComparison.Ordinal));
    }

    public static string Normalise(string s)
    {
        var decomposed = s.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(decomposed.Length);
        foreach (var c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) != UnicodeCategory.NonSpacingMark)
            {
                sb.Append(char.ToLowerInvariant(c));
            }
        }

        return sb.ToString();
    }

    private static string Cap(string s) => s.Length > MaxChars ? s[..MaxChars] : s;

    private static string Xml(byte[] content)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, IgnoreComments = true, IgnoreProcessingInstructions = true };
        using var reader = XmlReader.Create(new MemoryStream(content), settings);
        var sb = new StringBuilder();
        while (reader.Read() && sb.Length < MaxChars)
        {
            if (reader.NodeType is XmlNodeType.Text or XmlNodeType.CDATA)
            {
                sb.Append(reader.Value).Append(' ');
            }
            else if (reader.NodeType == XmlNodeType.Element && reader.GetAttribute("displayName") is { } display)
            {
                sb.Append(display).Append(' ');
            }
        }

        return Cap(sb.ToString());
    }

    private static string Pdf(byte[] content)
    {
        var sb = new StringBuilder();
        var latin = Encoding.Latin1;
        var i = 0;
        while (i < content.Length && sb.Length < MaxChars)
        {
            var start = IndexOf(content, "stream"u8, i);
            if (start < 0)
            {
                break;
            }

            var dataStart = start + 6;
            if (dataStart < content.Length && content[dataStart] == '\r')
            {
                dataStart++;
            }

            if (dataStart < content.Length && content[dataStart] == '\n')
            {
                dataStart++;
            }

            var end = IndexOf(content, "endstream"u8, dataStart);
            if (end < 0)
            {
                break;
            }

            // The stream's dictionary is just before "stream": is it Flate-compressed?
            var dictStart = Math.Max(0, LastIndexOf(content, "<<"u8, start));
            var dict = latin.GetString(content, dictStart, start - dictStart);
            var data = content.AsSpan(dataStart, end - dataStart).ToArray();
            if (dict.Contains("/FlateDecode", StringComparison.Ordinal))
            {
                data = Inflate(data);
            }

            ShownStrings(latin.GetString(data), sb);
            i = end + 9;
        }

        return Cap(sb.ToString());
    }

    private static byte[] Inflate(byte[] data)
    {
        using var input = new ZLibStream(new MemoryStream(data), CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = input.Read(buffer)) > 0 && output.Length < 4 * MaxChars)
        {
            output.Write(buffer, 0, n);
        }

        return output.ToArray();
    }

    /// <summary>The literal strings of a content stream ((...) operands of Tj, TJ, ' and "), escapes decoded.</summary>
    private static void ShownStrings(string ops, StringBuilder sb)
    {
        for (var i = 0; i < ops.Length; i++)
        {
            var c = ops[i];
            if (c == '(')
            {
                var depth = 1;
                var lit = new StringBuilder();
                for (i++; i < ops.Length && depth > 0; i++)
                {
                    c = ops[i];
                    if (c == '\\' && i + 1 < ops.Length)
                    {
                        var n = ops[++i];
                        if (n is >= '0' and <= '7')
                        {
                            // \ddd: an octal character code (up to three digits).
                            var code = n - '0';
                            for (var k = 0; k < 2 && i + 1 < ops.Length && ops[i + 1] is >= '0' and <= '7'; k++)
                            {
                                code = (code * 8) + (ops[++i] - '0');
                            }

                            lit.Append((char)code);
                        }
                        else
                        {
                            lit.Append(n switch { 'n' => '\n', 'r' => '\r', 't' => '\t', _ => n });
                        }
                    }
                    else if (c == '(')
                    {
                        depth++;
                        lit.Append(c);
                    }
                    else if (c == ')')
                    {
                        if (--depth > 0)
                        {
                            lit.Append(c);
                        }
                    }
                    else
                    {
                        lit.Append(c);
                    }
                }

                i--;
                sb.Append(lit);
            }
            else if (c is 'T' && i + 1 < ops.Length && ops[i + 1] is 'j' or 'J' or 'd' or 'D' or '*' or 'm')
            {
                // Showing or moving text ends a run: words of two runs do not stick together.
                sb.Append(' ');
            }
        }
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle, int from)
    {
        var at = haystack.AsSpan(from).IndexOf(needle);
        return at < 0 ? -1 : from + at;
    }

    private static int LastIndexOf(byte[] haystack, ReadOnlySpan<byte> needle, int before) =>
        haystack.AsSpan(0, before).LastIndexOf(needle);
}
