using System.Globalization;

namespace OpenDmp.Core.Identity;

/// <summary>
/// A generated population with known duplicates, to measure duplicate detection (precision and
/// recall in BENCHMARKS.md, the tests' floor): French birth names and given names, birth dates and
/// places, and for a share of the people a second registration with the errors an admission desk
/// makes — a mistyped or dropped letter, a lost accent, a compound name cut, the day and month of
/// birth swapped or a digit wrong, the birth place missing, the second given name first. Twins
/// (same birth name, date and place, another given name) and namesakes are there too, as the
/// pairs that must not be merged.
/// </summary>
public static class SyntheticIdentities
{
    private static readonly string[] Families =
    [
        "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT", "SIMON", "MICHEL", "LEFÈVRE", "LEROY", "ROUX", "DAVID",
        "BERTRAND", "MOREL", "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MÜLLER", "LEFEBVRE", "FAURE", "ANDRÉ", "MERCIER",
        "BLANC", "GUÉRIN", "BOYER", "GARNIER", "CHEVALIER", "FRANÇOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN", "CLÉMENT", "MORIN", "NICOLAS", "HENRY",
        "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON", "MARCHAND", "DUVAL", "DENIS", "DUMONT", "MARIE", "LEMAIRE", "NOËL", "MEYER", "DUFOUR", "MEUNIER", "BRUN", "BLANCHARD",
        "GIRAUD", "JOLY", "RIVIÈRE", "LUCAS", "BRUNET", "GAILLARD", "BARBIER", "ARNAUD", "MARTINEZ", "GÉRARD", "ROCHE", "RENARD", "SCHMITT", "ROY", "LEROUX", "COLIN",
        "VIDAL", "CARON", "PICARD", "ROGER", "FABRE", "AUBERT", "LEMOINE", "RENAUD", "DUMAS", "LACROIX", "OLIVIER", "PHILIPPE", "BOURGEOIS", "PIERRE", "BENOÎT", "REY",
        "LECLERC", "PAYET", "ROLLAND", "LECLERCQ", "GUILLAUME", "LECOMTE", "LOPEZ", "JEAN", "DUPUY", "GUILLOT", "HUBERT", "BERGER", "CARPENTIER", "SANCHEZ", "DUPUIS",
        "MOULIN", "LOUIS", "DESCHAMPS", "HUET", "VASSEUR", "PEREZ", "BOUCHER", "FLEURY", "ROYER", "KLEIN", "JACQUET", "ADAM", "PARIS", "POIRIER", "MARTY", "AUBRY",
        "GUYOT", "CARRÉ", "CHARLES", "RENAULT", "CHARPENTIER", "MÉNARD", "MAILLARD", "BARON", "BERTIN", "BAILLY", "HERVÉ", "SCHNEIDER", "FERNANDEZ", "LE GALL", "COLLET",
        "LÉGER", "BOUVIER", "JULIEN", "PRÉVOST", "MILLET", "PERROT", "DANIEL", "LE ROUX", "COUSIN", "GERMAIN", "BRETON", "BESSON", "LANGLOIS", "RÉMY", "LE GOFF", "PELLETIER",
    ];

    private static readonly string[] Women =
    [
        "Marie", "Jeanne", "Françoise", "Monique", "Catherine", "Nathalie", "Isabelle", "Sylvie", "Anne", "Martine", "Christine", "Sophie", "Julie", "Camille", "Léa", "Manon",
        "Chloé", "Emma", "Inès", "Sarah", "Laura", "Céline", "Aurélie", "Élodie", "Émilie", "Hélène", "Valérie", "Sandrine", "Stéphanie", "Véronique", "Patricia", "Brigitte",
        "Nicole", "Chantal", "Colette", "Josiane", "Lucie", "Zoé", "Louise", "Alice", "Juliette", "Clara", "Anaïs", "Margaux", "Pauline", "Marine", "Mathilde", "Océane",
    ];

    private static readonly string[] Men =
    [
        "Jean", "Pierre", "Michel", "André", "Philippe", "Alain", "Jacques", "Bernard", "Daniel", "Patrick", "Nicolas", "Christophe", "Stéphane", "Laurent", "Frédéric",
        "Thomas", "Lucas", "Hugo", "Louis", "Gabriel", "Léo", "Arthur", "Jules", "Nathan", "Théo", "Maxime", "Antoine", "Julien", "Romain", "Sébastien", "Olivier", "David",
        "Éric", "Pascal", "Thierry", "Didier", "Gérard", "Claude", "Marcel", "René", "Paul", "François", "Henri", "Georges", "Raphaël", "Mathis", "Noah", "Adam",
    ];

    private static readonly string[] Places =
    [
        "75056", "69123", "13055", "31555", "06088", "44109", "67482", "34172", "33063", "59350", "35238", "51454", "76540", "42218", "83137", "38185", "21231", "49007",
        "37261", "63113", "80021", "72181", "29019", "25056", "87085", "45234", "57463", "54395", "68224", "14118", "99350", "99134", "99100", "97411", "97105", "2A004",
    ];

