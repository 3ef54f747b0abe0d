namespace OpenDmp.Core.Access;

/// <summary>
/// The profession × document-type matrix: for each profession (TRE_G15 code), the document classes
/// (JDV_J06 classCode) and types (JDV_J07 typeCode, LOINC) it may read and write, or "*" for all.
/// A profession absent from the matrix sees no document (deny by default). Configurable in the
/// <c>Access:Matrix</c> section as { "21": ["class:42", "type:11502-2"], "10": ["*"] }.
/// </summary>
public sealed class AccessMatrix
{
    private readonly Dictionary<string, (string[]? Classes, string[]? Types)> _rules;

    public AccessMatrix(IReadOnlyDictionary<string, string[]> rules)
    {
        _rules = new Dictionary<string, (string[]?, string[]?)>(StringComparer.Ordinal);
        foreach (var (profession, entries) in rules)
        {
            if (entries.Contains("*"))
            {
                _rules[profession] = (null, null);
                continue;
            }

            var classes = new List<string>();
            var types = new List<string>();
            foreach (var entry in entries)
            {
                if (entry.StartsWith("class:", StringComparison.Ordinal))
                {
                    classes.Add(entry[6..]);
                }
                else if (entry.StartsWith("type:", StringComparison.Ordinal))
                {
                    types.Add(entry[5..]);
                }
                else
                {
                    throw new ArgumentException($"access matrix entry '{entry}' for profession {profession}: expected '*', 'class:CODE' or 'type:CODE'", nameof(rules));
                }
            }

            _rules[profession] = ([.. classes], [.. types]);
        }

        Rules = rules;
    }

    /// <summary>The rules as configured.</summary>
    public IReadOnlyDictionary<string, string[]> Rules { get; }

    /// <summary>
    /// Default: physicians (10), midwives (50) and dentists (40) see everything; pharmacists (21)
    /// see summaries, prescriptions, dispensations, administered treatments, care plans and
    /// biology reports; nurses (60) summaries, prescriptions, care plans, administered treatments and
    /// biology reports; physiotherapists (70) summaries, prescriptions and care plans.
    /// </summary>
    public static AccessMatrix Default { get; } = new(new Dictionary<string, string[]>
    {
        ["10"] = ["*"],
        ["40"] = ["*"],
        ["50"] = ["*"],
        ["21"] = ["class:11", "class:42", "class:43", "class:44", "class:45", "type:11502-2"],
        ["60"] = ["class:11", "class:42", "class:44", "class:45", "type:11502-2"],
        ["70"] = ["class:11", "class:42", "class:44"],
    });

    /// <summary>The classes and types a profession may use; (null, null) = all; empty lists = none.</summary>
    public (IReadOnlyList<string>? Classes, IReadOnlyList<string>? Types) For(string? profession) =>
        profession is not null && _rules.TryGetValue(profession, out var r) ? (r.Classes, r.Types) : ([], []);

    public bool Allows(string? profession, string? classCode, string? typeCode)
    {
        var (classes, types) = For(profession);
        return (classes is null && types is null)
            || (classes is not null && classCode is not null && classes.Contains(classCode))
            || (types is not null && typeCode is not null && types.Contains(typeCode));
    }
}
