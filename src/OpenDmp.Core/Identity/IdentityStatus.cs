using Hl7.Fhir.Model;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Identity;

/// <summary>
/// The four confidence statuses of an identity under the national identity-vigilance rules (RNIV):
/// exclusive, derived from two facts — the INS recovered (and checked) from the INSi teleservice,
/// and an identity document of high trust checked — and forced down to provisional by a doubt.
/// </summary>
public enum IdentityStatus
{
    /// <summary>PROV: neither fact, or a doubt on the identity.</summary>
    Provisional = 1,
    /// <summary>RECUP: the INS recovered from INSi, no identity document checked.</summary>
    Recovered = 2,
    /// <summary>VALI: an identity document of high trust checked, the INS not recovered.</summary>
    Validated = 3,
    /// <summary>QUAL: both; the only status under which the INS may be used to file and share.</summary>
    Qualified = 4,
}

/// <summary>What establishes an identity's status: the INSi recovery, the document checked, a doubt.</summary>
/// <param name="InsRecoveredOn">When the INS was recovered from (or checked against) the INSi teleservice.</param>
/// <param name="Document">The identity document of high trust checked (<see cref="IdentityVigilance.Documents"/>).</param>
/// <param name="CheckedOn">When the document was checked.</param>
/// <param name="Doubtful">The identity is doubtful (RNIV attribute): provisional whatever else.</param>
public sealed record IdentityEvidence(DateOnly? InsRecoveredOn, string? Document, DateOnly? CheckedOn, bool Doubtful = false)
{
    /// <summary>The evidence of an identity qualified by the professional who sends it with its INS (the RNIV lets only a qualified identity carry its INS).</summary>
    public static IdentityEvidence AttestedQualified(DateOnly on) => new(on, "attested", on);
}

/// <summary>The rules of identity vigilance (RNIV), in one place (the README's table says the same).</summary>
public static class IdentityVigilance
{
    public const string ReliabilityExtension = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability";
    public const string StatusSystem = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445";
    public const string ValidationModeSystem = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity";

    /// <summary>The identity documents of high trust that validate an identity (fr-core validation modes), with their French names.</summary>
    public static readonly IReadOnlyDictionary<string, string> Documents = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["CN"] = "Carte nationale d'identité",
        ["PA"] = "Passeport",
        ["CS"] = "Titre de séjour",
        ["LE"] = "Livret de famille (mineur, avec la pièce d'identité du parent)",
        ["AN"] = "Extrait d'acte de naissance (mineur, avec la pièce d'identité du parent)",
    };

    /// <summary>The document code of an identity qualified by the professional who sent it (their own check, not recorded here).</summary>
    public const string Attested = "attested";

    /// <summary>The status the evidence establishes.</summary>
    public static IdentityStatus StatusOf(IdentityEvidence e)
    {
        if (e.Doubtful)
        {
            return IdentityStatus.Provisional;
        }

        var recovered = e.InsRecoveredOn is not null;
        var validated = e.Document is not null && e.CheckedOn is not null;
        return (recovered, validated) switch
        {
            (true, true) => IdentityStatus.Qualified,
            (true, false) => IdentityStatus.Recovered,
            (false, true) => IdentityStatus.Validated,
            _ => IdentityStatus.Provisional,
        };
    }

    /// <summary>Refuses evidence that cannot be: a document outside the list, a check without its date, dates in the future.</summary>
    public static void Check(IdentityEvidence e, DateOnly today)
    {
        if (e.Document is { } d && d != Attested && !Documents.ContainsKey(d))
        {
            throw DmpException.Invalid($"'{d}' is not an identity document of high trust that validates an identity; one of {string.Join(", ", Documents.Keys)}");
        }

        if ((e.Document is null) != (e.CheckedOn is null))
        {
            throw DmpException.Invalid("an identity document checked needs its date, and a date needs the document");
        }

        if (e.InsRecoveredOn > today || e.CheckedOn > today)
        {
            throw DmpException.Invalid("the INSi recovery and the document check cannot be in the future");
        }
    }

    /// <summary>The fr-core code of a status (PROV, RECUP, VALI, QUAL).</summary>
    public static string Code(IdentityStatus s) => s switch
    {
        IdentityStatus.Recovered => "RECUP",
        IdentityStatus.Validated => "VALI",
        IdentityStatus.Qualified => "QUAL",
        _ => "PROV",
    };

    /// <summary>The status of an fr-core code, or null.</summary>
    public static IdentityStatus? FromCode(string? code) => code switch
    {
        "PROV" => IdentityStatus.Provisional,
        "RECUP" => IdentityStatus.Recovered,
        "VALI" => IdentityStatus.Validated,
        "QUAL" => IdentityStatus.Qualified,
        _ => null,
    };

    /// <summary>The French name of a status.</summary>
    public static string Display(IdentityStatus s) => s switch
    {
        IdentityStatus.Recovered => "Identité récupérée",
        IdentityStatus.Validated => "Identité validée",
        IdentityStatus.Qualified => "Identité qualifiée",
        _ => "Identité provisoire",
    };

    /// <summary>The fr-core identityReliability extension of a Patient.</summary>
    public static Extension ToExtension(IdentityStatus status, string? document, DateOnly? checkedOn)
    {
        var ext = new Extension { Url = ReliabilityExtension };
        ext.Extension.Add(new Extension("identityStatus", new Coding(StatusSystem, Code(status), Display(status))));
        if (checkedOn is { } on)
        {
            ext.Extension.Add(new Extension("validationDate", new Date(on.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture))));
        }

        if (document is not null && Documents.TryGetValue(document, out var name))
        {
            ext.Extension.Add(new Extension("validationMode", new Coding(ValidationModeSystem, document, name)));
        }

        return ext;
    }

    /// <summary>The status a Patient's identityReliability extension states, or null when it states none.</summary>
    public static IdentityStatus? StatedBy(Patient p)
    {
        var ext = p.GetExtension(ReliabilityExtension);
        if (ext?.GetExtension("identityStatus")?.Value is not Coding c)
        {
            return null;
        }

        return FromCode(c.Code) ?? throw DmpException.Invalid($"identityStatus '{c.Code}' is not one of PROV, RECUP, VALI, QUAL", "Patient.extension:identityReliability");
    }

    /// <summary>Refuses to use the INS of an identity that is not qualified (RNIV): the sentence names the status and what is missing.</summary>
    public static void RequireQualified(IdentityStatus status, string what)
    {
        if (status == IdentityStatus.Qualified)
        {
            return;
        }

        var missing = status switch
        {
            IdentityStatus.Recovered => "an identity document of high trust checked",
            IdentityStatus.Validated => "the INS recovered from the INSi teleservice",
            _ => "the INS recovered from INSi and an identity document checked (or a doubt lifted)",
        };
        throw new DmpException(ErrorKind.Conflict, $"the patient's identity is {Code(status)} ({Display(status)}): only a qualified identity may be used to {what} under the INS; missing: {missing}");
    }
}