    /// <summary>The population and the true duplicate pairs (record ids in order).</summary>
    public sealed record Population(IReadOnlyList<IdentityTraits> Identities, IReadOnlySet<(string, string)> TruePairs);

    /// <summary>Generates <paramref name="people"/> people; a share of them registered twice with errors; some twins.</summary>
    public static Population Generate(int people, double duplicateShare = 0.05, double twinShare = 0.005, int seed = 42)
    {
        var rnd = new Random(seed);
        var list = new List<IdentityTraits>(people + (int)(people * (duplicateShare + twinShare)) + 10);
        var truth = new HashSet<(string, string)>();
        var n = 0;
        string Id() => "syn-" + (n++).ToString("D7", CultureInfo.InvariantCulture);
        for (var i = 0; i < people; i++)
        {
            var sex = rnd.Next(2) == 0 ? "F" : "M";
            var names = sex == "F" ? Women : Men;
            var given = names[rnd.Next(names.Length)] + (rnd.Next(3) == 0 ? " " + names[rnd.Next(names.Length)] : string.Empty);
            var family = Families[rnd.Next(Families.Length)];
            if (rnd.Next(12) == 0)
            {
                family += "-" + Families[rnd.Next(Families.Length)];
            }

            var birth = new DateOnly(1930, 1, 1).AddDays(rnd.Next(0, 33000));
            var place = Places[rnd.Next(Places.Length)];
            var person = new IdentityTraits(Id(), family, given, birth, sex, place, Ins(rnd), "urn:oid:1.2.250.1.213.1.4.8");
            list.Add(person);
            var roll = rnd.NextDouble();
            if (roll < duplicateShare)
            {
                var copy = Misspell(person, rnd) with { RecordId = Id(), Ins = Ins(rnd), InsSystem = rnd.Next(3) == 0 ? "urn:oid:1.2.250.1.213.1.4.9" : person.InsSystem };
                list.Add(copy);
                truth.Add(Order(person.RecordId, copy.RecordId));
            }
            else if (roll < duplicateShare + twinShare)
            {
                // A twin: the same birth name, date, place and often sex, another given name. Not a duplicate.
                var other = names[rnd.Next(names.Length)];
                if (!other.Equals(given.Split(' ')[0], StringComparison.Ordinal))
                {
                    list.Add(person with { RecordId = Id(), Given = other, Ins = Ins(rnd) });
                }
            }
        }

        return new Population(list, truth);
    }

    private static (string, string) Order(string a, string b) => string.CompareOrdinal(a, b) < 0 ? (a, b) : (b, a);

    private static string Ins(Random rnd) => rnd.NextInt64(100_000_000_000_000, 299_999_999_999_999).ToString(CultureInfo.InvariantCulture);

    /// <summary>One or two of the errors an admission desk makes.</summary>
    private static IdentityTraits Misspell(IdentityTraits p, Random rnd)
    {
        var errors = 1 + (rnd.Next(3) == 0 ? 1 : 0);
        for (var e = 0; e < errors; e++)
        {
            p = rnd.Next(9) switch
            {
                0 => p with { Family = Typo(p.Family, rnd) },
                1 => p with { Given = Typo(p.Given, rnd) },
                2 => p with { Family = DuplicateScoring.Normalize(p.Family), Given = DuplicateScoring.Normalize(p.Given) }, // accents lost
                3 => p.Family.Contains('-', StringComparison.Ordinal) ? p with { Family = p.Family.Split('-')[0] } : p with { Family = Typo(p.Family, rnd) },
                4 => p.BirthDate.Day <= 12 && p.BirthDate.Day != p.BirthDate.Month ? p with { BirthDate = new DateOnly(p.BirthDate.Year, p.BirthDate.Day, p.BirthDate.Month) } : p with { BirthPlace = null },
                5 => p with { BirthDate = DigitTypo(p.BirthDate, rnd) },
                6 => p with { BirthPlace = null },
                7 => p.Given.Contains(' ', StringComparison.Ordinal) ? p : p with { Given = p.Given + " " + (p.Sex == "F" ? "Marie" : "Jean") },
                _ => p with { Sex = "U" },
            };
        }

        return p;
    }

    private static string Typo(string s, Random rnd)
    {
        if (s.Length < 4)
        {
            return s;
        }

        var i = 1 + rnd.Next(s.Length - 2);
        return rnd.Next(3) switch
        {
            0 => s.Remove(i, 1),                                           // a letter dropped
            1 => s[..i] + s[i + 1] + s[i] + s[(i + 2)..],                  // two letters swapped
            _ => s[..i] + (char)('A' + rnd.Next(26)) + s[(i + 1)..],       // a letter wrong
        };
    }

    private static DateOnly DigitTypo(DateOnly d, Random rnd)
    {
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var s = d.ToString("yyyyMMdd", CultureInfo.InvariantCulture).ToCharArray();
            var i = 2 + rnd.Next(6);
            s[i] = (char)('0' + rnd.Next(10));
            if (DateOnly.TryParseExact(new string(s), "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var typo) && typo != d)
            {
                return typo;
            }
        }

        return d;
    }
}
