using OpenDmp.Core.Common;

namespace OpenDmp.Core.Hl7v2;

/// <summary>
/// A bounded reader of HL7 v2 messages in ER7 (pipe-delimited) encoding: the delimiters come from
/// MSH-1 and MSH-2; segments are separated by CR (LF and CRLF accepted). Limits: 64 KiB, 100
/// segments, 200 fields per segment; anything else is refused with a message that says why.
/// Escape sequences are decoded for the delimiters (\F\ \S\ \T\ \R\ \E\) only.
/// </summary>
public sealed class Er7Message
{
    public const int MaxBytes = 64 * 1024;
    public const int MaxSegments = 100;
    public const int MaxFields = 200;

    private readonly List<string[]> _segments;
    private readonly char _component;
    private readonly char _repetition;
    private readonly char _escape;
    private readonly char _subcomponent;

    private Er7Message(List<string[]> segments, char component, char repetition, char escape, char subcomponent)
    {
        _segments = segments;
        _component = component;
        _repetition = repetition;
        _escape = escape;
        _subcomponent = subcomponent;
    }

    public static Er7Message Parse(string text)
    {
        if (text.Length > MaxBytes)
        {
            throw DmpException.Invalid($"the HL7 v2 message is larger than {MaxBytes} characters");
        }

        var lines = text.Replace("\r\n", "\r", StringComparison.Ordinal).Replace('\n', '\r').Split('\r', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || !lines[0].StartsWith("MSH", StringComparison.Ordinal) || lines[0].Length < 8)
        {
            throw DmpException.Invalid("an HL7 v2 message starts with an MSH segment (MSH|^~\\&|…)");
        }

        if (lines.Length > MaxSegments)
        {
            throw DmpException.Invalid($"the HL7 v2 message has more than {MaxSegments} segments");
        }

        var field = lines[0][3];
        var encoding = lines[0][4..8];
        if (encoding.Distinct().Count() != 4 || encoding.Contains(field, StringComparison.Ordinal) || char.IsLetterOrDigit(field))
        {
            throw DmpException.Invalid("MSH-1 and MSH-2 must give five distinct delimiters (usually |^~\\&)");
        }

        var segments = new List<string[]>();
        foreach (var line in lines)
        {
            var fields = line.Split(field);
            if (fields.Length > MaxFields || fields[0].Length != 3 || !fields[0].All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c)))
            {
                throw DmpException.Invalid($"'{(line.Length > 20 ? line[..20] + "…" : line)}' is not an HL7 v2 segment (three-letter name, at most {MaxFields} fields)");
            }

            if (fields[0] == "MSH")
            {
                // MSH-1 is the field separator itself: shift so that MSH-n is fields[n].
                fields = [.. new[] { "MSH", field.ToString() }, .. fields[1..]];
            }

            segments.Add(fields);
        }

        return new Er7Message(segments, encoding[0], encoding[1], encoding[2], encoding[3]);
    }

    /// <summary>The first segment with this name, or null.</summary>
    public string[]? Segment(string name) => _segments.FirstOrDefault(s => s[0] == name);

    /// <summary>Field <paramref name="n"/> of a segment (1-based as in the standard), whole, or empty.</summary>
    public static string Field(string[]? segment, int n) => segment is not null && n < segment.Length ? segment[n] : string.Empty;

    public IReadOnlyList<string> Repetitions(string value) => value.Length == 0 ? [] : value.Split(_repetition);

    /// <summary>Component <paramref name="n"/> (1-based) of a field value, unescaped.</summary>
    public string Component(string value, int n)
    {
        var parts = value.Split(_component);
        return n <= parts.Length ? Unescape(parts[n - 1]) : string.Empty;
    }

    /// <summary>Subcomponent <paramref name="n"/> (1-based) of a component value.</summary>
    public string Subcomponent(string component, int n)
    {
        var parts = component.Split(_subcomponent);
        return n <= parts.Length ? parts[n - 1] : string.Empty;
    }

    private string Unescape(string value)
    {
        if (!value.Contains(_escape, StringComparison.Ordinal))
        {
            return value;
        }

        var e = _escape.ToString();
        return value.Replace(e + "F" + e, Field(Segment("MSH"), 1), StringComparison.Ordinal)
            .Replace(e + "S" + e, _component.ToString(), StringComparison.Ordinal)
            .Replace(e + "R" + e, _repetition.ToString(), StringComparison.Ordinal)
            .Replace(e + "T" + e, _subcomponent.ToString(), StringComparison.Ordinal)
            .Replace(e + "E" + e, e, StringComparison.Ordinal);
    }
}
