using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;

namespace OpenDmp.Core.Clinical;

/// <summary>
/// The reimbursement history (M11, "historique des remboursements"): the last twelve months of care
/// the insurer reimbursed, fed from FHIR ExplanationOfBenefit resources (the adjudicated claims
/// the Synthea bundles carry; a Claim is represented by its EOB). It enters the record as one
/// document of class 60 (type REMB) — readable by anyone who may read it — with one structured
/// entry per reimbursed care, seen with that document (ADR 0018): date, care type, professional.
/// Pharmacy items feed the medication list as a source ("reimbursement").
/// </summary>
public static class ReimbursementHistory
{
    public const int Months = 12;
    public const string ClaimTypeSystem = "http://terminology.hl7.org/CodeSystem/claim-type";

    /// <summary>French labels of the claim types (care types).</summary>
    public static string CareType(string? claimType) => claimType switch
    {
        "professional" => "Soins de ville",
        "pharmacy" => "Pharmacie",
        "institutional" => "Hospitalisation",
        "oral" => "Soins dentaires",
        "vision" => "Optique",
        _ => "Autres soins",
    };

    /// <summary>When the care was given: the first item's service date, else the creation date, else the billable period's start.</summary>
    public static DateTimeOffset? ServiceDate(ExplanationOfBenefit eob) =>
        eob.Item.Select(i => i.Serviced switch
            {
                Period p => DocumentResources.ParseInstant(p.Start),
                Date d => DocumentResources.ParseInstant(d.Value),
                _ => null,
            }).FirstOrDefault(d => d is not null)
        ?? DocumentResources.ParseInstant(eob.Created)
        ?? DocumentResources.ParseInstant(eob.BillablePeriod?.Start);

    /// <summary>Who gave the care, as the claim names them.</summary>
    public static string? Professional(ExplanationOfBenefit eob) =>
        eob.Provider?.Display ?? eob.CareTeam.Select(c => c.Provider?.Display).FirstOrDefault(d => d is not null) ?? eob.Facility?.Display;

    /// <summary>
    /// The history document of one patient: the claims of the twelve months up to <paramref name="asOf"/>
    /// (default: the most recent claim, the date the insurer's extract was made), or null when none falls in it.
    /// </summary>
    public static (DocumentReference Document, List<ExplanationOfBenefit> Claims)? Build(string patientReference, IReadOnlyList<ExplanationOfBenefit> eobs, DateTimeOffset? asOf)
    {
        var dated = eobs.Select(e => (Eob: e, When: ServiceDate(e))).Where(x => x.When is not null).ToList();
        if (dated.Count == 0)
        {
            return null;
        }

        var end = asOf ?? dated.Max(x => x.When!.Value);
        var start = end.AddMonths(-Months);
        var claims = dated.Where(x => x.When > start && x.When <= end).OrderBy(x => x.When).ToList();
        if (claims.Count == 0)
        {
            return null;
        }

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Historique des remboursements du {start:dd/MM/yyyy} au {end:dd/MM/yyyy}\n\n");
        foreach (var (eob, when) in claims)
        {
            var what = eob.Item.FirstOrDefault()?.ProductOrService;
            var amount = eob.Total.FirstOrDefault()?.Amount;
            text.Append(CultureInfo.InvariantCulture, $"{when:dd/MM/yyyy} — {CareType(eob.Type?.Coding.FirstOrDefault()?.Code)} — {Professional(eob) ?? "professionnel non précisé"} — {what?.Text ?? what?.Coding.FirstOrDefault()?.Display ?? string.Empty}");
            if (amount?.Value is { } v)
            {
                text.Append(CultureInfo.InvariantCulture, $" — {v:0.00} {amount.Currency}");
            }

            text.Append('\n');
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        var master = "urn:uuid:" + DeterministicUuid($"{patientReference}|{end:O}|{claims.Count}");
        var document = new DocumentReference
        {
            MasterIdentifier = new Identifier("urn:ietf:rfc:3986", master),
            Status = DocumentReferenceStatus.Current,
            Type = new CodeableConcept(Terminology.TypeCodeSystem, "REMB", "Données de remboursement"),
            Category = [new CodeableConcept(Terminology.ClassSystem, "60", "Données de remboursement")],
            Subject = new ResourceReference(patientReference),
            Date = end,
            Description = $"Historique des remboursements — {Months} mois au {end:dd/MM/yyyy}",
            Author = [new ResourceReference { Display = "Assurance Maladie" }],
            Content =
            [
                new DocumentReference.ContentComponent
                {
                    Attachment = new Attachment { ContentType = "text/plain", Language = "fr-FR", Data = bytes, Title = "Historique des remboursements" },
                    Format = new Coding(Terminology.FormatSystem, "urn:ihe:iti:xds-sd:text:2008"),
                },
            ],
            Context = new DocumentReference.ContextComponent { Period = new Period { Start = start.ToString("o", CultureInfo.InvariantCulture), End = end.ToString("o", CultureInfo.InvariantCulture) } },
        };
        return (document, claims.Select(x => x.Eob).ToList());
    }

    /// <summary>The structured entry of one reimbursed care, linked to the history document.</summary>
    public static ClinicalEntry Entry(ExplanationOfBenefit eob, string recordId, string documentId, DateTimeOffset now)
    {
        var item = eob.Item.FirstOrDefault()?.ProductOrService?.Coding.FirstOrDefault(c => !string.IsNullOrEmpty(c.Code));
        var id = OpenDmp.Core.Common.Ids.New();
        var careType = eob.Type?.Coding.FirstOrDefault()?.Code;

        // Only what the history says is kept: references into the source bundle are dropped.
        eob.Id = id;
        eob.Meta = new Meta { VersionId = "1", LastUpdated = now };
        eob.Patient = new ResourceReference("Patient/" + recordId);
        eob.Claim = null;
        eob.Referral = null;
        eob.Contained.Clear();
        // Required references become display-only (the source bundle's references do not resolve here).
        var professional = Professional(eob) ?? "Professionnel non précisé";
        eob.Insurer = new ResourceReference { Display = eob.Insurer?.Display ?? "Assurance Maladie" };
        eob.Insurance.ForEach(i => i.Coverage = new ResourceReference { Display = i.Coverage?.Display ?? eob.Insurer.Display });
        eob.Diagnosis.Clear();
        eob.Provider = new ResourceReference { Display = professional };
        eob.Facility = eob.Facility?.Display is null ? null : new ResourceReference { Display = eob.Facility.Display };
        eob.CareTeam.ForEach(c => c.Provider = new ResourceReference { Display = c.Provider?.Display ?? professional });
        eob.Item.ForEach(i => i.Encounter.Clear());
        eob.SupportingInfo.Clear();
        eob.Extension.Add(new Extension("urn:opendmp:extension:history-document", new ResourceReference("DocumentReference/" + documentId)));
        return new ClinicalEntry
        {
            RecordId = recordId,
            Id = id,
            ResourceType = "ExplanationOfBenefit",
            DocumentId = documentId,
            CodeSystem = item?.System,
            Code = item?.Code,
            CodeDisplay = item?.Display ?? eob.Item.FirstOrDefault()?.ProductOrService?.Text,
            Date = ServiceDate(eob),
            GroupId = careType,
            PerformerDisplay = Professional(eob),
            CreatedAt = now,
            ResourceJson = FhirJson.Serialize(eob),
        };
    }

    private static Guid DeterministicUuid(string name)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(name));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }
}
