namespace OpenDmp.Core.Fhir;

/// <summary>How the platform names itself (configuration section <c>Server</c>).</summary>
public sealed class ServerOptions
{
    /// <summary>
    /// The public base URL of the platform (e.g. https://dmp.example.fr), from configuration; when not
    /// configured, the first address the server listens on. Absolute URLs in answers are built from
    /// it, never from the client's Host header; absolute references in submissions must point to it.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>The FHIR base: PublicBaseUrl + "/fhir".</summary>
    public string? FhirBase => PublicBaseUrl is null ? null : PublicBaseUrl.TrimEnd('/') + "/fhir";

    /// <summary>Whether a reference is absolute and names another server than this one.</summary>
    public bool IsForeign(string? reference)
    {
        if (reference is null || !reference.Contains("://", StringComparison.Ordinal))
        {
            return false;
        }

        return FhirBase is not { } local || !reference.StartsWith(local + "/", StringComparison.OrdinalIgnoreCase);
    }
}
