namespace OpenDmp.Core.Identity;

/// <summary>
/// French nomenclatures used for professionals: profession (TRE_G15-ProfessionSante) and
/// specialty (TRE_R38-SpecialiteOrdinale, codes SMxx). Subset shipped with OpenDMP; the
/// full tables are ANS reference data (MOS/NOS).
/// </summary>
public static class Nomenclatures
{
    public const string ProfessionSystem = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante";
    public const string SpecialtySystem = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale";

    public static readonly IReadOnlyDictionary<string, string> Professions = new Dictionary<string, string>
    {
        ["10"] = "Médecin",
        ["21"] = "Pharmacien",
        ["26"] = "Audioprothésiste",
        ["28"] = "Opticien-Lunetier",
        ["31"] = "Assistant dentaire",
        ["40"] = "Chirurgien-Dentiste",
        ["50"] = "Sage-Femme",
        ["60"] = "Infirmier",
        ["69"] = "Infirmier psychiatrique",
        ["70"] = "Masseur-Kinésithérapeute",
        ["80"] = "Pédicure-Podologue",
        ["81"] = "Orthoprothésiste",
        ["91"] = "Orthophoniste",
        ["92"] = "Orthoptiste",
        ["94"] = "Ergothérapeute",
        ["95"] = "Diététicien",
        ["96"] = "Psychomotricien",
        ["98"] = "Manipulateur ERM",
    };

    public static readonly IReadOnlyDictionary<string, string> Specialties = new Dictionary<string, string>
    {
        ["SM01"] = "Anatomie et cytologie pathologiques",
        ["SM02"] = "Anesthésie-réanimation",
        ["SM03"] = "Biologie médicale",
        ["SM04"] = "Cardiologie et maladies vasculaires",
        ["SM05"] = "Chirurgie générale",
        ["SM15"] = "Dermatologie et vénéréologie",
        ["SM16"] = "Endocrinologie et métabolisme",
        ["SM19"] = "Gynécologie médicale",
        ["SM20"] = "Gynécologie-obstétrique",
        ["SM24"] = "Hépato-gastro-entérologie",
        ["SM26"] = "Médecine du travail",
        ["SM28"] = "Médecine interne",
        ["SM29"] = "Médecine nucléaire",
        ["SM32"] = "Neurologie",
        ["SM33"] = "Néphrologie",
        ["SM35"] = "Oncologie médicale",
        ["SM38"] = "Ophtalmologie",
        ["SM39"] = "Oto-rhino-laryngologie",
        ["SM40"] = "Pédiatrie",
        ["SM41"] = "Pneumologie",
        ["SM42"] = "Psychiatrie",
        ["SM44"] = "Radiodiagnostic et imagerie médicale",
        ["SM47"] = "Rhumatologie",
        ["SM53"] = "Spécialiste en médecine générale",
        ["SM54"] = "Médecine générale",
        ["SM57"] = "Gériatrie",
        ["SM59"] = "Médecine d'urgence",
    };

    /// <summary>
    /// Returns null when the profession/specialty pair is valid, else the reason. Physicians (10)
    /// need an ordinal specialty; other professions may have none.
    /// </summary>
    public static string? Validate(string? profession, string? specialty)
    {
        if (profession is null || !Professions.ContainsKey(profession))
        {
            return $"unknown profession code '{profession}' (TRE_G15: 10 = médecin, 21 = pharmacien, 60 = infirmier, …)";
        }

        if (string.IsNullOrEmpty(specialty))
        {
            return profession == "10" ? "a physician (profession 10) needs a specialty code (TRE_R38, e.g. SM54 = médecine générale)" : null;
        }

        return Specialties.ContainsKey(specialty)
            ? null
            : $"unknown specialty code '{specialty}' (TRE_R38, e.g. SM54 = médecine générale, SM04 = cardiologie)";
    }
}
