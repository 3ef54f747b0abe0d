using OpenDmp.Core.Documents;

namespace OpenDmp.Core.Terminologies;

/// <summary>The answer to "may this code be used for a new document in this value set?".</summary>
public sealed record CodeCheck(Concept? Concept, string? Problem)
{
    public bool Ok => Concept is not null && Problem is null;
}

/// <summary>A line of a value set expansion.</summary>
public sealed record ExpansionItem(string System, string Code, string Display, bool Inactive);

/// <summary>
/// An immutable set of terminology versions: the ANS publications shipped with OpenDMP plus those
/// imported since. For each canonical URL the version in force is the last imported (or the shipped
/// one); earlier versions stay readable and their displays keep serving old documents. Code
/// systems are matched by canonical URL, by OID (urn:oid:… or bare, as CDA and XDS write them) and
/// by a few historical spellings.
/// </summary>
public sealed class TerminologySet
{
    /// <summary>Spellings found in the field for the same code systems (PDSm writes TRE_A07 'Status…'; HL7 v3 Confidentiality is TRE_A08's OID).</summary>
    private static readonly (string Alias, string Canonical)[] FixedAliases =
    [
        (Terminology.VisibilitySystem, Terminology.VisibilityCanonicalSystem),
        (Terminology.ConfidentialitySystem, Terminology.ConfidentialityAnsSystem),
        ("urn:oid:2.16.840.1.113883.6.1", Terminology.Loinc),
        ("2.16.840.1.113883.6.1", Terminology.Loinc),
    ];

    private static readonly Lazy<TerminologySet> ShippedSet = new(() => Build(LoadShipped()));

    private readonly Dictionary<string, List<CodeSystemVersion>> _codeSystems;
    private readonly Dictionary<string, List<ValueSetVersion>> _valueSets;
    private readonly Dictionary<string, List<ConceptMapVersion>> _conceptMaps;
    private readonly Dictionary<string, string> _aliases;
    private readonly Dictionary<string, string> _oids;
    private readonly Dictionary<(string Url, string Version), Dictionary<(string System, string Code), string?>> _members = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Documents.ValueSet> _views = new(StringComparer.Ordinal);

    private TerminologySet(IEnumerable<TerminologyResource> resources)
    {
        var all = resources.OrderBy(r => r.Origin.Sequence).ToList();
        _codeSystems = all.OfType<CodeSystemVersion>().GroupBy(c => c.Url, StringComparer.Ordinal).ToDictionary(g => g.Key, g => Distinct(g), StringComparer.Ordinal);
        _valueSets = all.OfType<ValueSetVersion>().GroupBy(v => v.Url, StringComparer.Ordinal).ToDictionary(g => g.Key, g => Distinct(g), StringComparer.Ordinal);
        _conceptMaps = all.OfType<ConceptMapVersion>().GroupBy(v => v.Url, StringComparer.Ordinal).ToDictionary(g => g.Key, g => Distinct(g), StringComparer.Ordinal);
        _aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        _oids = new Dictionary<string, string>(StringComparer.Ordinal) { [Terminology.Loinc] = "2.16.840.1.113883.6.1" };
        foreach (var cs in _codeSystems.Values.Select(v => v[^1]))
        {
            // ANS identifiers are OIDs, except TRE_A10 and TRE_A12 ("URN", "ASTM"), the codingScheme XDS writes for them.
            foreach (var oid in cs.Oids.Where(o => o.Length > 0))
            {
                _aliases["urn:oid:" + oid] = cs.Url;
                _aliases[oid] = cs.Url;
                _oids.TryAdd(cs.Url, oid);
            }
        }

        foreach (var (alias, canonical) in FixedAliases)
        {
            _aliases[alias] = canonical;
        }

        foreach (var vs in _valueSets.Values.SelectMany(v => v))
        {
            _members[(vs.Url, vs.Version)] = Members(vs);
        }
    }

    /// <summary>The ANS publications shipped with this release (embedded in the assembly).</summary>
    public static TerminologySet Shipped => ShippedSet.Value;

    /// <summary>The shipped publications plus imported ones (ordered by their import sequence).</summary>
    public static TerminologySet Build(IEnumerable<TerminologyResource> resources) => new(resources);

    /// <summary>This set with more (imported) resources.</summary>
    public TerminologySet With(IEnumerable<TerminologyResource> imported) => new(All.Concat(imported));

    /// <summary>Every resource of the set, every version.</summary>
    public IEnumerable<TerminologyResource> All =>
        _codeSystems.Values.SelectMany(v => v).Cast<TerminologyResource>().Concat(_valueSets.Values.SelectMany(v => v)).Concat(_conceptMaps.Values.SelectMany(v => v));

    /// <summary>Whether this version is the one in force for its URL (the last imported, else the shipped one).</summary>
    public bool InForce(TerminologyResource r) =>
        All.Where(x => x.ResourceType == r.ResourceType && x.Url == r.Url).MaxBy(x => x.Origin.Sequence)?.Version == r.Version;

    public IEnumerable<ConceptMapVersion> ConceptMaps => _conceptMaps.Values.SelectMany(v => v);

