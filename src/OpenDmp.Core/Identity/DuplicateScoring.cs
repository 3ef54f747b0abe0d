using System.Globalization;
using System.Text;
using F23.StringSimilarity;

namespace OpenDmp.Core.Identity;

/// <summary>The strict identity traits of one identity, as compared for duplicates.</summary>
public sealed record IdentityTraits(string RecordId, string Family, string Given, DateOnly BirthDate, string Sex, string? BirthPlace, string Ins, string InsSystem);

/// <summary>Two identities that may be one person, with the score and what agreed.</summary>
public sealed record DuplicateCandidate(string RecordIdA, string RecordIdB, double Score, string Reasons);

/// <summary>What a detection compared.</summary>
public sealed record DuplicateScan(int Identities, long PairsCompared, int BlocksSkipped, IReadOnlyList<DuplicateCandidate> Candidates);

/// <summary>
/// Duplicate detection over identities: blocking on strict traits (the same birth date; the same
/// first letters of the birth name and given name with the same birth year, or with the same day and
/// month — a mistyped date), then a weighted score — Jaro-Winkler (F23.StringSimilarity) on the normalised birth
/// name and first given name, the birth date (exact, day and month swapped, one digit apart), the
/// sex and the birth place. The same INS value under two systems is a duplicate whatever the traits.
/// </summary>
public static class DuplicateScoring
{
    /// <summary>The score from which a pair goes to the identity-vigilance review queue.</summary>
    public const double DefaultThreshold = 0.86;
    /// <summary>A block larger than this (a birth date shared by thousands: a default date) is not compared pairwise.</summary>
    public const int MaxBlock = 2000;

    private static readonly JaroWinkler Jw = new();

    /// <summary>Upper case, no diacritics, hyphens and apostrophes as spaces, single spaces.</summary>
    public static string Normalize(string s)
    {
        var decomposed = s.Normalize(NormalizationForm.FormD);
        var sb = new StringBuilder(decomposed.Length);
        var space = false;
        foreach (var c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark)
            {
                continue;
            }

            if (char.IsLetterOrDigit(c))
            {
                sb.Append(char.ToUpperInvariant(c));
                space = false;
            }
            else if (!space && sb.Length > 0)
            {
                sb.Append(' ');
                space = true;
            }
        }

