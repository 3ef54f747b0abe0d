using System.Text;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Directory.Import;

/// <summary>A line of an extraction refused, with why (the import goes on without it).</summary>
public sealed record RejectedLine(long Line, string Reason)
{
    public override string ToString() => $"line {Line}: {Reason}";
}

/// <summary>
/// Reads the lines of a national extraction with a bound on each line's length: a file without line
/// breaks (or a corrupt one) cannot make the importer hold it in memory. An overlong line is skipped
/// to its end and reported as such.
/// </summary>
public sealed class BoundedLineReader(TextReader reader, int maxLineChars = 16 * 1024)
{
    private readonly char[] _buffer = new char[64 * 1024];
    private readonly StringBuilder _line = new();
    private int _pos;
    private int _len;
    private bool _eof;

    /// <summary>The number of the last line read (1-based).</summary>
    public long LineNumber { get; private set; }

    /// <summary>The remaining non-empty lines split into fields, each with its number; an overlong line as its rejection.</summary>
    public IEnumerable<(long Line, string[] Fields, RejectedLine? Rejected)> Records(char separator)
    {
        while (ReadLine(out var tooLong) is { } line)
        {
            if (tooLong)
            {
                yield return (LineNumber, [], new RejectedLine(LineNumber, $"line longer than {maxLineChars / 1024} KiB"));
            }
            else if (line.Length > 0)
            {
                yield return (LineNumber, line.Split(separator), null);
            }
        }
    }

    /// <summary>The next line (without its line break), null at the end; <paramref name="tooLong"/> when it was cut.</summary>
    public string? ReadLine(out bool tooLong)
    {
        tooLong = false;
        _line.Clear();
        while (true)
        {
            if (_pos == _len)
            {
                if (_eof || (_len = reader.Read(_buffer, 0, _buffer.Length)) == 0)
                {
                    _eof = true;
                    _len = _pos = 0;
                    if (_line.Length == 0 && !tooLong)
                    {
                        return null;
                    }

                    LineNumber++;
                    return _line.ToString();
                }

                _pos = 0;
            }

            var nl = Array.IndexOf(_buffer, '\n', _pos, _len - _pos);
            var end = nl < 0 ? _len : nl;
            var take = Math.Min(end - _pos, Math.Max(0, maxLineChars - _line.Length));
            _line.Append(_buffer, _pos, take);
            tooLong |= end - _pos > take;
            _pos = nl < 0 ? _len : nl + 1;
            if (nl >= 0)
            {
                LineNumber++;
                if (_line.Length > 0 && _line[^1] == '\r')
                {
                    _line.Length--;
                }

                return _line.ToString();
            }
        }
    }
}

/// <summary>One line of the RPPS extraction PS_LibreAcces_Personne_activite: one activity of one professional.</summary>
public sealed record RppsActivityLine(
    long Line,
    string IdType,
    string Id,
    string NationalId,
    string? CivilityCode,
    string Family,
    string Given,
    string ProfessionCode,
    string? ProfessionLabel,
    string? SkillType,
    string? SkillCode,
    string? SkillLabel,
    string? PracticeMode,
    string? SectorCode,
    string? SiteFiness,
    string? StructureId,
    string? SiteName,
    string? AddressLine,
    string? PostalCode,
    string? CommuneCode,
    string? City,
    string? DepartmentCode,
    string? Phone);

/// <summary>
/// The annuaire santé's open-data extraction of professionals' activities
/// (<c>PS_LibreAcces_Personne_activite_*.txt</c>): UTF-8, '|'-separated with a trailing '|', a header
/// line naming the columns. Columns are found by their published names, so that the extraction's
/// evolutions (columns added or moved) do not break the import; a missing required column is an
/// error that names it.
/// </summary>
public static class RppsExtract
{
    /// <summary>The columns of the extraction as the annuaire santé publishes it, in order (for writing files in its layout).</summary>
    public static readonly IReadOnlyList<string> PublishedColumns =
    [
        "Type d'identifiant PP", "Identifiant PP", "Identification nationale PP", "Code civilité d'exercice", "Libellé civilité d'exercice", "Code civilité", "Libellé civilité",
        "Nom d'exercice", "Prénom d'exercice", "Code profession", "Libellé profession", "Code catégorie professionnelle", "Libellé catégorie professionnelle",
        "Code type savoir-faire", "Libellé type savoir-faire", "Code savoir-faire", "Libellé savoir-faire", "Code mode exercice", "Libellé mode exercice",
        "Numéro SIRET site", "Numéro SIREN site", "Numéro FINESS site", "Numéro FINESS établissement juridique", "Identifiant technique de la structure",
        "Raison sociale site", "Enseigne commerciale site", "Complément destinataire (coord. structure)", "Complément point géographique (coord. structure)",
        "Numéro Voie (coord. structure)", "Indice répétition voie (coord. structure)", "Code type de voie (coord. structure)", "Libellé type de voie (coord. structure)",
        "Libellé Voie (coord. structure)", "Mention distribution (coord. structure)", "Bureau cedex (coord. structure)", "Code postal (coord. structure)",
        "Code commune (coord. structure)", "Libellé commune (coord. structure)", "Code pays (coord. structure)", "Libellé pays (coord. structure)",
        "Téléphone (coord. structure)", "Téléphone 2 (coord. structure)", "Télécopie (coord. structure)", "Adresse e-mail (coord. structure)",
        "Code département (coord. structure)", "Libellé département (coord. structure)", "Ancien identifiant de la structure", "Autorité d'enregistrement",
        "Code secteur d'activité", "Libellé secteur d'activité", "Code section tableau pharmaciens", "Libellé section tableau pharmaciens", "Code rôle", "Libellé rôle",
        "Code genre activité", "Libellé genre activité",
    ];

