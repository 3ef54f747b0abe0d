using System.Globalization;
using OpenDmp.Core.Clinical;

namespace OpenDmp.Core.Alerts;

/// <summary>
/// A rule on validated results: one of the LOINC codes with a value above or below a threshold (in
/// the rule's UCUM unit; the result's unit is converted), or with one of the interpretation codes
/// (HL7 v3 ObservationInterpretation, e.g. HH, LL, AA).
/// </summary>
public sealed class ResultRule
{
    public string Id { get; set; } = string.Empty;
    /// <summary>LOINC codes the rule watches; empty with Interpretations set means any test.</summary>
    public List<string> Codes { get; set; } = [];
    public double? Above { get; set; }
    public double? Below { get; set; }
    /// <summary>The thresholds' UCUM unit (e.g. mmol/L); none for dimensionless values such as the INR.</summary>
    public string? Unit { get; set; }
    public List<string> Interpretations { get; set; } = [];

    /// <summary>Whether a validated result fires this rule. Preliminary results never do (alerts rest on validated data).</summary>
    public bool Fires(ObservationEntry o)
    {
        if (o.Status is not ("final" or "amended" or "corrected"))
        {
            return false;
        }

        var loinc = o.CodeSystem is null || o.CodeSystem == ResultIntake.Loinc;
        if (Codes.Count > 0 && !(loinc && Codes.Contains(o.Code, StringComparer.Ordinal)))
        {
            return false;
        }

        if (Interpretations.Count > 0 && o.Interpretation is { } i && Interpretations.Contains(i, StringComparer.Ordinal))
        {
            return true;
        }

        if (o.ValueNumber is not { } value || (Above is null && Below is null))
        {
            return false;
        }

        // A value in another unit is compared once converted; one that cannot be converted does not fire.
        if (Unit is { Length: > 0 } unit && (o.Unit is null || !Ucum.TryConvert(value, o.Unit, unit, out value)))
        {
            return false;
        }

        return (Above is { } above && value > above) || (Below is { } below && value < below);
    }
}

/// <summary>Section Alerts: the result rules and how often the dispatcher runs.</summary>
public sealed class AlertOptions
{
    /// <summary>Seconds between two dispatch rounds (0 disables the dispatcher). A filing also wakes it at once.</summary>
    public double DispatchSeconds { get; set; } = 2;

    /// <summary>
    /// Under load, the shortest time between the starts of two dispatch rounds: a wake that comes
    /// sooner waits the rest, so the events of concurrent filings share a lot (one transaction, one
    /// commit, a constant number of reads and one notification per subscription for many records
    /// instead of each event alone). A wake after a quiet period dispatches at once, so a lone event
    /// waits nothing. 0 dispatches every wake at once. Default 300: on the benchmark's 2-core machine,
    /// 100 ms (about 3 alerts a lot) still cost +8 to +11 % of ingest, 300 ms (about 9) none
    /// measurable, for an event-to-alert p95 of about 300 ms under load (BENCHMARKS.md).
    /// </summary>
    public int GatherMilliseconds { get; set; } = 300;

    /// <summary>Failed dispatches of a record's events before they are set aside (failed_at) for the operator.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The result rules; when not configured, <see cref="DefaultRules"/>.</summary>
    public List<ResultRule>? ResultRules { get; set; }

    public IReadOnlyList<ResultRule> EffectiveRules => ResultRules ?? DefaultRules;

    /// <summary>
    /// The default set (README "Alerts"): INR above 5, potassium above 6 or below 2.5 mmol/L, sodium
    /// below 120 mmol/L, haemoglobin below 7 g/dL, and any result the laboratory flagged critical.
    /// </summary>
    public static IReadOnlyList<ResultRule> DefaultRules { get; } =
    [
        new() { Id = "inr-high", Codes = ["6301-6", "34714-6", "46418-0"], Above = 5 },
        new() { Id = "potassium-high", Codes = ["2823-3", "6298-4", "39789-3"], Above = 6, Unit = "mmol/L" },
        new() { Id = "potassium-low", Codes = ["2823-3", "6298-4", "39789-3"], Below = 2.5, Unit = "mmol/L" },
        new() { Id = "sodium-low", Codes = ["2951-2", "2947-0"], Below = 120, Unit = "mmol/L" },
        new() { Id = "haemoglobin-low", Codes = ["718-7", "30313-1"], Below = 7, Unit = "g/dL" },
        new() { Id = "critical", Interpretations = ["HH", "LL", "AA"] },
    ];

    /// <summary>What is wrong with the configured rules, each problem naming its key.</summary>
    public IEnumerable<string> Problems()
    {
        if (DispatchSeconds < 0)
        {
            yield return $"Alerts:DispatchSeconds: must be 0 (disabled) or more, got {DispatchSeconds.ToString(CultureInfo.InvariantCulture)}";
        }

        if (GatherMilliseconds is < 0 or > 10_000)
        {
            yield return $"Alerts:GatherMilliseconds: must be between 0 and 10000, got {GatherMilliseconds.ToString(CultureInfo.InvariantCulture)}";
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (ResultRules?.Count ?? 0); i++)
        {
            var r = ResultRules![i];
            var key = $"Alerts:ResultRules:{i}";
            if (string.IsNullOrWhiteSpace(r.Id) || !ids.Add(r.Id))
            {
                yield return $"{key}:Id: each rule needs an Id of its own";
            }

            if (r.Above is null && r.Below is null && r.Interpretations.Count == 0)
            {
                yield return $"{key}: a rule needs Above, Below or Interpretations";
            }

            if ((r.Above is not null || r.Below is not null) && r.Codes.Count == 0)
            {
                yield return $"{key}:Codes: a threshold applies to named LOINC codes";
            }

            if (r.Unit is { Length: > 0 } unit && !Ucum.IsKnown(unit))
            {
                yield return $"{key}:Unit: '{unit}' is not a UCUM unit OpenDMP reads (e.g. mmol/L, g/dL)";
            }
        }
    }

    /// <summary>The rules a result fires.</summary>
    public IEnumerable<ResultRule> Fired(ObservationEntry o) => EffectiveRules.Where(r => r.Fires(o));
}
