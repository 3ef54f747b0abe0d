namespace OpenDmp.Core.Access;

/// <summary>Which use of documents a matrix rule governs.</summary>
public enum MatrixUse
{
    /// <summary>Search, read, retrieve (and what follows from reading: replace, release, …).</summary>
    Read,
    /// <summary>Deposit a document.</summary>
    Write,
}

/// <summary>
/// The profession × document-type matrix: for each profession (TRE_G15 code) — or a profession and
/// specialty (TRE_R38) where a rule distinguishes it, keyed "10/SM26" — the document classes (JDV_J06
/// classCode) and types (JDV_J07 typeCode, LOINC) it may read and write. A profession absent from the
/// matrix uses no document (deny by default); a specialty without its own rule uses its profession's.
/// Configurable in the <c>Access:Matrix</c> section, e.g.
/// <c>{ "21": ["class:42", "type:11502-2"], "10": ["*"], "10/SM26": ["read:*", "write:class:11"] }</c>:
/// an entry without a prefix is both read and write; <c>read:</c> or <c>write:</c> limits it to one use.
/// </summary>
public sealed class AccessMatrix
{
    /// <summary>What one use admits: null lists = everything.</summary>
    private sealed record Rule(List<string>? Classes, List<string>? Types)
    {
        public static Rule None => new([], []);
    }

    private readonly Dictionary<string, (Rule Read, Rule Write)> _rules;

    public AccessMatrix(IReadOnlyDictionary<string, string[]> rules)
    {
        _rules = new Dictionary<string, (Rule, Rule)>(StringComparer.Ordinal);
        foreach (var (key, entries) in rules)
        {
            if (key.Length == 0 || key.Count(c => c == '/') > 1 || key.StartsWith('/') || key.EndsWith('/'))
            {
                throw new ArgumentException($"access matrix key '{key}': expected a profession code (TRE_G15) or profession/specialty (e.g. 10/SM26)", nameof(rules));
            }

            var read = Rule.None;
            var write = Rule.None;
            foreach (var raw in entries)
            {
                var (uses, entry) = raw.StartsWith("read:", StringComparison.Ordinal) ? ((MatrixUse[])[MatrixUse.Read], raw[5..])
                    : raw.StartsWith("write:", StringComparison.Ordinal) ? ([MatrixUse.Write], raw[6..])
                    : ([MatrixUse.Read, MatrixUse.Write], raw);
                foreach (var use in uses)
                {
                    var rule = use == MatrixUse.Read ? read : write;
                    rule = Add(rule, entry, key, raw);
                    if (use == MatrixUse.Read)
                    {
                        read = rule;
                    }
                    else
                    {
                        write = rule;
                    }
                }
            }

            _rules[key] = (read, write);
        }

        Rules = rules;
    }

    private static Rule Add(Rule rule, string entry, string key, string raw)
    {
        if (entry == "*")
        {
            return new Rule(null, null);
        }

        if (rule.Classes is null)
        {
            return rule;
        }

        if (entry.StartsWith("class:", StringComparison.Ordinal) && entry.Length > 6)
        {
            return rule with { Classes = [.. rule.Classes, entry[6..]] };
        }

        if (entry.StartsWith("type:", StringComparison.Ordinal) && entry.Length > 5)
        {
            return rule with { Types = [.. rule.Types!, entry[5..]] };
        }

        throw new ArgumentException($"access matrix entry '{raw}' for {key}: expected '*', 'class:CODE' or 'type:CODE', optionally prefixed by 'read:' or 'write:'", nameof(key));
    }

    /// <summary>The rules as configured.</summary>
    public IReadOnlyDictionary<string, string[]> Rules { get; }

    /// <summary>
    /// Default: physicians (10), midwives (50) and dentists (40) see everything; pharmacists (21)
    /// see summaries, prescriptions, dispensations, administered treatments, care plans and
    /// biology reports; nurses (60) summaries, prescriptions, care plans, administered treatments and
    /// biology reports; physiotherapists (70) summaries, prescriptions and care plans. The same for
    /// reading and writing, no specialty distinguished. This is the platform's configuration, not the
    /// regulation's matrix (ADR 0029: its published text was not available; it is loaded the same way).
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

    /// <summary>The classes and types a profession (and specialty) may use this way; (null, null) = all; empty lists = none.</summary>
    public (IReadOnlyList<string>? Classes, IReadOnlyList<string>? Types) For(string? profession, string? specialty, MatrixUse use)
    {
        if (profession is null)
        {
            return ([], []);
        }

        if ((specialty is not null && _rules.TryGetValue(profession + "/" + specialty, out var r)) || _rules.TryGetValue(profession, out r))
        {
            var rule = use == MatrixUse.Read ? r.Read : r.Write;
            return (rule.Classes, rule.Types);
        }

        return ([], []);
    }

    public bool Allows(string? profession, string? specialty, MatrixUse use, string? classCode, string? typeCode)
    {
        var (classes, types) = For(profession, specialty, use);
        return (classes is null && types is null)
            || (classes is not null && classCode is not null && classes.Contains(classCode))
            || (types is not null && typeCode is not null && types.Contains(typeCode));
    }
}