    private static readonly string[] Required = ["Type d'identifiant PP", "Identifiant PP", "Identification nationale PP", "Nom d'exercice", "Prénom d'exercice", "Code profession"];

    /// <summary>Reads the extraction's lines; a line that cannot be used is given as a <see cref="RejectedLine"/>.</summary>
    public static IEnumerable<object> Read(TextReader text)
    {
        var reader = new BoundedLineReader(text);
        var header = reader.ReadLine(out _) ?? throw DmpException.Invalid("the RPPS extraction is empty (no header line)");
        var columns = Columns(header);
        foreach (var column in Required)
        {
            if (!columns.ContainsKey(Normal(column)))
            {
                throw DmpException.Invalid($"the RPPS extraction has no column '{column}' in its header: is it PS_LibreAcces_Personne_activite?");
            }
        }

        var ix = new Func<string, int>(name => columns.TryGetValue(Normal(name), out var i) ? i : -1);
        int idType = ix("Type d'identifiant PP"), id = ix("Identifiant PP"), nat = ix("Identification nationale PP"), civ = ix("Code civilité d'exercice"),
            family = ix("Nom d'exercice"), given = ix("Prénom d'exercice"), prof = ix("Code profession"), profLabel = ix("Libellé profession"),
            skillType = ix("Code type savoir-faire"), skill = ix("Code savoir-faire"), skillLabel = ix("Libellé savoir-faire"), mode = ix("Code mode exercice"),
            sector = ix("Code secteur d'activité"), finess = ix("Numéro FINESS site"), structure = ix("Identifiant technique de la structure"),
            name = ix("Raison sociale site"), sign = ix("Enseigne commerciale site"), num = ix("Numéro Voie (coord. structure)"),
            rep = ix("Indice répétition voie (coord. structure)"), wayType = ix("Libellé type de voie (coord. structure)"), way = ix("Libellé Voie (coord. structure)"),
            postal = ix("Code postal (coord. structure)"), commune = ix("Code commune (coord. structure)"), city = ix("Libellé commune (coord. structure)"),
            dept = ix("Code département (coord. structure)"), phone = ix("Téléphone (coord. structure)");

        foreach (var (number, f, overlong) in reader.Records('|'))
        {
            if (overlong is not null)
            {
                yield return overlong;
                continue;
            }

            string? F(int i) => i >= 0 && i < f.Length && f[i].Trim() is { Length: > 0 } v ? v : null;
            var t = F(idType);
            var identifier = F(id);
            var national = F(nat);
            var fam = F(family);
            var pc = F(prof);
            if (identifier is null || national is null || fam is null || pc is null || t is null)
            {
                yield return new RejectedLine(number, "identifier, national identifier, name or profession missing");
                continue;
            }

            if (t == "8" && Identity.Rpps.Validate(identifier) is { } err)
            {
                yield return new RejectedLine(number, err);
                continue;
            }

            var address = string.Join(' ', new[] { F(num), F(rep), F(wayType), F(way) }.Where(x => x is not null));
            yield return new RppsActivityLine(number, t, identifier, national, F(civ), fam, F(given) ?? string.Empty, pc, F(profLabel),
                F(skillType), F(skill), F(skillLabel), F(mode), F(sector), F(finess), F(structure), F(name) ?? F(sign),
                address.Length > 0 ? address : null, F(postal), F(commune), F(city), F(dept), F(phone));
        }
    }

    private static Dictionary<string, int> Columns(string header)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        var names = header.TrimStart('\uFEFF').Split('|');
        for (var i = 0; i < names.Length; i++)
        {
            map.TryAdd(Normal(names[i]), i);
        }

