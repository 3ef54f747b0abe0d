namespace OpenDmp.Core.Common;

/// <summary>The one check of an e-mail address given by a person or an operator (patients, representatives, professionals).</summary>
public static class EmailAddress
{
    /// <summary>The address alone (no display name), or an invalid-input error naming <paramref name="field"/>.</summary>
    public static string Require(string value, string field)
    {
        var v = value.Trim();
        if (v.Length > 254 || !MimeKit.MailboxAddress.TryParse(v, out var parsed) || parsed.Address != v || !v.Contains('@', StringComparison.Ordinal))
        {
            throw DmpException.Invalid($"'{value}' is not an e-mail address (for example prenom.nom@exemple.fr)", field);
        }

        return v;
    }

    /// <summary>Null for an empty value, else as <see cref="Require"/>.</summary>
    public static string? Optional(string? value, string field) => string.IsNullOrWhiteSpace(value) ? null : Require(value, field);
}
