using System.Globalization;
using System.Text.Json.Nodes;
using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Server.Fhir;

/// <summary>
/// Terminology services for practice software building pick lists, public like /fhir/metadata (no
/// patient data): the ANS value sets and code systems in force and their earlier versions
/// (read, vread, search by url/version/name), ValueSet/$expand (filter, paging, activeOnly),
/// ValueSet/$validate-code and CodeSystem/$lookup.
/// </summary>
public static class TerminologyEndpoints
{
    /// <summary>The most codes one $expand page returns.</summary>
    public const int MaxExpansion = 1000;

    private static readonly DmpEndpoint Public = DmpEndpoint.Exempt(Requirement.Public, "public: reference data (terminology), no patient data");

    public static RouteGroupBuilder MapTerminology(this RouteGroupBuilder fhir)
    {
        foreach (var type in new[] { "ValueSet", "CodeSystem", "ConceptMap" })
        {
            fhir.MapGet($"/{type}", async (HttpContext ctx, TerminologyCatalog c) => Search(type, await c.GetAsync(ctx.RequestAborted), ctx.Request)).WithMetadata(Public);
            fhir.MapGet($"/{type}/{{id}}", async (string id, HttpContext ctx, TerminologyCatalog c) => Read(type, id, null, await c.GetAsync(ctx.RequestAborted))).WithMetadata(Public);
            fhir.MapGet($"/{type}/{{id}}/_history/{{vid}}", async (string id, string vid, HttpContext ctx, TerminologyCatalog c) => Read(type, id, vid, await c.GetAsync(ctx.RequestAborted))).WithMetadata(Public);
        }

        fhir.MapGet("/ValueSet/$expand", async (HttpContext ctx, TerminologyCatalog c, TimeProvider t) => Expand(null, await c.GetAsync(ctx.RequestAborted), ctx.Request, t)).WithMetadata(Public);
        fhir.MapGet("/ValueSet/{id}/$expand", async (string id, HttpContext ctx, TerminologyCatalog c, TimeProvider t) => Expand(id, await c.GetAsync(ctx.RequestAborted), ctx.Request, t)).WithMetadata(Public);
        fhir.MapGet("/ValueSet/$validate-code", async (HttpContext ctx, TerminologyCatalog c, TimeProvider t) => ValidateCode(null, await c.GetAsync(ctx.RequestAborted), ctx.Request, t)).WithMetadata(Public);
        fhir.MapGet("/ValueSet/{id}/$validate-code", async (string id, HttpContext ctx, TerminologyCatalog c, TimeProvider t) => ValidateCode(id, await c.GetAsync(ctx.RequestAborted), ctx.Request, t)).WithMetadata(Public);
        fhir.MapGet("/CodeSystem/$lookup", async (HttpContext ctx, TerminologyCatalog c, TimeProvider t) => Lookup(await c.GetAsync(ctx.RequestAborted), ctx.Request, t)).WithMetadata(Public);
        return fhir;
    }

    private static IResult Search(string type, TerminologySet set, HttpRequest request)
    {
        var q = request.Query;
        foreach (var key in q.Keys.Where(k => k is not ("url" or "version" or "name" or "_id" or "_format" or "_count")))
        {
            throw Bad($"unsupported search parameter '{key}' on {type} (url, version, name, _id)", key);
        }

        var all = set.All.Where(r => r.ResourceType == type);
        var url = q["url"].ToString();
        var version = q["version"].ToString();
        var name = q["name"].ToString();
        var id = q["_id"].ToString();
        var hits = all.Where(r => (url.Length == 0 || r.Url == url) && (version.Length == 0 || r.Version == version) && (id.Length == 0 || r.Id == id)
                && (name.Length == 0 || r.Name.Contains(name, StringComparison.OrdinalIgnoreCase) || (r.Title?.Contains(name, StringComparison.OrdinalIgnoreCase) ?? false)))
            .OrderBy(r => r.Url, StringComparer.Ordinal).ThenBy(r => r.Origin.Sequence).ToList();
        var baseUrl = FhirResults.BaseUrl(request);
        var bundle = new JsonObject
        {
            ["resourceType"] = "Bundle",
            ["type"] = "searchset",
            ["total"] = hits.Count,
            ["link"] = new JsonArray(new JsonObject { ["relation"] = "self", ["url"] = baseUrl + "/" + type + request.QueryString.Value }),
            ["entry"] = new JsonArray([.. hits.Select(r => (JsonNode)new JsonObject
            {
                ["fullUrl"] = $"{baseUrl}/{type}/{r.Id}",
                ["resource"] = WithMeta(r, set),
                ["search"] = new JsonObject { ["mode"] = "match" },
            })]),
        };
        return FhirResults.Json(bundle.ToJsonString());
    }

