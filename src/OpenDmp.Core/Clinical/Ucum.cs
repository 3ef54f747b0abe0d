using System.Globalization;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// The subset of UCUM that laboratory results use, enough to compare results across laboratories
/// whose units differ only by a convertible factor (g/L and mg/dL, mmol/L and umol/L, 10*9/L and
/// 10*3/uL, %): metric prefixes on g, L, mol, eq, U, [IU], m, s; min, h, d; powers of ten; one
/// division; products with '.'; annotations in braces ignored. Units of different kinds (mg/dL
/// and mmol/L: a molar mass is needed) are not converted.
/// </summary>
public static class Ucum
{
    private static readonly Dictionary<string, (string Dimension, double Factor)> Atoms = new(StringComparer.Ordinal)
    {
        ["g"] = ("g", 1), ["L"] = ("L", 1), ["l"] = ("L", 1), ["mol"] = ("mol", 1), ["eq"] = ("eq", 1),
        ["U"] = ("U", 1), ["[IU]"] = ("IU", 1), ["[iU]"] = ("IU", 1), ["m"] = ("m", 1), ["s"] = ("s", 1),
        ["min"] = ("s", 60), ["h"] = ("s", 3600), ["d"] = ("s", 86400), ["wk"] = ("s", 604800),
        ["kat"] = ("kat", 1), ["Pa"] = ("Pa", 1), ["[mm_Hg]"] = ("Pa", 133.322), ["Cel"] = ("Cel", 1),
    };

    /// <summary>The atoms a metric prefix may precede.</summary>
    private static readonly HashSet<string> Metric = new(StringComparer.Ordinal) { "g", "L", "l", "mol", "eq", "U", "[IU]", "[iU]", "m", "s", "kat", "Pa" };

    private static readonly Dictionary<string, double> Prefixes = new(StringComparer.Ordinal)
    {
        ["k"] = 1e3, ["h"] = 1e2, ["da"] = 1e1, ["d"] = 1e-1, ["c"] = 1e-2, ["m"] = 1e-3, ["u"] = 1e-6, ["µ"] = 1e-6, ["n"] = 1e-9, ["p"] = 1e-12, ["f"] = 1e-15,
    };

    /// <summary>Whether OpenDMP reads this unit.</summary>
    public static bool IsKnown(string unit) => TryParse(unit, out _, out _);

    /// <summary>The value in the target unit, when both units are of the same kind.</summary>
    public static bool TryConvert(double value, string from, string to, out double converted)
    {
        converted = value;
        if (from == to)
        {
            return true;
        }

        if (!TryParse(from, out var f1, out var d1) || !TryParse(to, out var f2, out var d2) || d1 != d2)
        {
            return false;
        }

        converted = value * f1 / f2;
        return true;
    }

    /// <summary>The factor to the base units and the dimension signature ("g.L-1").</summary>
    public static bool TryParse(string unit, out double factor, out string dimension)
    {
        factor = 1;
        dimension = string.Empty;
        if (unit.Trim().Length == 0)
        {
            return false;
        }

        var text = StripAnnotations(unit.Trim());
        if (text.Length == 0 || text.Length > 40)
        {
            return false;
        }

        var dims = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var parts = text.Split('/');
        if (parts.Length > 2)
        {
            return false;
        }

        for (var p = 0; p < parts.Length; p++)
        {
            var sign = p == 0 ? 1 : -1;
            foreach (var component in parts[p].Split('.'))
            {
                if (!TryComponent(component, out var f, out var dim, out var exp))
                {
                    return false;
                }

                factor *= Math.Pow(f, sign * exp);
                if (dim is not null)
                {
                    dims[dim] = dims.GetValueOrDefault(dim) + (sign * exp);
                }
            }
        }

        dimension = string.Join('.', dims.Where(kv => kv.Value != 0).Select(kv => kv.Key + kv.Value.ToString(CultureInfo.InvariantCulture)));
        return true;
    }

    private static bool TryComponent(string c, out double factor, out string? dimension, out int exponent)
    {
        factor = 1;
        dimension = null;
        exponent = 1;
        if (c is "1" or "")
        {
            return c == "1";
        }

        if (c == "%")
        {
            factor = 0.01;
            return true;
        }

        if ((c.StartsWith("10*", StringComparison.Ordinal) || c.StartsWith("10^", StringComparison.Ordinal))
            && int.TryParse(c.AsSpan(3), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var power) && Math.Abs(power) <= 24)
        {
            factor = Math.Pow(10, power);
            return true;
        }

        // A trailing integer exponent (m2, s-1), not inside a bracketed atom.
        var end = c.Length;
        while (end > 0 && (char.IsAsciiDigit(c[end - 1]) || (c[end - 1] == '-' && end < c.Length)))
        {
            end--;
        }

        if (end < c.Length && end > 0 && c[end - 1] != ']')
        {
            exponent = int.Parse(c.AsSpan(end), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            c = c[..end];
        }

        if (Atoms.TryGetValue(c, out var atom))
        {
            (dimension, factor) = atom;
            return true;
        }

        foreach (var (prefix, pf) in Prefixes)
        {
            var rest = c.Length > prefix.Length && c.StartsWith(prefix, StringComparison.Ordinal) ? c[prefix.Length..] : null;
            if (rest is not null && Metric.Contains(rest))
            {
                var baseAtom = Atoms[rest];
                (dimension, factor) = (baseAtom.Dimension, baseAtom.Factor * pf);
                return true;
            }
        }

        return false;
    }

    private static string StripAnnotations(string unit)
    {
        var start = unit.IndexOf('{', StringComparison.Ordinal);
        while (start >= 0)
        {
            var close = unit.IndexOf('}', start);
            if (close < 0)
            {
                return string.Empty;
            }

            unit = unit.Remove(start, close - start + 1);
            start = unit.IndexOf('{', StringComparison.Ordinal);
        }

        // An annotation alone ({cells}) is the unity.
        return unit.Length == 0 ? "1" : unit.Replace("/.", "/1.", StringComparison.Ordinal);
    }
}
