using System.Globalization;
using System.Text;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Directory.Import;

namespace OpenDmp.Tests.Directories;

/// <summary>A professional's activity, as one line of the RPPS extraction.</summary>
public sealed record RppsPerson(
    string Rpps,
    string Family,
    string Given,
    string Profession = "10",
    string? SkillCode = "SM54",
    string? SkillLabel = "Spécialiste en médecine générale",
    string Mode = "L",
    string? SiteFiness = null,
    string StructureId = "R10100000000001",
    string SiteName = "CABINET MEDICAL",
    string PostalCode = "69003",
    string CommuneCode = "69383",
    string City = "Lyon 3e Arrondissement",
    string Civility = "DR");

/// <summary>An establishment, as a structureet record of the FINESS extraction, with its position.</summary>
public sealed record FinessSite(string Finess, string Name, string PostalCode, string Dept, string Commune, string City, GeoPoint? Position,
    string Category = "620", string CategoryLabel = "Pharmacie d'Officine", string? LegalEntity = "690000000");

/// <summary>
/// Writes small files in the exact layouts the national open-data portals publish: the annuaire
/// santé's PS_LibreAcces_Personne_activite (its 56-column header, '|' with a trailing '|', UTF-8)
/// and FINESS's etalab-cs1100507-stock (descriptive first line, structureet records of 31 fields
/// with a trailing ';', geolocalisation records in Lambert-93, latin-1).
/// </summary>
public static class NationalExtracts
{
    public static readonly string[] RppsHeader = [.. RppsExtract.PublishedColumns];

    private static readonly Dictionary<string, string> Professions = new(StringComparer.Ordinal) { ["10"] = "Médecin", ["21"] = "Pharmacien", ["60"] = "Infirmier", ["70"] = "Masseur-Kinésithérapeute" };

    public static string RppsLine(RppsPerson p)
    {
        var v = new string[RppsHeader.Length];
        Array.Fill(v, string.Empty);
        void Set(string column, string? value) => v[Array.IndexOf(RppsHeader, column)] = value ?? string.Empty;
        Set("Type d'identifiant PP", "8");
        Set("Identifiant PP", p.Rpps);
        Set("Identification nationale PP", "8" + p.Rpps);
        Set("Code civilité d'exercice", p.Civility);
        Set("Libellé civilité d'exercice", p.Civility == "DR" ? "Docteur" : "Madame");
        Set("Nom d'exercice", p.Family);
        Set("Prénom d'exercice", p.Given);
        Set("Code profession", p.Profession);
        Set("Libellé profession", Professions.GetValueOrDefault(p.Profession, "Autre"));
        Set("Code catégorie professionnelle", "C");
        Set("Libellé catégorie professionnelle", "Civil");
        if (p.SkillCode is not null)
        {
            Set("Code type savoir-faire", "S");
            Set("Libellé type savoir-faire", "Spécialité ordinale");
            Set("Code savoir-faire", p.SkillCode);
            Set("Libellé savoir-faire", p.SkillLabel);
        }

        Set("Code mode exercice", p.Mode);
        Set("Libellé mode exercice", p.Mode == "L" ? "Libéral, indépendant, artisan, commerçant" : "Salarié");
        Set("Numéro FINESS site", p.SiteFiness);
        Set("Identifiant technique de la structure", p.StructureId);
        Set("Raison sociale site", p.SiteName);
        Set("Numéro Voie (coord. structure)", "12");
        Set("Code type de voie (coord. structure)", "R");
        Set("Libellé type de voie (coord. structure)", "Rue");
        Set("Libellé Voie (coord. structure)", "de la République");
        Set("Bureau cedex (coord. structure)", $"{p.PostalCode} {p.City.ToUpperInvariant()}");
        Set("Code postal (coord. structure)", p.PostalCode);
        Set("Code commune (coord. structure)", p.CommuneCode);
        Set("Libellé commune (coord. structure)", p.City);
        Set("Code pays (coord. structure)", "99000");
        Set("Libellé pays (coord. structure)", "France");
        Set("Téléphone (coord. structure)", "0478000000");
        Set("Code département (coord. structure)", p.CommuneCode[..2]);
        Set("Autorité d'enregistrement", "CNOM/CNOM/CNOM");
        Set("Code secteur d'activité", "SA07");
        Set("Libellé secteur d'activité", "Cabinet individuel");
        return string.Join('|', v) + "|";
    }

    /// <summary>Writes an RPPS extraction (UTF-8, as the annuaire santé publishes it).</summary>
    public static void WriteRpps(string path, IEnumerable<RppsPerson> people, IEnumerable<string>? extraLines = null) =>
        File.WriteAllText(path, string.Join('\n', new[] { string.Join('|', RppsHeader) + "|" }.Concat(people.Select(RppsLine)).Concat(extraLines ?? [])) + "\n", new UTF8Encoding(false));

    public static string StructureLine(FinessSite s) => string.Join(';',
        "structureet", s.Finess, s.LegalEntity ?? string.Empty, s.Name.Length > 38 ? s.Name[..38] : s.Name, s.Name, string.Empty, string.Empty, "5", "R", "DE LA GARE", string.Empty, string.Empty,
        s.Commune, s.Dept, "DEPARTEMENT", $"{s.PostalCode} {s.City}", "0478000000", string.Empty, s.Category, s.CategoryLabel, "3201", "Commerce de Biens à Usage Médicaux",
        "12345678900011", "4773Z", "01", "Etablissement Tarif Libre", "9", "Non concerné", "1990-01-01", "1990-01-01", "2024-01-02") + ";";

    public static string GeolocationLine(FinessSite s)
    {
        var (x, y) = Geo.ToLambert93(s.Position!.Value);
        return string.Create(CultureInfo.InvariantCulture, $"geolocalisation;{s.Finess};{x:F1};{y:F1};1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93;2024-01-02");
    }

    /// <summary>Writes a FINESS extraction (latin-1; the structureet records, then the geolocalisation records, as published).</summary>
    public static void WriteFiness(string path, IReadOnlyList<FinessSite> sites, IEnumerable<string>? extraLines = null)
    {
        var lines = new List<string> { $"finess;etalab;{sites.Count};2026-11-20" };
        lines.AddRange(sites.Select(StructureLine));
        lines.AddRange(sites.Where(s => s.Position is not null).Select(GeolocationLine));
        lines.AddRange(extraLines ?? []);
        File.WriteAllText(path, string.Join("\r\n", lines) + "\r\n", Encoding.Latin1);
    }

    // Real places (WGS 84), for distances that can be checked on a map.
    public static readonly GeoPoint Lyon3 = new(45.7597, 4.8422);
    public static readonly GeoPoint Villeurbanne = new(45.7719, 4.8902);
    public static readonly GeoPoint Vienne = new(45.5255, 4.8746);
    public static readonly GeoPoint Grenoble = new(45.1885, 5.7245);
}
