namespace OpenDmp.Core.Identity;

/// <summary>RPPS numbers (11 digits, Luhn check digit) and the national PS identifier ("8" + RPPS).</summary>
public static class Rpps
{
    /// <summary>System of the national health-professional identifier (IdNatPs), whose value is "8" + RPPS.</summary>
    public const string IdNatPsSystem = "urn:oid:1.2.250.1.71.4.2.1";
    /// <summary>The RPPS system used by the ANS directory (value = RPPS alone).</summary>
    public const string RppsSystem = "https://rpps.esante.gouv.fr";

    /// <summary>Returns null when the RPPS number is valid, else the reason.</summary>
    public static string? Validate(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return "the RPPS number is empty";
        }

        var v = value.Trim();
        if (v.Length != 11 || !v.All(char.IsAsciiDigit))
        {
            return $"an RPPS number has 11 digits, got '{v}'";
        }

        return LuhnValid(v) ? null : $"the RPPS check digit of {v} is wrong (expected {ComputeCheckDigit(v[..10])})";
    }

    /// <summary>Appends the Luhn check digit to a 10-digit RPPS body.</summary>
    public static string WithCheckDigit(string body10) => body10 + ComputeCheckDigit(body10);

    /// <summary>National PS identifier for an RPPS number.</summary>
    public static string ToIdNatPs(string rpps) => "8" + rpps;

    /// <summary>Extracts the RPPS from an identifier (IdNatPs "8"+RPPS or a bare RPPS), or null.</summary>
    public static string? FromIdentifier(string? system, string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (system == IdNatPsSystem && value.Length == 12 && value[0] == '8')
        {
            return value[1..];
        }

        if ((system == RppsSystem || system == IdNatPsSystem) && value.Length == 11)
        {
            return value;
        }

        return null;
    }

    private static bool LuhnValid(string digits)
    {
        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = digits[digits.Length - 1 - i] - '0';
            if (i % 2 == 1)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
        }

        return sum % 10 == 0;
    }

    private static char ComputeCheckDigit(string body)
    {
        for (var c = '0'; c <= '9'; c++)
        {
            if (LuhnValid(body + c))
            {
                return c;
            }
        }

        throw new InvalidOperationException("unreachable");
    }
}
