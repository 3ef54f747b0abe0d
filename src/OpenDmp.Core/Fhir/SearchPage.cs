namespace OpenDmp.Core.Fhir;

/// <summary>One page of search results as stored FHIR JSON, with the type and id of each resource (and its distance from a <c>near</c> search's centre).</summary>
public sealed record SearchHit(string ResourceType, string Id, string Json, double? DistanceKm = null);

/// <summary>A page of results. <see cref="Total"/> is computed only when asked (_total=accurate).</summary>
public sealed record SearchPage(IReadOnlyList<SearchHit> Hits, int Offset, int Count, bool HasMore, int? Total)
{
    /// <summary>An informational notice added to the Bundle as an OperationOutcome (search mode "outcome").</summary>
    public string? Notice { get; init; }
}
