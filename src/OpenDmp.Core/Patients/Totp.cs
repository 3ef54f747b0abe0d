using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OpenDmp.Core.Patients;

/// <summary>
/// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP, HMAC-SHA1, 30-second steps,
/// 6 digits): what authenticator apps implement. Verified against the RFC test vectors.
/// </summary>
public static class Totp
{
    public const int StepSeconds = 30;
    public const int Digits = 6;

    public static long StepAt(DateTimeOffset time) => time.ToUnixTimeSeconds() / StepSeconds;

    /// <summary>HOTP value of a counter (RFC 4226 §5.3), with the given number of digits.</summary>
    public static string Code(byte[] secret, long counter, int digits = Digits)
    {
        Span<byte> msg = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(msg, counter);
#pragma warning disable CA5350 // HMAC-SHA1 is what RFC 6238 authenticator apps use; HMAC keeps SHA-1 sound here.
        var hash = HMACSHA1.HashData(secret, msg);
#pragma warning restore CA5350
        var offset = hash[^1] & 0x0f;
        var binary = ((hash[offset] & 0x7f) << 24) | (hash[offset + 1] << 16) | (hash[offset + 2] << 8) | hash[offset + 3];
        var mod = (int)Math.Pow(10, digits);
        return (binary % mod).ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0');
    }

    /// <summary>
    /// Checks a code at the given time, allowing one step of clock drift either way, and never the
    /// same step twice (<paramref name="lastAcceptedStep"/>). Returns the accepted step, or null.
    /// </summary>
    public static long? Verify(byte[] secret, string? code, DateTimeOffset now, long lastAcceptedStep)
    {
        if (code is null || code.Length != Digits || !code.All(char.IsAsciiDigit))
        {
            return null;
        }

        var step = StepAt(now);
        for (var s = step - 1; s <= step + 1; s++)
        {
            if (s > lastAcceptedStep && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Code(secret, s)), Encoding.ASCII.GetBytes(code)))
            {
                return s;
            }
        }

        return null;
    }

    public static byte[] NewSecret() => RandomNumberGenerator.GetBytes(20);

    /// <summary>RFC 4648 base32 without padding (the form authenticator apps read).</summary>
    public static string Base32(byte[] data)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var sb = new StringBuilder((data.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            sb.Append(alphabet[(buffer << (5 - bits)) & 31]);
        }

        return sb.ToString();
    }

    /// <summary>The otpauth:// URI an authenticator app scans.</summary>
    public static string Uri(byte[] secret, string account) =>
        $"otpauth://totp/OpenDMP:{System.Uri.EscapeDataString(account)}?secret={Base32(secret)}&issuer=OpenDMP&digits={Digits}&period={StepSeconds}";
}