    /// <summary>The targets of a code in the concept map in force (source system in any spelling; none when unmapped).</summary>
    public IReadOnlyList<ConceptMapping> Map(string conceptMapUrl, string? sourceSystem, string code) =>
        _conceptMaps.TryGetValue(conceptMapUrl, out var v)
            ? [.. v[^1].Mappings.Where(m => m.SourceCode == code && (sourceSystem is null || Canonical(m.SourceSystem) == Canonical(sourceSystem)))]
            : [];

    public IEnumerable<CodeSystemVersion> CodeSystems => _codeSystems.Values.SelectMany(v => v);

    public IEnumerable<ValueSetVersion> ValueSets => _valueSets.Values.SelectMany(v => v);

    /// <summary>The version in force of a code system (any known spelling of its URL), or null.</summary>
    public CodeSystemVersion? CodeSystem(string? system) =>
        _codeSystems.TryGetValue(Canonical(system), out var v) ? v[^1] : null;

    /// <summary>The version in force of a value set, or a given version; null when unknown.</summary>
    public ValueSetVersion? ValueSet(string url, string? version = null) =>
        _valueSets.TryGetValue(url, out var v) ? (version is null ? v[^1] : v.LastOrDefault(x => x.Version == version)) : null;

    /// <summary>Every version of a resource by its FHIR id (oldest first).</summary>
    public IReadOnlyList<TerminologyResource> Versions(string resourceType, string id) => resourceType switch
    {
        "CodeSystem" => [.. CodeSystems.Where(c => c.Id == id).OrderBy(c => c.Origin.Sequence)],
        "ValueSet" => [.. ValueSets.Where(c => c.Id == id).OrderBy(c => c.Origin.Sequence)],
        "ConceptMap" => [.. ConceptMaps.Where(c => c.Id == id).OrderBy(c => c.Origin.Sequence)],
        _ => [],
    };

    /// <summary>Canonical URL of a code system named by URL, urn:oid or bare OID.</summary>
    public string Canonical(string? system) =>
        system is null ? string.Empty : _aliases.TryGetValue(system, out var c) ? c : system;

    /// <summary>The OID of a code system (for XDS/CDA), or null.</summary>
    public string? OidOf(string? system) => _oids.TryGetValue(Canonical(system), out var o) ? o : null;

    /// <summary>The canonical URL of the code system an OID names, or urn:oid:… when unknown.</summary>
    public string SystemOfOid(string oid) => _aliases.TryGetValue(oid, out var c) ? c : "urn:oid:" + oid;

    /// <summary>Whether a code belongs to the value set in force (retired codes included).</summary>
    public Concept? Find(string valueSetUrl, string? system, string? code)
    {
        var vs = ValueSet(valueSetUrl);
        if (vs is null || code is null)
        {
            return null;
        }

        var canonical = Canonical(system);
        var members = _members[(vs.Url, vs.Version)];
        var key = (canonical, Normalise(canonical, code));
        if (!members.TryGetValue(key, out var vsDisplay) && !IncludesWholeSystem(vs, canonical, code))
        {
            return null;
        }

        var cs = CodeSystem(canonical);
        var concept = cs is null ? null : FindConcept(cs, code);
        return new Concept(canonical, concept?.Code ?? code, concept?.Display ?? vsDisplay ?? code);
    }

    /// <summary>Whether a code may be used for a new document: in the value set in force and not retired.</summary>
    public CodeCheck Check(string valueSetUrl, string? system, string? code, DateTimeOffset now)
    {
        var vs = ValueSet(valueSetUrl);
        var name = vs?.Name ?? valueSetUrl;
        var found = Find(valueSetUrl, system, code);
        if (found is null)
        {
            return new CodeCheck(null, $"{system}|{code} is not in {name} (version {vs?.Version})");
        }

        var retired = CodeSystem(found.System) is { } cs ? FindConcept(cs, found.Code)?.RetiredOn : null;
        return retired is { } end && end <= now
            ? new CodeCheck(found, $"{found.System}|{found.Code} ('{found.Display}') was retired {(end == DateTimeOffset.MinValue ? "" : "on " + end.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + " ")}and may no longer be used for a new document ({name})")
            : new CodeCheck(found, null);
    }

    /// <summary>The French display of a code: the code system in force, then earlier versions, then value sets; null when unknown.</summary>
    public string? Display(string? system, string? code)
    {
        if (code is null)
        {
            return null;
        }

        var canonical = Canonical(system);
        if (_codeSystems.TryGetValue(canonical, out var versions))
        {
            for (var i = versions.Count - 1; i >= 0; i--)
            {
                if (FindConcept(versions[i], code) is { } c)
                {
                    return c.Display;
                }
            }
        }

        foreach (var members in _members.Values)
        {
            if (members.TryGetValue((canonical, code), out var d) && d is not null)
            {
                return d;
            }
        }

        return null;
    }