    private static IResult Read(string type, string id, string? vid, TerminologySet set)
    {
        var versions = set.Versions(type, id);
        var r = vid is null ? (versions.Count > 0 ? versions[^1] : null) : versions.LastOrDefault(v => v.Version == vid);
        return r is null
            ? throw new DmpException(ErrorKind.NotFound, vid is null ? $"no {type} {id} (see /fhir/{type})" : $"{type} {id} has no version {vid} (versions: {string.Join(", ", versions.Select(v => v.Version))})")
            : FhirResults.Json(WithMeta(r, set).ToJsonString(), r.Version);
    }

    /// <summary>The resource as published; meta.versionId is its business version, a tag says whether it is the version in force.</summary>
    private static JsonObject WithMeta(TerminologyResource r, TerminologySet set)
    {
        var node = JsonNode.Parse(r.Json)!.AsObject();
        var inForce = set.InForce(r);
        var meta = new JsonObject { ["versionId"] = r.Version };
        if (r.Origin.ImportedAt is { } at)
        {
            meta["lastUpdated"] = at.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz", CultureInfo.InvariantCulture);
        }

        meta["tag"] = new JsonArray(new JsonObject
        {
            ["system"] = "urn:opendmp:terminology-status",
            ["code"] = inForce ? "in-force" : "superseded",
            ["display"] = (inForce ? "version en vigueur" : "version antérieure") + (r.Origin.Kind == "shipped" ? " (livrée avec OpenDMP)" : " (importée)"),
        });
        node["meta"] = meta;
        return node;
    }

    private static ValueSetVersion ResolveValueSet(string? id, TerminologySet set, HttpRequest request)
    {
        var version = Param(request, "valueSetVersion");
        if (id is not null)
        {
            var versions = set.Versions("ValueSet", id).OfType<ValueSetVersion>().ToList();
            return (version is null ? versions.LastOrDefault() : versions.LastOrDefault(v => v.Version == version))
                ?? throw new DmpException(ErrorKind.NotFound, $"no ValueSet {id}{(version is null ? "" : " version " + version)}");
        }

        var url = Param(request, "url") ?? throw Bad("the value set is named by 'url' (or call ValueSet/[id]/$...)", "url");
        return set.ValueSet(url, version) ?? throw new DmpException(ErrorKind.NotFound, $"no ValueSet {url}{(version is null ? "" : " version " + version)} (see /fhir/ValueSet)");
    }

    private static IResult Expand(string? id, TerminologySet set, HttpRequest request, TimeProvider clock)
    {
        var vs = ResolveValueSet(id, set, request);
        var filter = Param(request, "filter");
        var activeOnly = Bool(request, "activeOnly") ?? false;
        var offset = Int(request, "offset") ?? 0;
        var count = Math.Min(Int(request, "count") ?? MaxExpansion, MaxExpansion);
        var all = set.Expand(vs, filter, activeOnly, clock.GetUtcNow()).ToList();
        var result = new ValueSet
        {
            Id = vs.Id,
            Url = vs.Url,
            Version = vs.Version,
            Name = vs.Name,
            Title = vs.Title,
            Status = PublicationStatus.Active,
            Expansion = new ValueSet.ExpansionComponent
            {
                Identifier = "urn:uuid:" + Guid.NewGuid(),
                TimestampElement = new FhirDateTime(clock.GetUtcNow()),
                Total = all.Count,
                Offset = offset,
                Parameter = [.. new (string, DataType?)[] { ("filter", filter is null ? null : new FhirString(filter)), ("activeOnly", new FhirBoolean(activeOnly)), ("count", new Integer(count)), ("offset", new Integer(offset)) }
                    .Where(p => p.Item2 is not null).Select(p => new ValueSet.ParameterComponent { Name = p.Item1, Value = p.Item2 })],
                Contains = [.. all.Skip(offset).Take(count).Select(i => new ValueSet.ContainsComponent { System = i.System, Code = i.Code, Display = i.Display, Inactive = i.Inactive ? true : null })],
            },
        };
        return FhirResults.Resource(result);
    }

