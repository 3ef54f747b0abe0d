namespace OpenDmp.Core.Common;

/// <summary>Mobile numbers for SMS, stored in E.164 (+33612345678).</summary>
public static class PhoneNumber
{
    /// <summary>
    /// The number in E.164: a French number as dialled (06 12 34 56 78, 07…), or an international one
    /// (+33 6 12 34 56 78, 0033…); spaces, dots and dashes are ignored. Otherwise an invalid-input
    /// error naming <paramref name="field"/>.
    /// </summary>
    public static string Require(string value, string field)
    {
        var digits = new System.Text.StringBuilder();
        var v = value.Trim();
        for (var i = 0; i < v.Length; i++)
        {
            var c = v[i];
            if (char.IsAsciiDigit(c))
            {
                digits.Append(c);
            }
            else if (c == '+' && i == 0)
            {
                digits.Append(c);
            }
            else if (c is not (' ' or '.' or '-' or '(' or ')'))
            {
                digits.Clear();
                break;
            }
        }

        var d = digits.ToString();
        if (d.StartsWith("00", StringComparison.Ordinal))
        {
            d = "+" + d[2..];
        }
        else if (d.Length == 10 && d[0] == '0' && d[1] != '0')
        {
            d = "+33" + d[1..];
        }

        // E.164: a country code and at most 15 digits in all; a French number has 9 digits after +33.
        var valid = d.Length is >= 9 and <= 16 && d[0] == '+' && d[1] != '0' && d[1..].All(char.IsAsciiDigit)
            && (!d.StartsWith("+33", StringComparison.Ordinal) || d.Length == 12);
        if (!valid)
        {
            throw DmpException.Invalid($"'{value}' is not a mobile phone number (for example 06 12 34 56 78 or +33 6 12 34 56 78)", field);
        }

        return d;
    }

    /// <summary>Null for an empty value, else as <see cref="Require"/>.</summary>
    public static string? Optional(string? value, string field) => string.IsNullOrWhiteSpace(value) ? null : Require(value, field);
}
