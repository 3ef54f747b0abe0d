using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Xml;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Documents;

/// <summary>
/// What text extraction may spend for one request (all the documents a "_content" search reads):
/// decompressed bytes and time. When it runs out, <see cref="DocumentText.Extract"/> throws
/// <see cref="InputLimitException"/> and the search is refused with a clear message.
/// </summary>
public sealed class TextBudget(long maxBytes, TimeSpan maxTime)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _bytes;

    /// <summary>The defaults of one "_content" search (Documents:TextSearchBudgetBytes, TextSearchBudgetSeconds).</summary>
    public static TextBudget ForRequest() => new(new DocumentOptions().TextSearchBudgetBytes, TimeSpan.FromSeconds(new DocumentOptions().TextSearchBudgetSeconds));

    public long MaxBytes => maxBytes;

    public TimeSpan MaxTime => maxTime;

    public long SpentBytes => _bytes;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Counts bytes read or decompressed; throws when the request's budget is exhausted.</summary>
    public void Spend(long bytes)
    {
        _bytes += bytes;
        Check();
    }

    public void Check()
    {
        if (_bytes > maxBytes || _clock.Elapsed > maxTime)
        {
            throw new InputLimitException($"the text search read {_bytes / (1024 * 1024)} MB in {_clock.Elapsed.TotalSeconds:0.0} s, its budget ({maxBytes / (1024 * 1024)} MB, {maxTime.TotalSeconds:0} s)");
        }
    }
}

/// <summary>
/// The readable text of a document, for the "_content" search: plain text, the text nodes of an XML
/// document (CDA R2: narrative and coded display names; DTDs refused), the text-showing operators of
/// a PDF (literal strings of uncompressed or Flate-compressed content streams). Nothing is stored:
/// the text is extracted at search time from the decrypted content, so no plaintext index exists.
/// Every document has a budget (decompressed bytes, streams, time): past it, extraction stops with
/// the text read so far. The request's <see cref="TextBudget"/> bounds the whole search.
/// </summary>
public static class DocumentText
{
    /// <summary>Extracted text is capped (a search does not need more of one document).</summary>
    public const int MaxChars = 200_000;

    /// <summary>Most bytes one PDF may decompress (all its streams together).</summary>
    public const long MaxInflatedBytesPerDocument = 4L * 1024 * 1024;

    /// <summary>Most bytes one PDF stream may decompress.</summary>
    public const long MaxInflatedBytesPerStream = 1024 * 1024;

    /// <summary>Most content streams read in one PDF.</summary>
    public const int MaxStreamsPerDocument = 4_096;

    /// <summary>Most time spent on one document.</summary>
    public static readonly TimeSpan MaxTimePerDocument = TimeSpan.FromMilliseconds(250);

    /// <summary>How far back from "stream" the stream's dictionary is looked for.</summary>
    private const int MaxDictionaryBytes = 4_096;

    /// <summary>
    /// The text of one document. <paramref name="budget"/> (the request's) is charged with what is
    /// read; an exhausted request budget throws <see cref="InputLimitException"/>.
    /// </summary>
    public static string Extract(string contentType, byte[] content, TextBudget? budget = null)
    {
        budget?.Spend(content.LongLength);
        var clock = Stopwatch.StartNew();
        try
        {
            var type = contentType.Split(';')[0].Trim().ToLowerInvariant();
            return type switch
            {
                "application/pdf" => Pdf(content, budget, clock),
                "text/xml" or "application/xml" or "application/hl7-v3+xml" or "application/hl7-cda+xml" => Xml(content, budget, clock),
                _ when type.StartsWith("text/", StringComparison.Ordinal) => Cap(Encoding.UTF8.GetString(content, 0, Math.Min(content.Length, 4 * MaxChars))),
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

    private static string Xml(byte[] content, TextBudget? budget, Stopwatch clock)
    {
        var settings = SafeXml.ReaderSettings(XmlLimits.Default);
        settings.IgnoreComments = true;
        using var reader = XmlReader.Create(new MemoryStream(content), settings);
        var sb = new StringBuilder();
        var nodes = 0;
        while (reader.Read() && sb.Length < MaxChars)
        {
            if (++nodes % 4096 == 0 && OverTime(clock, budget))
            {
                break;
            }

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

    private static string Pdf(byte[] content, TextBudget? budget, Stopwatch clock)
    {
        var sb = new StringBuilder();
        var latin = Encoding.Latin1;
        var i = 0;
        var streams = 0;
        long inflated = 0;
        while (i < content.Length && sb.Length < MaxChars && streams++ < MaxStreamsPerDocument && inflated < MaxInflatedBytesPerDocument && !OverTime(clock, budget))
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

            // The stream's dictionary is just before "stream" (looked for within a bounded window):
            // is it Flate-compressed?
            var window = Math.Max(0, start - MaxDictionaryBytes);
            var dictStart = LastIndexOf(content, "<<"u8, window, start);
            dictStart = dictStart < 0 ? window : dictStart;
            var dict = latin.GetString(content, dictStart, start - dictStart);
            var data = content.AsSpan(dataStart, end - dataStart).ToArray();
            if (dict.Contains("/FlateDecode", StringComparison.Ordinal))
            {
                data = Inflate(data, Math.Min(MaxInflatedBytesPerStream, MaxInflatedBytesPerDocument - inflated));
                inflated += data.Length;
                budget?.Spend(data.Length);
            }

            ShownStrings(latin.GetString(data), sb);
            i = end + 9;
        }

        return Cap(sb.ToString());
    }

    /// <summary>Decompresses at most <paramref name="max"/> bytes (the rest of a bomb is never produced).</summary>
    private static byte[] Inflate(byte[] data, long max)
    {
        using var input = new ZLibStream(new MemoryStream(data), CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = new byte[16384];
        while (output.Length < max)
        {
            var n = input.Read(buffer, 0, (int)Math.Min(buffer.Length, max - output.Length));
            if (n <= 0)
            {
                break;
            }

            output.Write(buffer, 0, n);
        }

        return output.ToArray();
    }

    /// <summary>Whether this document's time is up (the request's budget throws when exhausted).</summary>
    private static bool OverTime(Stopwatch clock, TextBudget? budget)
    {
        budget?.Check();
        return clock.Elapsed > MaxTimePerDocument;
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

    private static int LastIndexOf(byte[] haystack, ReadOnlySpan<byte> needle, int from, int before)
    {
        var at = haystack.AsSpan(from, before - from).LastIndexOf(needle);
        return at < 0 ? -1 : from + at;
    }
}