        return sb.ToString().TrimEnd();
    }

    /// <summary>How alike two names are (0–1): the whole names, or a compound name against one of its parts.</summary>
    public static double NameSimilarity(string a, string b)
    {
        if (a.Length == 0 || b.Length == 0)
        {
            return 0;
        }

        var best = Jw.Similarity(a, b);
        if (best < 1 && (a.Contains(' ', StringComparison.Ordinal) || b.Contains(' ', StringComparison.Ordinal)))
        {
            foreach (var pa in a.Split(' '))
            {
                foreach (var pb in b.Split(' '))
                {
                    // A part of a compound name is a weaker agreement than the whole.
                    best = Math.Max(best, 0.95 * Jw.Similarity(pa, pb));
                }
            }
        }

        return best;
    }

    /// <summary>How alike two birth dates are: 1 equal, 0.8 day and month swapped, 0.7 one digit apart, else 0.</summary>
    public static double BirthDateSimilarity(DateOnly a, DateOnly b)
    {
        if (a == b)
        {
            return 1;
        }

        if (a.Year == b.Year && a.Month == b.Day && a.Day == b.Month)
        {
            return 0.8;
        }

        var sa = a.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var sb = b.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var differ = 0;
        for (var i = 0; i < sa.Length; i++)
        {
            differ += sa[i] != sb[i] ? 1 : 0;
        }

        return differ == 1 ? 0.7 : 0;
    }

    /// <summary>The score of a pair (0–1) and what agreed.</summary>
    public static (double Score, string Reasons) Score(Prepared a, Prepared b)
    {
        if (a.Traits.Ins == b.Traits.Ins && a.Traits.InsSystem != b.Traits.InsSystem)
        {
            return (1, "same INS value under two systems");
        }

        var family = NameSimilarity(a.Family, b.Family);
        var given = NameSimilarity(a.Given, b.Given);
        var birth = BirthDateSimilarity(a.Traits.BirthDate, b.Traits.BirthDate);
        var sex = a.Traits.Sex == b.Traits.Sex ? 1.0 : a.Traits.Sex == "U" || b.Traits.Sex == "U" ? 0.5 : 0;
        var place = a.Traits.BirthPlace is null || b.Traits.BirthPlace is null ? 0.5 : a.Traits.BirthPlace == b.Traits.BirthPlace ? 1 : 0;
        var score = 0.30 * family + 0.30 * given + 0.25 * birth + 0.05 * sex + 0.10 * place;
        // Twins share everything but the given name; a namesake everything but the birth name: a name
        // that differs beyond a typo weighs more than its share.
        score -= given < 0.85 ? 0.15 : 0;
        score -= family < 0.85 ? 0.15 : 0;
        var reasons = string.Create(CultureInfo.InvariantCulture, $"birth name {family:F2}, given name {given:F2}, birth date {birth:F1}, sex {sex:F1}, birth place {place:F1}");
        return (Math.Round(score, 4), reasons);
    }

    /// <summary>An identity with its normalised names, ready to compare.</summary>
    public sealed record Prepared(IdentityTraits Traits, string Family, string Given);

    public static Prepared Prepare(IdentityTraits t)
    {
        var given = t.Given.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? string.Empty;
        return new Prepared(t, Normalize(t.Family), Normalize(given));
    }

    /// <summary>Every pair at or above the threshold, each once (record ids in order), best first.</summary>
    public static DuplicateScan Find(IReadOnlyList<IdentityTraits> identities, double threshold = DefaultThreshold)
    {
        var prepared = identities.Select(Prepare).ToArray();
        var blocks = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        void Add(string key, int i)
        {
            if (!blocks.TryGetValue(key, out var list))
            {
                blocks[key] = list = [];
            }

            list.Add(i);
        }

        for (var i = 0; i < prepared.Length; i++)
        {
            var p = prepared[i];
            Add("d" + p.Traits.BirthDate.DayNumber.ToString(CultureInfo.InvariantCulture), i);
            Add(string.Create(CultureInfo.InvariantCulture, $"n{Prefix(p.Family, 3)}|{Prefix(p.Given, 1)}|{p.Traits.BirthDate.Year}"), i);
            // A mistyped year: the same names' first letters and the same day of the year.
            Add(string.Create(CultureInfo.InvariantCulture, $"m{Prefix(p.Family, 2)}|{Prefix(p.Given, 2)}|{p.Traits.BirthDate.Month}|{p.Traits.BirthDate.Day}"), i);
            Add("i" + p.Traits.Ins, i);
        }

        var seen = new HashSet<long>();
        var found = new List<DuplicateCandidate>();
        long compared = 0;
        var skipped = 0;
        foreach (var members in blocks.Values)
        {
            if (members.Count < 2)
            {
                continue;
            }

            if (members.Count > MaxBlock)
            {
                skipped++;
                continue;
            }

            for (var x = 0; x < members.Count; x++)
            {
                for (var y = x + 1; y < members.Count; y++)
                {
                    var (i, j) = members[x] < members[y] ? (members[x], members[y]) : (members[y], members[x]);
                    if (!seen.Add(((long)i << 32) | (uint)j))
                    {
                        continue;
                    }

                    compared++;
                    var (score, reasons) = Score(prepared[i], prepared[j]);
                    if (score >= threshold)
                    {
                        var (a, b) = string.CompareOrdinal(prepared[i].Traits.RecordId, prepared[j].Traits.RecordId) < 0
                            ? (prepared[i].Traits.RecordId, prepared[j].Traits.RecordId) : (prepared[j].Traits.RecordId, prepared[i].Traits.RecordId);
                        found.Add(new DuplicateCandidate(a, b, score, reasons));
                    }
                }
            }
        }

        return new DuplicateScan(prepared.Length, compared, skipped, [.. found.OrderByDescending(c => c.Score).ThenBy(c => c.RecordIdA, StringComparer.Ordinal)]);
    }

    private static string Prefix(string s, int n) => s.Length <= n ? s : s[..n];
}
