using System.Globalization;

namespace OpenDmp.Core.Identity;

/// <summary>Kinds of patient identifier systems accepted by OpenDMP.</summary>
public enum InsKind
{
    /// <summary>INS-NIR (urn:oid:1.2.250.1.213.1.4.8): the qualified national health identifier.</summary>
    Nir,
    /// <summary>INS-NIA (urn:oid:1.2.250.1.213.1.4.9): temporary identifier attributed by the national insurer.</summary>
    Nia,
    /// <summary>Test INS (urn:oid:1.2.250.1.213.1.4.10), used by ANS test material.</summary>
    Test,
    /// <summary>Demonstration INS (urn:oid:1.2.250.1.213.1.4.11).</summary>
    Demo,
    /// <summary>OpenDMP-attributed test identity for imported patients that carry no INS.</summary>
    Local,
}

/// <summary>Validation of the INS (NIR-based national health identifier): 13 characters plus a 2-digit key.</summary>
public static class Ins
{
    public const string NirSystem = "urn:oid:1.2.250.1.213.1.4.8";
    public const string NiaSystem = "urn:oid:1.2.250.1.213.1.4.9";
    public const string TestSystem = "urn:oid:1.2.250.1.213.1.4.10";
    public const string DemoSystem = "urn:oid:1.2.250.1.213.1.4.11";
    /// <summary>System of the test identities OpenDMP attributes to imported patients without an INS.</summary>
    public const string LocalTestSystem = "urn:opendmp:test-identity";

    public static string SystemOf(InsKind kind) => kind switch
    {
        InsKind.Nir => NirSystem,
        InsKind.Nia => NiaSystem,
        InsKind.Test => TestSystem,
        InsKind.Demo => DemoSystem,
        _ => LocalTestSystem,
    };

    public static InsKind? KindOf(string? system) => system switch
    {
        NirSystem => InsKind.Nir,
        NiaSystem => InsKind.Nia,
        TestSystem => InsKind.Test,
        DemoSystem => InsKind.Demo,
        LocalTestSystem => InsKind.Local,
        _ => null,
    };

    /// <summary>True for identity systems that are not real qualified identities.</summary>
    public static bool IsTestKind(InsKind kind) => kind is InsKind.Test or InsKind.Demo or InsKind.Local;

    /// <summary>
    /// Validates a 15-character INS (13-character NIR + 2-digit key). Corsican departments 2A and 2B
    /// are replaced by 19 and 18 for the key computation. Returns null when valid, else the reason.
    /// </summary>
    public static string? Validate(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return "the INS is empty";
        }

        var ins = value.Trim().Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        if (ins.Length != 15)
        {
            return $"an INS has 15 characters (13 + a 2-digit key), got {ins.Length}";
        }

        if (ins[0] is not ('1' or '2' or '3' or '4' or '7' or '8'))
        {
            return "an INS starts with the sex digit 1, 2 (or 3, 4, 7, 8 for temporary numbers)";
        }

        var body = ins[..13];
        var dept = body.Substring(5, 2);
        string numeric;
        if (dept == "2A")
        {
            numeric = string.Concat(body.AsSpan(0, 5), "19", body.AsSpan(7));
        }
        else if (dept == "2B")
        {
            numeric = string.Concat(body.AsSpan(0, 5), "18", body.AsSpan(7));
        }
        else
        {
            numeric = body;
        }

        if (!numeric.All(char.IsAsciiDigit) || !ins[13..].All(char.IsAsciiDigit))
        {
            return "an INS holds digits only (2A or 2B allowed as the Corsican department)";
        }

        var n = long.Parse(numeric, CultureInfo.InvariantCulture);
        var expected = 97 - (int)(n % 97);
        var key = int.Parse(ins[13..], CultureInfo.InvariantCulture);
        return key == expected
            ? null
            : $"the INS key is wrong: {ins[13..]} given, {expected:00} expected for {body}";
    }

    /// <summary>Normalises an INS for storage (upper case, no spaces).</summary>
    /// <summary>The sex the NIR's first digit gives (1, 3, 7: M; 2, 4, 8: F), or null when it gives none.</summary>
    public static string? SexOf(string ins) => ins.Length == 0 ? null : ins[0] switch
    {
        '1' or '3' or '7' => "M",
        '2' or '4' or '8' => "F",
        _ => null,
    };

    public static string Normalize(string value) => value.Trim().Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();

    /// <summary>Computes the key of a 13-character NIR (used to build demo identities).</summary>
    public static string WithKey(string nir13)
    {
        var numeric = nir13.Substring(5, 2) switch
        {
            "2A" => string.Concat(nir13.AsSpan(0, 5), "19", nir13.AsSpan(7)),
            "2B" => string.Concat(nir13.AsSpan(0, 5), "18", nir13.AsSpan(7)),
            _ => nir13,
        };
        var n = long.Parse(numeric, CultureInfo.InvariantCulture);
        return nir13 + (97 - (int)(n % 97)).ToString("00", CultureInfo.InvariantCulture);
    }
}
