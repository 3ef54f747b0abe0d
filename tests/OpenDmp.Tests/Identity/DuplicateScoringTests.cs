using OpenDmp.Core.Identity;

namespace OpenDmp.Tests.Identity;

/// <summary>Duplicate detection on a generated population with known duplicates: precision ≥ 0.95 and recall ≥ 0.9 (issue 19).</summary>
public sealed class DuplicateScoringTests
{
    public static (double Precision, double Recall, int Found, int True) Measure(SyntheticIdentities.Population population, double threshold = DuplicateScoring.DefaultThreshold)
    {
        var scan = DuplicateScoring.Find(population.Identities, threshold);
        var found = scan.Candidates.Select(c => (c.RecordIdA, c.RecordIdB)).ToHashSet();
        var right = found.Count(population.TruePairs.Contains);
        return (found.Count == 0 ? 1 : (double)right / found.Count, (double)right / population.TruePairs.Count, found.Count, population.TruePairs.Count);
    }

    [Theory]
    [InlineData(20_000, 1)]
    [InlineData(20_000, 2)]
    [InlineData(20_000, 3)]
    public void OnAGeneratedPopulation_PrecisionAndRecallMeetTheTargets(int people, int seed)
    {
        var (precision, recall, found, truth) = Measure(SyntheticIdentities.Generate(people, seed: seed));
        Assert.True(precision >= 0.95, $"precision {precision:F3} ({found} found, {truth} true)");
        Assert.True(recall >= 0.90, $"recall {recall:F3} ({found} found, {truth} true)");
    }

    [Fact]
    public void TheErrorsOfAnAdmissionDesk_StillMatch_AndTwinsDoNot()
    {
        DuplicateScoring.Prepared P(string family, string given, string birth, string sex = "F", string? place = "69123") =>
            DuplicateScoring.Prepare(new IdentityTraits(Guid.NewGuid().ToString(), family, given, DateOnly.Parse(birth, System.Globalization.CultureInfo.InvariantCulture), sex, place, Guid.NewGuid().ToString(), "s"));
        var original = P("LEFÈVRE-MARTIN", "Hélène Marie", "1975-03-08");
        Assert.True(DuplicateScoring.Score(original, P("LEFEVRE MARTIN", "Helene", "1975-03-08")).Score >= DuplicateScoring.DefaultThreshold);
        Assert.True(DuplicateScoring.Score(original, P("LEFÈVRE-MARTIN", "Hélène", "1975-08-03")).Score >= DuplicateScoring.DefaultThreshold); // day and month swapped
        Assert.True(DuplicateScoring.Score(original, P("LEFVRE-MARTIN", "Hélène", "1975-03-08", place: null)).Score >= DuplicateScoring.DefaultThreshold);
        Assert.True(DuplicateScoring.Score(original, P("LEFÈVRE-MARTIN", "Camille", "1975-03-08")).Score < DuplicateScoring.DefaultThreshold); // a twin sister
        Assert.True(DuplicateScoring.Score(original, P("LEFÈVRE-MARTIN", "Hélène", "1982-11-23")).Score < DuplicateScoring.DefaultThreshold); // a namesake
        Assert.Equal("HELENE MARIE", DuplicateScoring.Normalize("  Hélène-Marie "));
    }
}
