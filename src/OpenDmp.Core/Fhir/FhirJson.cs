using System.Text.Json;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Fhir;

/// <summary>FHIR R4 JSON with the Firely SDK (System.Text.Json converters).</summary>
public static class FhirJson
{
    public static readonly JsonSerializerOptions Options = new JsonSerializerOptions().ForFhir(ModelInfo.ModelInspector);

    /// <summary>Parses a resource; a parse failure is a 400 whose message lists what is wrong.</summary>
    public static T Parse<T>(string json)
        where T : Resource
    {
        Resource? r;
        try
        {
            r = JsonSerializer.Deserialize<Resource>(json, Options);
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

    public static string Serialize(Base resource) => JsonSerializer.Serialize(resource, resource.GetType(), Options);
}
