using OpenDmp.Core.Terminologies;

namespace OpenDmp.Core.Documents;

/// <summary>A coded value of a value set.</summary>
public sealed record Concept(string System, string Code, string Display);

/// <summary>
/// Names of the ANS CI-SIS code systems and value sets used for document metadata (XDS / MHD).
/// The codes themselves are data: the ANS publications shipped in Terminologies/Ans and those an
/// operator imports (<see cref="TerminologySet"/>, <see cref="TerminologyCatalog"/>). Codes are
/// matched on system + code; systems in their canonical URL and OID forms.
/// </summary>
public static class Terminology
{
    public const string Loinc = "http://loinc.org";
    public const string TypeCodeSystem = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire";
    public const string ClassSystem = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument";
    public const string FormatSystem = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode";
    public const string FacilitySystem = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite";
    /// <summary>TRE_A00-ProducteurDocNonPS: producers that are not professionals (EXP_PATIENT for the patient's own documents).</summary>
    public const string NonProfessionalProducerSystem = "https://mos.esante.gouv.fr/NOS/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS";
    public const string PracticeSettingSystem = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice";
    public const string ConfidentialitySystem = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
    public const string ConfidentialityAnsSystem = "https://mos.esante.gouv.fr/NOS/TRE_A08-HL7Confidentiality/FHIR/TRE-A08-HL7Confidentiality";
    public const string VisibilitySystem = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument";

    /// <summary>TRE_A07 as the ANS publishes it (PDSm examples write it 'StatusVisibiliteDocument', see <see cref="VisibilitySystem"/>).</summary>
    public const string VisibilityCanonicalSystem = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument";

    /// <summary>JDV_J01-XdsAuthorSpecialty-CISIS.</summary>
    public const string AuthorSpecialtiesUrl = "https://mos.esante.gouv.fr/NOS/JDV_J01-XdsAuthorSpecialty-CISIS/FHIR/JDV-J01-XdsAuthorSpecialty-CISIS";
    /// <summary>JDV_J02-XdsHealthcareFacilityTypeCode-CISIS.</summary>
    public const string FacilityTypesUrl = "https://mos.esante.gouv.fr/NOS/JDV_J02-XdsHealthcareFacilityTypeCode-CISIS/FHIR/JDV-J02-XdsHealthcareFacilityTypeCode-CISIS";
    /// <summary>JDV_J04-XdsPracticeSettingCode-CISIS.</summary>
    public const string PracticeSettingsUrl = "https://mos.esante.gouv.fr/NOS/JDV_J04-XdsPracticeSettingCode-CISIS/FHIR/JDV-J04-XdsPracticeSettingCode-CISIS";
    /// <summary>JDV_J06-XdsClassCode-CISIS.</summary>
    public const string ClassCodesUrl = "https://mos.esante.gouv.fr/NOS/JDV_J06-XdsClassCode-CISIS/FHIR/JDV-J06-XdsClassCode-CISIS";
    /// <summary>JDV_J07-XdsTypeCode-CISIS.</summary>
    public const string TypeCodesUrl = "https://mos.esante.gouv.fr/NOS/JDV_J07-XdsTypeCode-CISIS/FHIR/JDV-J07-XdsTypeCode-CISIS";
    /// <summary>JDV_J08-XdsConfidentialityCode-CISIS (confidentiality TRE_A08 and visibility TRE_A07).</summary>
    public const string ConfidentialityCodesUrl = "https://mos.esante.gouv.fr/NOS/JDV_J08-XdsConfidentialityCode-CISIS/FHIR/JDV-J08-XdsConfidentialityCode-CISIS";
    /// <summary>JDV_J10-XdsFormatCode-CISIS.</summary>
    public const string FormatCodesUrl = "https://mos.esante.gouv.fr/NOS/JDV_J10-XdsFormatCode-CISIS/FHIR/JDV-J10-XdsFormatCode-CISIS";
    /// <summary>JDV_J11-RelationPatient-CISIS.</summary>
    public const string RelationsUrl = "https://mos.esante.gouv.fr/NOS/JDV_J11-RelationPatient-CISIS/FHIR/JDV-J11-RelationPatient-CISIS";

    /// <summary>JDV_J07 as shipped (document types: LOINC and ANS complementary types).</summary>
    public static ValueSet TypeCodes => TerminologySet.Shipped.View(TypeCodesUrl);

    /// <summary>JDV_J06 as shipped (TRE_A03-ClasseDocument).</summary>
    public static ValueSet ClassCodes => TerminologySet.Shipped.View(ClassCodesUrl);

    /// <summary>JDV_J10 as shipped (TRE_A11, TRE_A06 complements).</summary>
    public static ValueSet FormatCodes => TerminologySet.Shipped.View(FormatCodesUrl);

    /// <summary>JDV_J02 as shipped (TRE_R02-SecteurActivite, TRE_A00).</summary>
    public static ValueSet FacilityTypes => TerminologySet.Shipped.View(FacilityTypesUrl);

    /// <summary>JDV_J04 as shipped (TRE_A01-CadreExercice, TRE_A00).</summary>
    public static ValueSet PracticeSettings => TerminologySet.Shipped.View(PracticeSettingsUrl);

    /// <summary>JDV_J08 as shipped.</summary>
    public static ValueSet ConfidentialityCodes => TerminologySet.Shipped.View(ConfidentialityCodesUrl);

    /// <summary>Canonical form of a code system URI (OID and historical spellings mapped to the ANS canonical URLs).</summary>
    public static string CanonicalSystem(string? system) => TerminologySet.Shipped.Canonical(system);
}

/// <summary>A value set in force: a named list of concepts, matched through its terminology set.</summary>
public sealed class ValueSet
{
    private readonly List<Concept> _concepts;
    private readonly TerminologySet _set;
    private readonly string _url;

    public ValueSet(string name, IEnumerable<(string System, string Code, string Display)> concepts, TerminologySet set, string url)
    {
        Name = name;
        _concepts = [.. concepts.Select(c => new Concept(c.System, c.Code, c.Display))];
        _set = set;
        _url = url;
    }

    public string Name { get; }

    /// <summary>Every concept of the value set, retired ones included (they still display old documents).</summary>
    public IEnumerable<Concept> Concepts => _concepts;

    /// <summary>Finds the concept for a system + code (OID forms accepted), or null.</summary>
    public Concept? Find(string? system, string? code) => _set.Find(_url, system, code);
}
