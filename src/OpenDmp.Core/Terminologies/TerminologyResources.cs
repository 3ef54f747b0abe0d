using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Terminologies;

/// <summary>A concept of a code system version: its French display, other designations, and when it stopped being usable.</summary>
public sealed record CodeSystemConcept(string Code, string Display, IReadOnlyList<string> Designations, DateTimeOffset? RetiredOn);

/// <summary>Where a terminology resource comes from: shipped with OpenDMP, or imported by an operator.</summary>
public sealed record TerminologyOrigin(string Kind, DateTimeOffset? ImportedAt, long Sequence)
{
    public static readonly TerminologyOrigin Shipped = new("shipped", null, 0);
}

/// <summary>A terminology resource as published (FHIR R4 CodeSystem or ValueSet JSON), parsed.</summary>
public abstract class TerminologyResource
{
    public required string ResourceType { get; init; }
    public required string Id { get; init; }
    public required string Url { get; init; }
    public required string Version { get; init; }
    public required string Name { get; init; }
    public string? Title { get; init; }
    public string? Status { get; init; }
    public string? Date { get; init; }
    /// <summary>OIDs of the resource (identifier urn:oid:…), without the urn:oid: prefix.</summary>
    public required IReadOnlyList<string> Oids { get; init; }
    /// <summary>The JSON exactly as published.</summary>
    public required string Json { get; init; }
    /// <summary>SHA-256 of the JSON (hex): identical publications are recognised.</summary>
    public required string Sha256 { get; init; }
    public TerminologyOrigin Origin { get; init; } = TerminologyOrigin.Shipped;
}

/// <summary>A version of a code system.</summary>
public sealed class CodeSystemVersion : TerminologyResource
{
    public required bool CaseSensitive { get; init; }
    public required IReadOnlyDictionary<string, CodeSystemConcept> Concepts { get; init; }
}

/// <summary>One include (or exclude) of a value set: listed codes of a system, or the whole system.</summary>
public sealed record ValueSetInclude(string System, IReadOnlyList<(string Code, string? Display)>? Concepts);

/// <summary>A version of a value set (an ANS JDV): the codes it enumerates, per code system.</summary>
public sealed class ValueSetVersion : TerminologyResource
{
    public required IReadOnlyList<ValueSetInclude> Includes { get; init; }
    public required IReadOnlyList<ValueSetInclude> Excludes { get; init; }
}

/// <summary>One correspondence of a concept map: a source code to a target code.</summary>
public sealed record ConceptMapping(string SourceSystem, string SourceCode, string TargetSystem, string TargetCode, string Equivalence);

/// <summary>A version of a concept map (an ANS ASS table: CDA template → format code, type → class).</summary>
public sealed class ConceptMapVersion : TerminologyResource
{
    public required IReadOnlyList<ConceptMapping> Mappings { get; init; }
}

/// <summary>
/// Reads ANS terminology publications: FHIR R4 CodeSystem and ValueSet JSON (also a Bundle of them).
/// Bounded like every untrusted input (size, depth); what it cannot honour (value set filters,
/// value sets including other value sets) is refused with the element named.
/// </summary>
public static class TerminologyJson
{
    /// <summary>The largest publication file read (the biggest ANS TRE is under 1 MB).</summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>The CodeSystem and ValueSet resources of one JSON text (a resource, or a Bundle of them).</summary>
    public static IReadOnlyList<TerminologyResource> Parse(string json, string source, TerminologyOrigin? origin = null)
    {
        if (Encoding.UTF8.GetByteCount(json) > MaxBytes)
        {
            throw new DmpException(ErrorKind.TooLarge, $"{source}: larger than {MaxBytes} bytes");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.TrimStart('\uFEFF'), DocumentOptions);
        }
        catch (JsonException ex)
        {
            throw DmpException.Invalid($"{source}: not valid JSON ({ex.Message})");
        }

