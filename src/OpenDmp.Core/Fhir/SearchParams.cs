using System.Globalization;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Fhir;

/// <summary>FHIR search parameters of one request (name → values, repeated names kept).</summary>
public sealed class SearchParams(IEnumerable<KeyValuePair<string, string>> pairs)
{
    private readonly List<KeyValuePair<string, string>> _pairs = pairs.ToList();

    public IReadOnlyList<KeyValuePair<string, string>> Pairs => _pairs;

    public string? First(string name) => _pairs.FirstOrDefault(p => p.Key == name).Value;

    public IEnumerable<string> All(string name) => _pairs.Where(p => p.Key == name).Select(p => p.Value);

    public bool Has(string name) => _pairs.Any(p => p.Key == name);

    /// <summary>Fails with a 400 on parameters the endpoint does not support (FHIR strict handling).</summary>
    public void RequireKnown(IReadOnlySet<string> supported)
    {
        foreach (var p in _pairs)
        {
            if (!supported.Contains(p.Key) && !p.Key.StartsWith("_format", StringComparison.Ordinal))
            {
                throw new DmpException(ErrorKind.BadRequest, $"unsupported search parameter '{p.Key}'; supported: {string.Join(", ", supported.Order(StringComparer.Ordinal))}");
            }
        }
    }

    /// <summary>Splits a token "system|code" (system may be empty or absent).</summary>
    public static (string? System, string Code) Token(string value)
    {
        var bar = value.IndexOf('|', StringComparison.Ordinal);
        return bar < 0 ? (null, value) : (bar == 0 ? null : value[..bar], value[(bar + 1)..]);
    }

    /// <summary>Parses a date parameter with its prefix (eq, ne, gt, lt, ge, le, sa, eb) into a comparison range.</summary>
    public static (string Prefix, DateTimeOffset Low, DateTimeOffset High) Date(string name, string value)
    {
        var prefix = "eq";
        if (value.Length > 2 && char.IsLetter(value[0]) && char.IsLetter(value[1]))
        {
            prefix = value[..2];
            value = value[2..];
        }

        if (prefix is not ("eq" or "gt" or "lt" or "ge" or "le" or "sa" or "eb"))
        {
            throw new DmpException(ErrorKind.BadRequest, $"{name}: unsupported date prefix '{prefix}'");
        }

        string[] formats = ["yyyy", "yyyy-MM", "yyyy-MM-dd"];
        if (DateTime.TryParseExact(value, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d))
        {
            var low = new DateTimeOffset(d, TimeSpan.Zero);
            // The end of the last day of year 9999 has no successor: the range then ends at the calendar's end.
            var high = (value.Length, low) switch
            {
                (4, _) when low.Year == 9999 => DateTimeOffset.MaxValue,
                (4, _) => low.AddYears(1).AddTicks(-1),
                (7, _) when low.Year == 9999 && low.Month == 12 => DateTimeOffset.MaxValue,
                (7, _) => low.AddMonths(1).AddTicks(-1),
                _ when low.Date == DateTime.MaxValue.Date => DateTimeOffset.MaxValue,
                _ => low.AddDays(1).AddTicks(-1),
            };
            return (prefix, low, high);
        }

        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dto) && value.Length >= 10)
        {
            try
            {
                return (prefix, dto.ToUniversalTime(), dto.ToUniversalTime());
            }
            catch (ArgumentOutOfRangeException)
            {
                throw new DmpException(ErrorKind.BadRequest, $"{name}: '{value}' is outside the calendar OpenDMP handles");
            }
        }

        throw new DmpException(ErrorKind.BadRequest, $"{name}: '{value}' is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)");
    }

    /// <summary>Page size and offset from _count and _offset, bounded.</summary>
    public (int Count, int Offset) Paging(int defaultCount, int maxCount)
    {
        var count = defaultCount;
        if (First("_count") is { } c)
        {
            if (!int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 0)
            {
                throw new DmpException(ErrorKind.BadRequest, "_count must be a non-negative integer");
            }

            count = Math.Min(count, maxCount);
        }

        var offset = 0;
        if (First("_offset") is { } o && (!int.TryParse(o, NumberStyles.None, CultureInfo.InvariantCulture, out offset) || offset < 0))
        {
            throw new DmpException(ErrorKind.BadRequest, "_offset must be a non-negative integer");
        }

        return (count, offset);
    }
}
