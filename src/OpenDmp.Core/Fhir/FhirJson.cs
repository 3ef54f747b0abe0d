using System.Text.Json;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Fhir;

/// <summary>FHIR R4 JSON with the Firely SDK (System.Text.Json converters).</summary>
public static partial class FhirJson
{
    /// <summary>Most nesting levels of a FHIR JSON document (a Bundle of DocumentReferences with contained resources needs about 15).</summary>
    public const int MaxDepth = 64;

    public static readonly JsonSerializerOptions Options = new JsonSerializerOptions { MaxDepth = MaxDepth }.ForFhir(ModelInfo.ModelInspector);

    /// <summary>Parses a resource; a parse failure is a 400 whose message lists what is wrong.</summary>
    public static T Parse<T>(string json)
        where T : Resource
    {
        // A NUL character has no place in health data, and PostgreSQL refuses it in text.
        if (json.Contains("\\u0000", StringComparison.Ordinal) || json.Contains('\0', StringComparison.Ordinal))
        {
            throw new DmpException(ErrorKind.BadRequest, "the body holds a NUL character (\\u0000)");
        }

        Resource? r;
        try
        {
            r = JsonSerializer.Deserialize<Resource>(NumericSize(json), Options);
        }
        catch (DeserializationFailedException ex)
        {
            var first = ex.Exceptions.Take(3).Select(e => e.Message);
            throw new DmpException(ErrorKind.BadRequest, "the body is not a valid FHIR R4 JSON resource: " + string.Join("; ", first));
        }
        catch (JsonException ex)
        {
            throw new DmpException(ErrorKind.BadRequest, "the body is not valid JSON: " + ex.Message);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or NotSupportedException or ArgumentException)
        {
            throw new DmpException(ErrorKind.BadRequest, "the body is not a valid FHIR R4 JSON resource: " + ex.Message);
        }

        return r switch
        {
            T t => t,
            null => throw new DmpException(ErrorKind.BadRequest, "the body is empty"),
            _ => throw new DmpException(ErrorKind.BadRequest, $"expected a {typeof(T).Name} resource, got {r.TypeName}"),
        };
    }

    /// <summary>
    /// Serialises to R4 JSON. Firely 6.8 writes Attachment.size (R4 unsignedInt) as a JSON string, the
    /// R5 integer64 form, which R4 parsers (its own included) reject: it is written back as a number.
    /// </summary>
    /// <summary>
    /// Attachment.size, whatever element type the parser put there (Firely 6.8's R4 <c>Size</c>
    /// getter casts to Integer64 and throws when the parser stored an UnsignedInt).
    /// </summary>
    public static long? SizeOf(Attachment attachment)
    {
        foreach (var (name, value) in attachment.EnumerateElements())
        {
            if (name == "size")
            {
                return value switch
                {
                    UnsignedInt u => u.Value,
                    Integer64 l => l.Value,
                    Integer i => i.Value,
                    _ => long.TryParse(value?.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null,
                };
            }
        }

        return null;
    }

    public static string Serialize(Base resource) => NumericSize(JsonSerializer.Serialize(resource, resource.GetType(), Options));

    /// <summary>
    /// "size":"123" → "size":123. Safe on FHIR JSON: a quote inside a string value is always escaped,
    /// so the pattern only matches a real "size" property.
    /// </summary>
    private static string NumericSize(string json) =>
        json.Contains("\"size\"", StringComparison.Ordinal) ? SizeAsString().Replace(json, "\"size\":$1") : json;

    [System.Text.RegularExpressions.GeneratedRegex("\"size\"\\s*:\\s*\"([0-9]{1,19})\"")]
    private static partial System.Text.RegularExpressions.Regex SizeAsString();
}