    /// <summary>The concept of a code system (any version, newest first), or null.</summary>
    public CodeSystemConcept? Lookup(string? system, string code, string? version = null)
    {
        if (!_codeSystems.TryGetValue(Canonical(system), out var versions))
        {
            return null;
        }

        foreach (var v in Enumerable.Reverse(versions).Where(v => version is null || v.Version == version))
        {
            if (FindConcept(v, code) is { } c)
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>The codes of a value set version, filtered (case- and accent-insensitive on code and display).</summary>
    public IEnumerable<ExpansionItem> Expand(ValueSetVersion vs, string? filter, bool activeOnly, DateTimeOffset now)
    {
        var excluded = _members.TryGetValue((vs.Url, vs.Version), out _) ? ExcludedKeys(vs) : [];
        var seen = new HashSet<(string, string)>();
        foreach (var inc in vs.Includes)
        {
            var system = Canonical(inc.System);
            var cs = CodeSystem(system);
            var codes = inc.Concepts is { } listed
                ? listed.Select(c => (c.Code, Display: (cs is null ? null : FindConcept(cs, c.Code)?.Display) ?? c.Display ?? c.Code))
                : cs?.Concepts.Values.Select(c => (c.Code, Display: c.Display)) ?? [];
            foreach (var (code, display) in codes)
            {
                if (!seen.Add((system, code)) || excluded.Contains((system, Normalise(system, code))))
                {
                    continue;
                }

                var retired = cs is not null && FindConcept(cs, code)?.RetiredOn is { } end && end <= now;
                if ((activeOnly && retired) || (filter is not null && !Matches(filter, code, display)))
                {
                    continue;
                }

                yield return new ExpansionItem(system, code, display, retired);
            }
        }
    }

    /// <summary>A <see cref="Documents.ValueSet"/> view of the value set in force (pick lists, tests).</summary>
    public Documents.ValueSet View(string valueSetUrl) => _views.GetOrAdd(valueSetUrl, BuildView);

    private Documents.ValueSet BuildView(string valueSetUrl)
    {
        var vs = ValueSet(valueSetUrl) ?? throw new InvalidOperationException($"value set {valueSetUrl} is not loaded");
        return new Documents.ValueSet(vs.Name, Expand(vs, null, activeOnly: false, DateTimeOffset.MinValue).Select(i => (i.System, i.Code, i.Display)), this, vs.Url);
    }

    private static List<T> Distinct<T>(IEnumerable<T> versions)
        where T : TerminologyResource
    {
        // A re-import of a version already present replaces it in place (same content by construction).
        var list = new List<T>();
        foreach (var v in versions)
        {
            list.RemoveAll(x => x.Version == v.Version);
            list.Add(v);
        }

        return list;
    }

    private bool IncludesWholeSystem(ValueSetVersion vs, string canonical, string code) =>
        vs.Includes.Any(i => i.Concepts is null && Canonical(i.System) == canonical && CodeSystem(canonical) is { } cs && FindConcept(cs, code) is not null)
        && !ExcludedKeys(vs).Contains((canonical, Normalise(canonical, code)));

    private HashSet<(string, string)> ExcludedKeys(ValueSetVersion vs) =>
        [.. vs.Excludes.Where(e => e.Concepts is not null).SelectMany(e => e.Concepts!.Select(c => (Canonical(e.System), Normalise(Canonical(e.System), c.Code))))];

    private Dictionary<(string System, string Code), string?> Members(ValueSetVersion vs)
    {
        var members = new Dictionary<(string, string), string?>();
        foreach (var inc in vs.Includes.Where(i => i.Concepts is not null))
        {
            var system = Canonical(inc.System);
            foreach (var (code, display) in inc.Concepts!)
            {
                members.TryAdd((system, Normalise(system, code)), display);
            }
        }

        foreach (var key in ExcludedKeys(vs))
        {
            members.Remove(key);
        }

        return members;
    }

    /// <summary>Codes of a code system declared case-insensitive are compared upper-cased.</summary>
    private string Normalise(string canonical, string code) =>
        _codeSystems.TryGetValue(canonical, out var v) && !v[^1].CaseSensitive ? code.ToUpperInvariant() : code;

    private static CodeSystemConcept? FindConcept(CodeSystemVersion cs, string code) =>
        cs.Concepts.TryGetValue(code, out var c) ? c
        : cs.CaseSensitive ? null
        : cs.Concepts.Values.FirstOrDefault(x => string.Equals(x.Code, code, StringComparison.OrdinalIgnoreCase));

    private static bool Matches(string filter, string code, string display) =>
        filter.Split(' ', StringSplitOptions.RemoveEmptyEntries).All(word =>
            code.Contains(word, StringComparison.OrdinalIgnoreCase)
            || System.Globalization.CultureInfo.InvariantCulture.CompareInfo.IndexOf(display, word, System.Globalization.CompareOptions.IgnoreCase | System.Globalization.CompareOptions.IgnoreNonSpace) >= 0);

    private static List<TerminologyResource> LoadShipped()
    {
        var asm = typeof(TerminologySet).Assembly;
        var list = new List<TerminologyResource>();
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("ans/", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = asm.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            list.AddRange(TerminologyJson.Parse(reader.ReadToEnd(), name));
        }

        return list.Count > 0 ? list : throw new InvalidOperationException("the ANS terminology publications are not embedded in OpenDmp.Core");
    }
}