        using (doc)
        {
            var root = doc.RootElement;
            var type = Str(root, "resourceType");
            if (type == "Bundle")
            {
                var list = new List<TerminologyResource>();
                if (root.TryGetProperty("entry", out var entries) && entries.ValueKind == JsonValueKind.Array)
                {
                    var i = 0;
                    foreach (var e in entries.EnumerateArray())
                    {
                        if (e.TryGetProperty("resource", out var r))
                        {
                            list.Add(ParseOne(r, r.GetRawText(), $"{source} entry[{i}]", origin));
                        }

                        i++;
                    }
                }

                return list.Count > 0 ? list : throw DmpException.Invalid($"{source}: the Bundle holds no CodeSystem or ValueSet");
            }

            return [ParseOne(root, json.TrimStart('\uFEFF'), source, origin)];
        }
    }

    private static TerminologyResource ParseOne(JsonElement r, string json, string source, TerminologyOrigin? origin)
    {
        var type = Str(r, "resourceType");
        var url = Str(r, "url") ?? throw DmpException.Invalid($"{source}: {type}.url (the canonical URL) is required");
        var version = Str(r, "version") ?? throw DmpException.Invalid($"{source}: {type}.version is required (a new publication must carry its version)");
        var id = Str(r, "id") ?? Str(r, "name") ?? throw DmpException.Invalid($"{source}: {type}.id is required");
        if (!FhirId(id) || !FhirId(version))
        {
            throw DmpException.Invalid($"{source}: {type}.id '{id}' and version '{version}' must be FHIR ids (letters, digits, '-' and '.', at most 64)");
        }

        var oids = new List<string>();
        if (r.TryGetProperty("identifier", out var ids))
        {
            foreach (var i in ids.ValueKind == JsonValueKind.Array ? ids.EnumerateArray() : Enumerable.Repeat(ids, 1))
            {
                if (Str(i, "value") is { } v && v.StartsWith("urn:oid:", StringComparison.Ordinal))
                {
                    oids.Add(v["urn:oid:".Length..]);
                }
            }
        }

        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
        var name = Str(r, "name") ?? id;
        return type switch
        {
            "CodeSystem" => new CodeSystemVersion
            {
                ResourceType = type, Id = id, Url = url, Version = version, Name = name, Title = Str(r, "title"), Status = Str(r, "status"), Date = Str(r, "date"),
                Oids = oids, Json = json, Sha256 = sha, Origin = origin ?? TerminologyOrigin.Shipped,
                CaseSensitive = !r.TryGetProperty("caseSensitive", out var cs) || cs.ValueKind != JsonValueKind.False,
                Concepts = Concepts(r, source),
            },
            "ValueSet" => new ValueSetVersion
            {
                ResourceType = type, Id = id, Url = url, Version = version, Name = name, Title = Str(r, "title"), Status = Str(r, "status"), Date = Str(r, "date"),
                Oids = oids, Json = json, Sha256 = sha, Origin = origin ?? TerminologyOrigin.Shipped,
                Includes = Compose(r, "include", source),
                Excludes = Compose(r, "exclude", source),
            },
            "ConceptMap" => new ConceptMapVersion
            {
                ResourceType = type, Id = id, Url = url, Version = version, Name = name, Title = Str(r, "title"), Status = Str(r, "status"), Date = Str(r, "date"),
                Oids = oids, Json = json, Sha256 = sha, Origin = origin ?? TerminologyOrigin.Shipped,
                Mappings = Mappings(r, source),
            },
            _ => throw DmpException.Invalid($"{source}: a {type ?? "resource without resourceType"} is not a terminology resource (CodeSystem, ValueSet or ConceptMap expected)"),
        };
    }

    private static Dictionary<string, CodeSystemConcept> Concepts(JsonElement r, string source)
    {
        var result = new Dictionary<string, CodeSystemConcept>(StringComparer.Ordinal);
        if (r.TryGetProperty("concept", out var concepts) && concepts.ValueKind == JsonValueKind.Array)
        {
            AddConcepts(concepts, result, source, 0);
        }

        return result;
    }

    private static void AddConcepts(JsonElement concepts, Dictionary<string, CodeSystemConcept> into, string source, int depth)
    {
        foreach (var c in concepts.EnumerateArray())
        {
            var code = Str(c, "code") ?? throw DmpException.Invalid($"{source}: CodeSystem.concept without a code");
            var designations = new List<string>();
            if (c.TryGetProperty("designation", out var ds) && ds.ValueKind == JsonValueKind.Array)
            {
                designations.AddRange(ds.EnumerateArray().Select(d => Str(d, "value")).OfType<string>());
            }

            into[code] = new CodeSystemConcept(code, Str(c, "display") ?? code, designations, RetiredOn(c));
            if (c.TryGetProperty("concept", out var children) && children.ValueKind == JsonValueKind.Array && depth < 16)
            {
                AddConcepts(children, into, source, depth + 1);
            }
        }
    }

    /// <summary>
    /// When a concept stopped being usable: the ANS 'dateFin' property (end of use), or FHIR's
    /// 'status' retired / 'inactive' true (then considered retired since ever).
    /// </summary>
    private static DateTimeOffset? RetiredOn(JsonElement c)
    {
        if (!c.TryGetProperty("property", out var props) || props.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        foreach (var p in props.EnumerateArray())
        {
            switch (Str(p, "code"))
            {
                case "dateFin" when Str(p, "valueDateTime") is { } d && DateTimeOffset.TryParse(d, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var end):
                    return end;
                case "status" when Str(p, "valueCode") is "retired" or "deprecated":
                case "inactive" when p.TryGetProperty("valueBoolean", out var b) && b.ValueKind == JsonValueKind.True:
                    return DateTimeOffset.MinValue;
            }
        }

        return null;
    }

    private static List<ValueSetInclude> Compose(JsonElement r, string part, string source)
    {
        var result = new List<ValueSetInclude>();
        if (!r.TryGetProperty("compose", out var compose) || !compose.TryGetProperty(part, out var items) || items.ValueKind != JsonValueKind.Array)
        {
            return part == "include" ? throw DmpException.Invalid($"{source}: ValueSet.compose.include is required (OpenDMP reads value sets by their composition)") : result;
        }

        var i = 0;
        foreach (var inc in items.EnumerateArray())
        {
            if (inc.TryGetProperty("filter", out _) || inc.TryGetProperty("valueSet", out _))
            {
                throw DmpException.Invalid($"{source}: ValueSet.compose.{part}[{i}] uses a filter or another value set, which OpenDMP does not evaluate: publish the codes as a list");
            }

            var system = Str(inc, "system") ?? throw DmpException.Invalid($"{source}: ValueSet.compose.{part}[{i}].system is required");
            List<(string, string?)>? concepts = null;
            if (inc.TryGetProperty("concept", out var cs) && cs.ValueKind == JsonValueKind.Array)
            {
                concepts = [.. cs.EnumerateArray().Select(c => (Str(c, "code") ?? throw DmpException.Invalid($"{source}: ValueSet.compose.{part}[{i}].concept without a code"), Str(c, "display")))];
            }

            result.Add(new ValueSetInclude(system, concepts));
            i++;
        }

        return result;
    }

    private static List<ConceptMapping> Mappings(JsonElement r, string source)
    {
        var result = new List<ConceptMapping>();
        if (!r.TryGetProperty("group", out var groups) || groups.ValueKind != JsonValueKind.Array)
        {
            return result;
        }

        var g = 0;
        foreach (var group in groups.EnumerateArray())
        {
            var from = Str(group, "source") ?? throw DmpException.Invalid($"{source}: ConceptMap.group[{g}].source (the source code system) is required");
            var to = Str(group, "target") ?? throw DmpException.Invalid($"{source}: ConceptMap.group[{g}].target (the target code system) is required");
            if (group.TryGetProperty("element", out var elements) && elements.ValueKind == JsonValueKind.Array)
            {
                foreach (var e in elements.EnumerateArray())
                {
                    var code = Str(e, "code") ?? throw DmpException.Invalid($"{source}: ConceptMap.group[{g}].element without a code");
                    if (e.TryGetProperty("target", out var targets) && targets.ValueKind == JsonValueKind.Array)
                    {
                        result.AddRange(targets.EnumerateArray().Where(t => Str(t, "code") is not null)
                            .Select(t => new ConceptMapping(from, code, to, Str(t, "code")!, Str(t, "equivalence") ?? "equivalent")));
                    }
                }
            }

            g++;
        }

        return result;
    }

    private static bool FhirId(string s) => s.Length is > 0 and <= 64 && s.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '.');

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
