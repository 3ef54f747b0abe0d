using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Core.Documents;

/// <summary>Helpers over stored DocumentReference resources.</summary>
public static class DocumentResources
{
    /// <summary>meta.security code marking test data (HL7 v3 ActReason HTEST).</summary>
    public const string TestSecuritySystem = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    public const string TestSecurityCode = "HTEST";

    public static DateTimeOffset? ParseInstant(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        return new FhirDateTime(value).TryToDateTimeOffset(out var dto) ? dto.ToUniversalTime() : null;
    }

    /// <summary>Server meta for a new version 1, keeping the profiles the source declared (never an empty list: R4 JSON forbids empty arrays).</summary>
    public static Meta NewMeta(Meta? source, DateTimeOffset now)
    {
        var meta = new Meta { VersionId = "1", LastUpdated = now };
        if (source?.Profile.Any() == true)
        {
            meta.Profile = source.Profile.ToList();
        }

        return meta;
    }

    /// <summary>Marks a resource as test data (test or demo identity) so that no one mistakes it for real care data.</summary>
    public static void MarkTest(Meta meta, bool isTest)
    {
        if (isTest && !meta.Security.Any(c => c.Code == TestSecurityCode))
        {
            meta.Security.Add(new Coding(TestSecuritySystem, TestSecurityCode, "test health data"));
        }
    }

    /// <summary>Removes relatesTo and context.related references to a deleted document, bumping the version.</summary>
    public static void RemoveReferencesTo(DocumentEntry entry, string deletedId, DateTimeOffset now)
    {
        var doc = FhirJson.Parse<DocumentReference>(entry.ResourceJson);
        var target = "DocumentReference/" + deletedId;
        doc.RelatesTo.RemoveAll(r => r.Target?.Reference == target);
        doc.Context?.Related.RemoveAll(r => r.Reference == target);
        Bump(entry, doc, now);
    }

    /// <summary>Changes the status of a stored document, bumping its version.</summary>
    public static void SetStatus(DocumentEntry entry, string status, DateTimeOffset now)
    {
        var doc = FhirJson.Parse<DocumentReference>(entry.ResourceJson);
        doc.Status = status switch
        {
            "superseded" => DocumentReferenceStatus.Superseded,
            "entered-in-error" => DocumentReferenceStatus.EnteredInError,
            _ => DocumentReferenceStatus.Current,
        };
        entry.Status = status;
        Bump(entry, doc, now);
    }

    private static void Bump(DocumentEntry entry, DocumentReference doc, DateTimeOffset now)
    {
        entry.VersionId++;
        entry.LastUpdated = now;
        doc.Meta ??= new Meta();
        doc.Meta.VersionId = entry.VersionId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        doc.Meta.LastUpdated = now;
        entry.ResourceJson = FhirJson.Serialize(doc);
    }
}
