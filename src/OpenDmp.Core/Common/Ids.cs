using System.Text.RegularExpressions;

namespace OpenDmp.Core.Common;

/// <summary>Resource ids: UUID v7 for server-assigned ids; imported FHIR ids kept when valid.</summary>
public static partial class Ids
{
    public static string New() => Guid.CreateVersion7().ToString();

    /// <summary>True when the string is a valid FHIR id ([A-Za-z0-9\-\.]{1,64}).</summary>
    public static bool IsValidFhirId(string? id) => id is not null && FhirIdRegex().IsMatch(id);

    [GeneratedRegex(@"^[A-Za-z0-9\-\.]{1,64}$")]
    private static partial Regex FhirIdRegex();
}
