using System.Security.Cryptography;
using Hl7.Fhir.Model;
using OpenDmp.Core.Identity;

namespace OpenDmp.Core.Documents;

/// <summary>Metadata of one document to submit; <c>Visibility</c> holds one or more TRE_A07 codes separated by commas.</summary>
public sealed record DocumentToSubmit(
    byte[] Content,
    string ContentType,
    string Title,
    string TypeCode = "11488-4",
    string ClassCode = "10",
    string FormatCode = "urn:ihe:iti:xds-sd:pdf:2008",
    string FacilityCode = "SA07",
    string PracticeSettingCode = "AMBULATOIRE",
    string Confidentiality = "N",
    DateTimeOffset? Date = null,
    string? ReplacesDocumentId = null,
    string? Visibility = null,
    bool Draft = false,
    string? AppendsToDocumentId = null);

/// <summary>
/// Builds ITI-65 transaction bundles shaped like the PDSm comprehensive profile (the client side of
/// the API: used by the demo world, the benchmarks, the tests, and usable by integrators).
/// </summary>
public static class SubmissionBuilder
{
    /// <summary>A submission by the patient (documents of class 90 authored by the patient, from the patient space).</summary>
    public static Bundle BuildByPatient(string patientReference, IReadOnlyList<DocumentToSubmit> documents) => Build(patientReference, null, "patient", documents);