    private static IResult ValidateCode(string? id, TerminologySet set, HttpRequest request, TimeProvider clock)
    {
        var vs = ResolveValueSet(id, set, request);
        var code = Param(request, "code") ?? throw Bad("'code' is required", "code");
        var system = Param(request, "system") ?? throw Bad("'system' is required (canonical URL or urn:oid:…)", "system");
        var check = set.Check(vs.Url, system, code, clock.GetUtcNow());
        var result = new Parameters();
        result.Add("result", new FhirBoolean(check.Ok));
        if (check.Problem is not null)
        {
            result.Add("message", new FhirString(check.Problem));
        }

        if (check.Concept is { } c)
        {
            result.Add("display", new FhirString(c.Display));
            result.Add("system", new FhirUri(c.System));
            result.Add("code", new Code(c.Code));
            var display = Param(request, "display");
            if (check.Ok && display is not null && !string.Equals(display, c.Display, StringComparison.OrdinalIgnoreCase))
            {
                result.Add("message", new FhirString($"the display '{display}' differs from the code system's '{c.Display}'"));
            }
        }

        return FhirResults.Resource(result);
    }

    private static IResult Lookup(TerminologySet set, HttpRequest request, TimeProvider clock)
    {
        var system = Param(request, "system") ?? throw Bad("'system' is required (canonical URL or urn:oid:…)", "system");
        var code = Param(request, "code") ?? throw Bad("'code' is required", "code");
        var version = Param(request, "version");
        var cs = set.CodeSystem(system) ?? throw new DmpException(ErrorKind.NotFound, $"no code system {system} (see /fhir/CodeSystem)");
        var concept = set.Lookup(system, code, version) ?? throw new DmpException(ErrorKind.NotFound, $"{code} is not a code of {cs.Name}{(version is null ? "" : " version " + version)}");
        var result = new Parameters();
        result.Add("name", new FhirString(cs.Name));
        result.Add("version", new FhirString(version ?? cs.Version));
        result.Add("display", new FhirString(concept.Display));
        foreach (var d in concept.Designations)
        {
            result.Parameter.Add(new Parameters.ParameterComponent { Name = "designation", Part = [new Parameters.ParameterComponent { Name = "value", Value = new FhirString(d) }] });
        }

        var retired = concept.RetiredOn is { } end && end <= clock.GetUtcNow();
        result.Parameter.Add(new Parameters.ParameterComponent { Name = "property", Part = [new() { Name = "code", Value = new Code("inactive") }, new() { Name = "value", Value = new FhirBoolean(retired) }] });
        if (concept.RetiredOn is { } fin && fin != DateTimeOffset.MinValue)
        {
            result.Parameter.Add(new Parameters.ParameterComponent { Name = "property", Part = [new() { Name = "code", Value = new Code("dateFin") }, new() { Name = "value", Value = new FhirDateTime(fin) }] });
        }

        return FhirResults.Resource(result);
    }

    /// <summary>A malformed or missing parameter: 400 naming it.</summary>
    private static DmpException Bad(string message, string? parameter = null) => new(ErrorKind.BadRequest, message, parameter);

    private static string? Param(HttpRequest request, string name)
    {
        var values = request.Query[name];
        return values.Count switch
        {
            0 => null,
            1 when !string.IsNullOrEmpty(values[0]) => values[0],
            1 => throw Bad($"'{name}' is empty", name),
            _ => throw Bad($"'{name}' is given more than once", name),
        };
    }

    private static int? Int(HttpRequest request, string name) =>
        Param(request, name) is { } v
            ? int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw Bad($"'{name}' must be a non-negative integer", name)
            : null;

    private static bool? Bool(HttpRequest request, string name) =>
        Param(request, name) switch
        {
            null => null,
            "true" => true,
            "false" => false,
            _ => throw Bad($"'{name}' must be true or false", name),
        };
}
