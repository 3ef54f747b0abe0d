using Hl7.Fhir.Model;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Core.Documents;

/// <summary>Helpers over stored DocumentReference resources.</summary>
public static class DocumentResources
{
    /// <summary>meta.security code marking test data (HL7 v3 ActReason HTEST).</summary>
    public const string TestSecuritySystem = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
    public const string TestSecurityCode = "HTEST";

    /// <summary>What the access policy needs to know about a stored document.</summary>
    public static Access.DocumentFacts Facts(DocumentEntry d) =>
        new(d.Id, d.AuthorProfessionalId, d.SubmitterId, d.ClassCode, d.TypeCode, d.Masked, d.HiddenFromPatient, d.Draft, d.HiddenFromRepresentatives, d.PrescriberId);

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

    /// <summary>The stored JSON without the relatesTo entries that name the given documents (the version is unchanged: a view, not a change).</summary>
    public static string WithoutRelatesTo(string json, IReadOnlySet<string> targets)
    {
        var doc = FhirJson.Parse<DocumentReference>(json);
        doc.RelatesTo.RemoveAll(r => References.LogicalId(r.Target?.Reference, "DocumentReference") is { } id && targets.Contains(id));
        return FhirJson.Serialize(doc);
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

    /// <summary>Adds or removes a DMP visibility status (TRE_A07) in the stored security labels, bumping the version.</summary>
    public static void SetVisibility(DocumentEntry entry, string code, bool on, DateTimeOffset now)
    {
        var doc = FhirJson.Parse<DocumentReference>(entry.ResourceJson);
        foreach (var label in doc.SecurityLabel)
        {
            label.Coding.RemoveAll(c => c.Code == code && Terminology.CanonicalSystem(c.System) == Terminology.VisibilityCanonicalSystem);
        }

        doc.SecurityLabel.RemoveAll(l => l.Coding.Count == 0 && string.IsNullOrEmpty(l.Text));
        if (on)
        {
            var display = Terminology.ConfidentialityCodes.Find(Terminology.VisibilitySystem, code)?.Display;
            doc.SecurityLabel.Add(new CodeableConcept(Terminology.VisibilitySystem, code, display));
        }

        Bump(entry, doc, now);
    }

    /// <summary>Marks a draft as final (docStatus), bumping the version.</summary>
    public static void SetFinal(DocumentEntry entry, DateTimeOffset now)
    {
        var doc = FhirJson.Parse<DocumentReference>(entry.ResourceJson);
        doc.DocStatus = CompositionStatus.Final;
        entry.Draft = false;
        Bump(entry, doc, now);
    }

    /// <summary>Points every reference to Patient/{from} at Patient/{to} (a merge of identities), bumping the version.</summary>
    public static void Repoint(DocumentEntry entry, string from, string to, DateTimeOffset now)
    {
        var doc = FhirJson.Parse<DocumentReference>(Identity.IdentityMerges.Repoint(entry.ResourceJson, from, to));
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