    /// <summary>A submission authored by a professional (<paramref name="authorRpps"/>), or by the patient when it is null.</summary>
    public static Bundle Build(string patientReference, string? authorRpps, string authorDisplay, IReadOnlyList<DocumentToSubmit> documents)
    {
        var bundle = new Bundle { Type = Bundle.BundleType.Transaction };
        var list = new List
        {
            Status = List.ListStatus.Current,
            Mode = ListMode.Working,
            Code = new CodeableConcept("https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "submissionset"),
            Subject = new ResourceReference(patientReference),
            Date = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
            Identifier = [new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + Guid.NewGuid()) { Use = Identifier.IdentifierUse.Usual }],
        };
        list.Extension.Add(new Extension("https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", new Identifier("urn:ietf:rfc:3986", "urn:oid:1.2.250.1.999.1")));
        var listEntry = new Bundle.EntryComponent { FullUrl = "urn:uuid:" + Guid.NewGuid(), Resource = list, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "List" } };
        bundle.Entry.Add(listEntry);
        foreach (var d in documents)
        {
            var docUrl = "urn:uuid:" + Guid.NewGuid();
            var binUrl = "urn:uuid:" + Guid.NewGuid();
#pragma warning disable CA5350 // FHIR R4 Attachment.hash is SHA-1.
            var hash = SHA1.HashData(d.Content);
#pragma warning restore CA5350
            var type = Terminology.TypeCodes.Concepts.FirstOrDefault(c => c.Code == d.TypeCode) ?? new Concept(Terminology.Loinc, d.TypeCode, d.TypeCode);
            var cls = Terminology.ClassCodes.Concepts.First(c => c.Code == d.ClassCode);
            var date = d.Date ?? DateTimeOffset.UtcNow;
            var doc = new DocumentReference
            {
                MasterIdentifier = new Identifier("urn:ietf:rfc:3986", "urn:uuid:" + Guid.NewGuid()),
                Status = DocumentReferenceStatus.Current,
                Type = new CodeableConcept { Coding = [new Coding(type.System, type.Code, type.Display)] },
                Category = [new CodeableConcept { Coding = [new Coding(cls.System, cls.Code, cls.Display)] }],
                Subject = new ResourceReference(patientReference),
                Date = date,
                Description = d.Title,
                SecurityLabel =
                [
                    new CodeableConcept(Terminology.ConfidentialitySystem, d.Confidentiality),
                    .. (d.Visibility ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(v => new CodeableConcept(Terminology.VisibilitySystem, v)),
                ],
                DocStatus = d.Draft ? CompositionStatus.Preliminary : null,
                Contained =
                [
                    authorRpps is null
                        ? new Hl7.Fhir.Model.Patient { Id = "author" }
                        : new PractitionerRole
                        {
                            Id = "author",
                            Identifier = [new Identifier(Rpps.IdNatPsSystem, Rpps.ToIdNatPs(authorRpps))],
                            Practitioner = new ResourceReference { Identifier = new Identifier(Rpps.IdNatPsSystem, Rpps.ToIdNatPs(authorRpps)), Display = authorDisplay },
                        },
                ],
                Author = [new ResourceReference("#author")],
                Content =
                [
                    new DocumentReference.ContentComponent
                    {
                        Attachment = new Attachment
                        {
                            ContentType = d.ContentType,
                            Language = "fr-FR",
                            Url = binUrl,
                            Size = d.Content.LongLength,
                            Hash = hash,
                            Title = d.Title,
                            Creation = date.ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
                        },
                        Format = new Coding(SystemOf(Terminology.FormatCodes, d.FormatCode, Terminology.FormatSystem), d.FormatCode),
                    },
                ],
                Context = new DocumentReference.ContextComponent
                {
                    Period = new Period { Start = date.AddHours(-1).ToString("yyyy-MM-ddTHH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture) },
                    FacilityType = new CodeableConcept(SystemOf(Terminology.FacilityTypes, d.FacilityCode, Terminology.FacilitySystem), d.FacilityCode),
                    PracticeSetting = new CodeableConcept(SystemOf(Terminology.PracticeSettings, d.PracticeSettingCode, Terminology.PracticeSettingSystem), d.PracticeSettingCode),
                },
            };
            if (d.ReplacesDocumentId is not null)
            {
                doc.RelatesTo.Add(new DocumentReference.RelatesToComponent { Code = DocumentRelationshipType.Replaces, Target = new ResourceReference("DocumentReference/" + d.ReplacesDocumentId) });
            }

            if (d.AppendsToDocumentId is not null)
            {
                doc.RelatesTo.Add(new DocumentReference.RelatesToComponent { Code = DocumentRelationshipType.Appends, Target = new ResourceReference("DocumentReference/" + d.AppendsToDocumentId) });
            }

            list.Entry.Add(new List.EntryComponent { Item = new ResourceReference(docUrl) });
            bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = docUrl, Resource = doc, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "DocumentReference" } });
            bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = binUrl, Resource = new Binary { ContentType = d.ContentType, Data = d.Content }, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = "Binary" } });
        }

        return bundle;
    }

    /// <summary>Adds structured entries (MedicationRequest, MedicationDispense) filed with the bundle's document.</summary>
    public static Bundle WithEntries(this Bundle bundle, params Resource[] resources)
    {
        foreach (var r in resources)
        {
            bundle.Entry.Add(new Bundle.EntryComponent { FullUrl = "urn:uuid:" + Guid.NewGuid(), Resource = r, Request = new Bundle.RequestComponent { Method = Bundle.HTTPVerb.POST, Url = r.TypeName } });
        }

        return bundle;
    }

    /// <summary>A minimal, valid one-page PDF holding a line of text (for demos and tests).</summary>
    public static byte[] MinimalPdf(string text)
    {
        var safe = new string(text.Where(c => c < 128 && c != '(' && c != ')' && c != '\\').ToArray());
        var stream = $"BT /F1 14 Tf 72 720 Td ({safe}) Tj ET";
        var objects = new[]
        {
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            $"<< /Length {stream.Length} >>\nstream\n{stream}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        };
        var sb = new System.Text.StringBuilder("%PDF-1.4\n");
        var offsets = new List<int>();
        for (var i = 0; i < objects.Length; i++)
        {
            offsets.Add(sb.Length);
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"{i + 1} 0 obj\n{objects[i]}\nendobj\n");
        }

        var xref = sb.Length;
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"xref\n0 {objects.Length + 1}\n0000000000 65535 f \n");
        foreach (var o in offsets)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"{o:D10} 00000 n \n");
        }

        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"trailer\n<< /Size {objects.Length + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n");
        return System.Text.Encoding.ASCII.GetBytes(sb.ToString());
    }

    /// <summary>The code system of a code in a value set (a JDV mixes several), or the usual one.</summary>
    private static string SystemOf(ValueSet vs, string code, string fallback) =>
        vs.Concepts.FirstOrDefault(c => c.Code == code)?.System ?? fallback;
}
