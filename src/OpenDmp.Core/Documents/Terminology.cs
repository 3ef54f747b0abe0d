namespace OpenDmp.Core.Documents;

/// <summary>A coded value of a value set.</summary>
public sealed record Concept(string System, string Code, string Display);

/// <summary>
/// The ANS CI-SIS value sets used for document metadata (XDS / MHD), as published by ANS
/// (NOS: JDV_J02, J04, J06, J07, J08, J10). Codes are matched on system + code; the systems are
/// the FHIR canonical URLs of the ANS code systems, with their OID form also accepted.
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

    private static readonly Dictionary<string, string[]> SystemAliases = new(StringComparer.Ordinal)
    {
        ["urn:oid:2.16.840.1.113883.6.1"] = [Loinc],
        ["urn:oid:1.2.250.1.213.1.1.4.12"] = [TypeCodeSystem],
        ["urn:oid:1.2.250.1.213.1.1.4.1"] = [ClassSystem],
        ["urn:oid:1.3.6.1.4.1.19376.1.2.3"] = [FormatSystem],
        ["urn:oid:1.2.250.1.71.4.2.4"] = [FacilitySystem],
        ["urn:oid:1.2.250.1.213.1.1.4.6"] = [NonProfessionalProducerSystem],
        ["urn:oid:1.2.250.1.213.1.1.4.9"] = [PracticeSettingSystem],
        ["urn:oid:2.16.840.1.113883.5.25"] = [ConfidentialitySystem],
        ["https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"] = [VisibilitySystem],
    };

    /// <summary>JDV_J07-XdsTypeCode-CISIS: document types (LOINC and ANS complementary types).</summary>
    public static readonly ValueSet TypeCodes = new("JDV_J07-XdsTypeCode-CISIS",
    [
        (TypeCodeSystem, "ATTEST-ASS-COMPL", "Attestation assurance complémentaire"),
        (TypeCodeSystem, "ATTEST-RESID", "Attestation de résidence"),
        (TypeCodeSystem, "ATTEST-HEBGT", "Attestation d'hébergement"),
        (TypeCodeSystem, "ATTEST-VITALE", "Attestation de carte vitale"),
        (TypeCodeSystem, "AUTORIS-SOINS", "Autorisation de soins et actes non usuels sanitaires"),
        (TypeCodeSystem, "BIL_AUTO", "CR de bilan d'évaluation de la perte d'autonomie"),
        (TypeCodeSystem, "CERT_DECL", "Certificat, déclaration"),
        (TypeCodeSystem, "DISP_AUT", "Dispensation (autre)"),
        (TypeCodeSystem, "EXPPAT_1", "Volontés et droits du patient"),
        (TypeCodeSystem, "EXPPAT_2", "Autre document du patient"),
        (TypeCodeSystem, "EXPPAT_3", "Directives anticipées"),
        (TypeCodeSystem, "IMG-KOS", "Reference d'objets d'un examen d'imagerie"),
        (TypeCodeSystem, "PROT_ALD", "Protocole de soins ALD"),
        (TypeCodeSystem, "REMB", "Données de remboursement"),
        (TypeCodeSystem, "SYNTH", "Synthèse"),
        (TypeCodeSystem, "DOCPAT01", "Synthèse déposée par le patient"),
        (TypeCodeSystem, "DOCPAT02", "Traitement ou document de soins déposé par le patient"),
        (TypeCodeSystem, "DOCPAT03", "CR déposé par le patient"),
        (TypeCodeSystem, "DOCPAT04", "Imagerie déposée par le patient"),
        (TypeCodeSystem, "DOCPAT05", "CR de biologie déposé par le patient"),
        (TypeCodeSystem, "DOCPAT06", "CR de prévention déposé par le patient"),
        (TypeCodeSystem, "DOCPAT07", "Certificat déposé par le patient"),
        (TypeCodeSystem, "DOCPAT08", "Profil médical Mon espace santé"),
        (TypeCodeSystem, "DOCPAT09", "Document administratif déposé par le patient"),
        (TypeCodeSystem, "PRESC-BIO", "Prescription d'actes de biologie médicale"),
        (TypeCodeSystem, "PRESC-KINE", "Prescription d'actes de kinésithérapie"),
        (TypeCodeSystem, "PRESC-INF", "Prescription d'actes infirmiers"),
        (TypeCodeSystem, "PRESC-PEDI", "Prescription d'actes de pédicurie"),
        (TypeCodeSystem, "PRESC-ORTHOPHO", "Prescription d'actes d'orthophonie"),
        (TypeCodeSystem, "PRESC-ORTHOPTIE", "Prescription d'actes d'orthoptie"),
        (Loinc, "11369-6", "Historique des vaccinations"),
        (Loinc, "11488-4", "CR ou fiche de consultation ou de visite"),
        (Loinc, "11490-0", "Lettre de liaison à la sortie d'un établissement de soins"),
        (Loinc, "34112-3", "CR hospitalier (séjour)"),
        (Loinc, "11502-2", "CR d'examens biologiques"),
        (Loinc, "11505-5", "CR d'acte thérapeutique (autre)"),
        (Loinc, "11506-3", "CR ou fiche de suivi de soins par auxiliaire médical"),
        (Loinc, "11526-1", "CR d'anatomie et de cytologie pathologiques"),
        (Loinc, "15507-7", "CR de passage aux urgences"),
        (Loinc, "15508-5", "CR d'accouchement"),
        (Loinc, "18776-5", "Plan personnalisé de soins"),
        (Loinc, "18748-4", "CR d'imagerie médicale"),
        (Loinc, "18761-7", "Note de transfert (dont lettre de liaison à l'entrée en établissement de soins)"),
        (Loinc, "34133-9", "Synthèse d'épisode de soins"),
        (Loinc, "34749-2", "CR de consultation pré-anesthésique"),
        (Loinc, "34794-8", "CR de réunion de concertation pluridisciplinaire"),
        (Loinc, "34842-5", "Grille d'évaluation médico-social"),
        (Loinc, "34874-8", "CR opératoire"),
        (Loinc, "47420-5", "CR de bilan fonctionnel (par auxiliaire médical)"),
        (Loinc, "51969-4", "CR de génétique moléculaire"),
        (Loinc, "52040-3", "Document encapsulant une image d'illustration non DICOM"),
        (Loinc, "55115-0", "Demande d'actes d'imagerie"),
        (Loinc, "56445-0", "Bilan médicamenteux (Officine)"),
        (Loinc, "57828-6", "Prescription (autre)"),
        (Loinc, "57832-8", "Prescription de soins"),
        (Loinc, "57833-6", "Prescription de produits de santé"),
        (Loinc, "60591-5", "Synthèse du dossier médical"),
        (Loinc, "60593-1", "Dispensation médicamenteuse"),
        (Loinc, "61357-0", "Intervention pharmaceutique"),
        (Loinc, "67851-6", "CR d'admission"),
        (Loinc, "68599-0", "Synthèse psychiatrique"),
        (Loinc, "68817-6", "Bilan de santé et de prévention de l'enfant"),
        (Loinc, "70004-7", "CR d'acte diagnostique (autre)"),
        (Loinc, "74207-2", "Dossier de liaison d'urgence"),
        (Loinc, "75468-9", "Renouvellement ordonnance par pharmacien correspondant"),
        (Loinc, "75482-0", "CR d'acte thérapeutique à visée préventive"),
        (Loinc, "75492-9", "CR d'acte diagnostique à visée préventive ou de dépistage"),
        (Loinc, "75496-0", "Demande d'acte de télémédecine"),
        (Loinc, "77436-4", "CR d'anesthésie"),
        (Loinc, "77604-7", "Planification thérapeutique"),
        (Loinc, "78513-9", "CR de consultation en ophtalmologie"),
        (Loinc, "78601-2", "CR d'entretien pharmaceutique"),
        (Loinc, "80565-5", "CR d'administration de médicaments"),
        (Loinc, "80788-3", "Projet personnalisé d'accompagnement"),
        (Loinc, "80820-4", "Formulaire de conciliation médicamenteuse (Hôpital)"),
        (Loinc, "83836-7", "Schéma dentaire"),
        (Loinc, "83901-9", "Bilan psychologique"),
        (Loinc, "83981-1", "Lettre de liaison à la sortie d'une structure sociale ou médico-sociale"),
        (Loinc, "85208-7", "CR de télémédecine"),
        (Loinc, "86531-1", "Attestation de sortie"),
        (Loinc, "87273-9", "Note de vaccination"),
        (Loinc, "88348-8", "Lettre de liaison d'entrée en structure sociale ou médico-sociale"),
        (Loinc, "89601-9", "Certificat médical"),
        (Loinc, "93024-8", "CR de consultation pharmaceutique"),
        (Loinc, "96874-3", "COVID-19 Attestation de vaccination"),
        (Loinc, "96173-0", "Attestation de dépistage"),
    ]);

    /// <summary>JDV_J06-XdsClassCode-CISIS (TRE_A03-ClasseDocument).</summary>
    public static readonly ValueSet ClassCodes = new("JDV_J06-XdsClassCode-CISIS",
    [
        (ClassSystem, "10", "Compte rendu"),
        (ClassSystem, "11", "Synthèse"),
        (ClassSystem, "31", "Imagerie médicale"),
        (ClassSystem, "42", "Prescription"),
        (ClassSystem, "43", "Dispensation"),
        (ClassSystem, "44", "Plan de soins, protocole de soins"),
        (ClassSystem, "45", "Traitement administré"),
        (ClassSystem, "52", "Certificat, déclaration"),
        (ClassSystem, "60", "Données de remboursement"),
        (ClassSystem, "90", "Autres documents déposés par le patient"),
        (ClassSystem, "95", "Document de gestion"),
        (ClassSystem, "99", "Document technique"),
    ]);

    /// <summary>JDV_J10-XdsFormatCode-CISIS (TRE_A11-IheFormatCode and TRE_A06 complements), active codes.</summary>
    public static readonly ValueSet FormatCodes = new("JDV_J10-XdsFormatCode-CISIS",
    [
        (FormatSystem, "urn:ihe:iti:dsg:detached:2014", "Signature détachée"),
        (FormatSystem, "urn:ihe:iti:dsg:enveloping:2014", "Document signé avec une signature enveloppante"),
        (FormatSystem, "urn:ihe:iti:xds-sd:pdf:2008", "Document à corps non structuré en Pdf/A-1"),
        (FormatSystem, "urn:ihe:iti:xds-sd:text:2008", "Document à corps non structuré en texte brut"),
        (FormatSystem, "urn:ihe:iti-fr:xds-sd:jpeg:2010", "Document à corps non structuré en format jpeg"),
        (FormatSystem, "urn:ihe:iti-fr:xds-sd:rtf:2010", "Document à corps non structuré en format rtf"),
        (FormatSystem, "urn:ihe:iti-fr:xds-sd:tiff:2010", "Document à corps non structuré en format tiff"),
        (FormatSystem, "urn:ihe:lab:xd-lab:2008", "Compte rendu structuré d'examens de biologie médicale"),
        (FormatSystem, "urn:ihe:pcc:ips:2020", "Synthèse médicale"),
        (FormatSystem, "urn:ihe:pharm:pre:2010", "Prescription de médicaments"),
        (FormatSystem, "urn:ihe:eyecare:geneyeevalcn:2014", "Compte-rendu de consultation en ophtalmologie"),
        (FormatSystem, "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013", "Compte-rendu d'imagerie médicale"),
        (FormatSystem, "urn:ihe:pharm:dis:2010", "Dispensation médicamenteuse"),
        (FormatSystem, "urn:ihe:palm:apsr:2016", "CR d'anatomie et de cytologie pathologiques"),
    ]);

    /// <summary>JDV_J02-XdsHealthcareFacilityTypeCode-CISIS (TRE_R02-SecteurActivite).</summary>
    public static readonly ValueSet FacilityTypes = new("JDV_J02-XdsHealthcareFacilityTypeCode-CISIS",
    [
        (FacilitySystem, "SA01", "Etablissement public de santé"),
        (FacilitySystem, "SA02", "Hôpital militaire du Service de santé des armées"),
        (FacilitySystem, "SA03", "Etablissement privé PSPH"),
        (FacilitySystem, "SA04", "Etablissement privé non PSPH"),
        (FacilitySystem, "SA05", "Centre de santé"),
        (FacilitySystem, "SA06", "Autre structure du Service de santé des armées"),
        (FacilitySystem, "SA07", "Cabinet individuel"),
        (FacilitySystem, "SA08", "Cabinet de groupe"),
        (FacilitySystem, "SA09", "Exercice en société"),
        (FacilitySystem, "SA10", "Transporteur sanitaire"),
        (FacilitySystem, "SA12", "Etablissement de soins et prévention"),
        (FacilitySystem, "SA13", "Prévention et soins en entreprise"),
        (FacilitySystem, "SA15", "PMI et Planification familiale"),
        (FacilitySystem, "SA16", "Etablissement pour personnes handicapées"),
        (FacilitySystem, "SA17", "Etablissement pour personnes âgées"),
        (FacilitySystem, "SA25", "Laboratoire de biologie médicale"),
        (FacilitySystem, "SA29", "Laboratoire d'analyses et de biologie médicale"),
        (FacilitySystem, "SA30", "Autre établissement sanitaire"),
        (FacilitySystem, "SA33", "Pharmacie d'officine"),
        (FacilitySystem, "SA34", "Centre de dialyse"),
        (FacilitySystem, "SA36", "Centre anti-cancer"),
        (FacilitySystem, "SA37", "Centre de transfusion sanguine"),
        (FacilitySystem, "SA50", "Structure d'urgence hors établissement hospitalier"),
        (FacilitySystem, "SA52", "Maison de santé ou Pôle de santé"),
        (FacilitySystem, "SA54", "Centre de dépistage et de prévention"),
        (FacilitySystem, "SA63", "Communauté Professionnelle Territoriale de Santé"),
        (NonProfessionalProducerSystem, "EXP_PATIENT", "Expression personnelle du patient"),
    ]);

    /// <summary>JDV_J04-XdsPracticeSettingCode-CISIS (TRE_A01-CadreExercice).</summary>
    public static readonly ValueSet PracticeSettings = new("JDV_J04-XdsPracticeSettingCode-CISIS",
    [
        (PracticeSettingSystem, "AMBULATOIRE", "Ambulatoire"),
        (PracticeSettingSystem, "AMO", "Organisme d'assurance maladie obligatoire"),
        (PracticeSettingSystem, "DEPISTAGE", "Dépistage"),
        (PracticeSettingSystem, "ETABLISSEMENT", "Etablissement de santé"),
        (PracticeSettingSystem, "HAD", "Hospitalisation à domicile"),
        (PracticeSettingSystem, "MAD", "Maintien à domicile"),
        (PracticeSettingSystem, "PALLIATIF", "Soins palliatifs"),
        (PracticeSettingSystem, "SAD", "Soins à domicile"),
        (PracticeSettingSystem, "SAMU_SMUR", "SAMU/SMUR"),
    ]);

    /// <summary>JDV_J08-XdsConfidentialityCode-CISIS: HL7 confidentiality plus the DMP visibility statuses (TRE_A07).</summary>
    public static readonly ValueSet ConfidentialityCodes = new("JDV_J08-XdsConfidentialityCode-CISIS",
    [
        (ConfidentialitySystem, "N", "Normal"),
        (ConfidentialitySystem, "R", "Restricted"),
        (ConfidentialitySystem, "V", "Very restricted"),
        (ConfidentialityAnsSystem, "N", "Normal"),
        (ConfidentialityAnsSystem, "R", "Restreint"),
        (ConfidentialityAnsSystem, "V", "Très restreint"),
        (VisibilitySystem, "N", "Normal"),
        (VisibilitySystem, "MASQUE_PS", "Masqué aux professionnels de santé"),
        (VisibilitySystem, "INVISIBLE_PATIENT", "Non visible par le patient"),
        (VisibilitySystem, "INVISIBLE_REPRESENTANTS_LEGAUX", "Non visible par les représentants légaux du patient"),
    ]);

    /// <summary>Canonical form of a code system URI (OID aliases mapped to FHIR URLs).</summary>
    public static string CanonicalSystem(string? system)
    {
        if (system is null)
        {
            return string.Empty;
        }

        return SystemAliases.TryGetValue(system, out var c) ? c[0] : system;
    }
}

/// <summary>A value set: a named list of concepts.</summary>
public sealed class ValueSet
{
    private readonly Dictionary<(string System, string Code), Concept> _concepts;

    public ValueSet(string name, IEnumerable<(string System, string Code, string Display)> concepts)
    {
        Name = name;
        _concepts = concepts.ToDictionary(c => (c.System, c.Code), c => new Concept(c.System, c.Code, c.Display));
    }

    public string Name { get; }

    public IEnumerable<Concept> Concepts => _concepts.Values;

    /// <summary>Finds the concept for a system + code (OID forms accepted), or null.</summary>
    public Concept? Find(string? system, string? code) =>
        code is not null && _concepts.TryGetValue((Terminology.CanonicalSystem(system), code), out var c) ? c : null;
}