        return map;
    }

    private static string Normal(string name) => name.Trim().Replace('’', '\'').ToLowerInvariant();
}

/// <summary>An establishment (structureet record) of the FINESS extraction.</summary>
public sealed record FinessEstablishment(
    long Line,
    string Finess,
    string? LegalEntity,
    string Name,
    string? AddressLine,
    string? PostalCode,
    string? CommuneCode,
    string? City,
    string? DepartmentCode,
    string? Phone,
    string? CategoryCode,
    string? CategoryLabel);

/// <summary>A geolocalisation record of the FINESS extraction (projected coordinates of an establishment).</summary>
public sealed record FinessGeolocation(long Line, string Finess, GeoPoint Position);

/// <summary>
/// The FINESS open-data extraction of establishments (<c>etalab-cs1100507-stock-*.csv</c>):
/// ';'-separated, latin-1, a first line that describes the file ("finess;etalab;…"), then
/// <c>structureet</c> records (no header; the published column order) and <c>geolocalisation</c>
/// records (nofinesset; x; y; source naming the projection, Lambert-93 in metropolitan France).
/// </summary>
public static class FinessExtract
{
    /// <summary>The extraction's encoding as published.</summary>
    public static readonly Encoding Latin1 = Encoding.Latin1;

    /// <summary>Reads the records; a line that cannot be used is given as a <see cref="RejectedLine"/>.</summary>
    public static IEnumerable<object> Read(TextReader text)
    {
        var reader = new BoundedLineReader(text);
        var first = reader.ReadLine(out _) ?? throw DmpException.Invalid("the FINESS extraction is empty");
        if (!first.StartsWith("finess;", StringComparison.OrdinalIgnoreCase))
        {
            throw DmpException.Invalid("the FINESS extraction's first line should describe it (finess;etalab;…): is it etalab-cs1100507-stock-*.csv?");
        }

        foreach (var (number, f, overlong) in reader.Records(';'))
        {
            if (overlong is not null)
            {
                yield return overlong;
                continue;
            }

            string? F(int i) => i < f.Length && f[i].Trim() is { Length: > 0 } v ? v : null;
            switch (f[0])
            {
                case "structureet":
                    yield return Establishment(number, f, F);
                    break;
                case "geolocalisation":
                    yield return Geolocation(number, F);
                    break;
                default:
                    yield return new RejectedLine(number, $"unknown record kind '{Truncate(f[0])}' (structureet or geolocalisation expected)");
                    break;
            }
        }
    }

    private static object Establishment(long line, string[] f, Func<int, string?> F)
    {
        var finess = F(1);
        var name = F(4) ?? F(3);
        if (f.Length < 20 || finess is null || !DirectoryService.IsFiness(finess) || name is null)
        {
            return new RejectedLine(line, "structureet record without a valid FINESS number or name");
        }

        // ligneacheminement: "01440 VIRIAT" (postal code, then the routing label of the commune).
        var routing = F(15);
        string? postal = null, city = null;
        if (routing is { Length: >= 5 } && routing[..5].All(char.IsAsciiDigit))
        {
            postal = routing[..5];
            city = routing[5..].Trim() is { Length: > 0 } c ? c : null;
        }

        var dept = F(13);
        var commune = F(12);
        string? insee = null, department = dept;
        if (dept is not null && commune is { Length: 3 })
        {
            // Overseas départements are coded 9A…9F with the commune's last three digits (97101 = "9A" + "101").
            if (dept.Length == 2 && dept[0] == '9' && dept[1] is >= 'A' and <= 'F')
            {
                insee = "97" + commune;
                department = "97" + commune[0];
            }
            else
            {
                insee = dept + commune;
            }
        }

        var address = string.Join(' ', new[] { F(7), F(8), F(9), F(10) }.Where(x => x is not null));
        return new FinessEstablishment(line, finess, F(2), name, address.Length > 0 ? address : F(11), postal, insee, city, department, F(16), F(18), F(19));
    }

    private static object Geolocation(long line, Func<int, string?> F)
    {
        var finess = F(1);
        if (finess is null || !double.TryParse(F(2), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var x)
            || !double.TryParse(F(3), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var y))
        {
            return new RejectedLine(line, "geolocalisation record without a FINESS number or coordinates");
        }

        return Geo.FromFiness(x, y, F(4)) is { } p && p.Latitude is > -90 and < 90 && p.Longitude is > -180 and < 180
            ? new FinessGeolocation(line, finess, p)
            : new RejectedLine(line, $"geolocalisation in a projection OpenDMP does not know ({Truncate(F(4) ?? string.Empty)})");
    }

    private static string Truncate(string s) => s.Length > 60 ? s[..60] + "…" : s;
}
