using Hl7.Fhir.Model;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Terminologies;

namespace OpenDmp.Core.Documents.Cda;

/// <summary>
/// XDS metadata from a CDA R2 header, so that a professional never types twice what their software
/// already wrote (docs/adr/0017). Each element the DocumentReference does not give is taken from the
/// header; an element the DocumentReference gives wins. What neither gives is a 422 naming the
/// header element. Class code from the type (ANS ASS_X04), format code from the template ids (ANS
/// ASS_A11; for a level-1 CDA, the one whose code names the embedded media type).
/// </summary>
public static class CdaMetadata
{
    /// <summary>ASS_X04-CorrespondanceType-Classe-CISIS: XDS typeCode → classCode.</summary>
    public const string TypeToClassMap = "https://mos.esante.gouv.fr/NOS/ASS_X04-CorrespondanceType-Classe-CISIS";

    /// <summary>ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS: CDA template id → XDS formatCode.</summary>
    public const string TemplateToFormatMap = "https://mos.esante.gouv.fr/NOS/ASS_A11-CorresModeleCDA-XdsFormatCode-CISIS";

    /// <summary>The OID of the national identifiers of professionals (IdNatPs = 8 + RPPS).</summary>
    public const string IdNatPsOid = "1.2.250.1.71.4.2.1";

    private static readonly string[] InsOids = ["1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"];

    /// <summary>The patient's INS in the header (first recordTarget id under an INS OID), as FHIR system and value.</summary>
    public static (string System, string Value)? Ins(CdaHeader h) =>
        h.PatientIds.FirstOrDefault(i => InsOids.Contains(i.Root) && i.Extension is { Length: > 0 }) is { } id ? ("urn:oid:" + id.Root, id.Extension!) : null;

    /// <summary>Fills what <paramref name="doc"/> lacks from the header; the header's element is named when both lack it.</summary>
    public static void Complete(DocumentReference doc, CdaHeader h, TerminologySet terms)
    {
        doc.MasterIdentifier ??= h.Id is { } id
            ? new Identifier("urn:ietf:rfc:3986", id.UniqueId)
            : throw Missing("ClinicalDocument/id", "the document's unique id");
        doc.Status ??= DocumentReferenceStatus.Current;
        if (doc.Type is null || doc.Type.Coding.Count == 0)
        {
            var code = h.Code ?? throw Missing("ClinicalDocument/code", "the document type (JDV_J07)");
            doc.Type = new CodeableConcept(SystemOf(terms, code.CodeSystem, "ClinicalDocument/code"), code.Code, terms.Display(SystemOf(terms, code.CodeSystem, "ClinicalDocument/code"), code.Code) ?? code.Display);
        }

        if (doc.Category.Count == 0)
        {
            var type = doc.Type.Coding[0];
            var classes = terms.Map(TypeToClassMap, type.System, type.Code ?? string.Empty);
            var cls = (classes.Count > 0 ? classes[0] : null)
                ?? throw DmpException.Invalid($"ClinicalDocument/code: the type {type.Code} has no class in ASS_X04 (type → class); give DocumentReference.category", "ClinicalDocument/code");
            doc.Category = [new CodeableConcept(terms.Canonical(cls.TargetSystem), cls.TargetCode, terms.Display(cls.TargetSystem, cls.TargetCode))];
        }

        if (doc.Date is null)
        {
            var when = Hl7Time.ToFhir(h.EffectiveTime) ?? throw Missing("ClinicalDocument/effectiveTime", "the creation date and time (HL7 TS)");
            doc.Date = DateTimeOffset.Parse(when.Length == 10 ? when + "T00:00:00+00:00" : when, global::System.Globalization.CultureInfo.InvariantCulture);
        }

        if (doc.Author.Count == 0)
        {
            doc.Author = [new ResourceReference("#author")];
            doc.Contained.Add(Author(h, terms));
        }

        if (!doc.SecurityLabel.SelectMany(l => l.Coding).Any(c => terms.Canonical(c.System) == Terminology.ConfidentialityAnsSystem))
        {
            var conf = h.Confidentiality ?? throw Missing("ClinicalDocument/confidentialityCode", "the confidentiality (N, R or V)");
            doc.SecurityLabel.Insert(0, new CodeableConcept(SystemOf(terms, conf.CodeSystem, "ClinicalDocument/confidentialityCode"), conf.Code));
        }

        if (doc.Content.Count == 1)
        {
            var content = doc.Content[0];
            var att = content.Attachment;
            att.Language ??= h.Language;
            att.Title ??= h.Title;
            att.Creation ??= Hl7Time.ToFhir(h.EffectiveTime);
            content.Format ??= Format(h, terms);
        }

        doc.Description ??= h.Title;
        doc.Context ??= new DocumentReference.ContextComponent();
        doc.Context.FacilityType ??= h.FacilityType is { } fac
            ? new CodeableConcept(SystemOf(terms, fac.CodeSystem, "componentOf/encompassingEncounter/location/healthCareFacility/code"), fac.Code)
            : throw Missing("componentOf/encompassingEncounter/location/healthCareFacility/code", "the facility type (JDV_J02)");
        doc.Context.PracticeSetting ??= h.PracticeSetting is { } ps
            ? new CodeableConcept(SystemOf(terms, ps.CodeSystem, "documentationOf/serviceEvent/performer/assignedEntity/representedOrganization/standardIndustryClassCode"), ps.Code)
            : throw Missing("documentationOf/serviceEvent/performer/assignedEntity/representedOrganization/standardIndustryClassCode", "the practice setting (JDV_J04)");
        if (doc.Context.Period is null && Hl7Time.ToFhir(h.ServiceStart) is { } start)
        {
            doc.Context.Period = new Period { Start = start, End = Hl7Time.ToFhir(h.ServiceEnd) };
        }

        if (doc.RelatesTo.Count == 0)
        {
            foreach (var rel in h.RelatedDocuments)
            {
                var code = rel.TypeCode switch
                {
                    "RPLC" => DocumentRelationshipType.Replaces,
                    "APND" => DocumentRelationshipType.Appends,
                    "XFRM" => DocumentRelationshipType.Transforms,
                    _ => throw DmpException.Invalid($"relatedDocument/@typeCode {rel.TypeCode}: RPLC, APND or XFRM expected", "relatedDocument"),
                };
                doc.RelatesTo.Add(new DocumentReference.RelatesToComponent { Code = code, Target = new ResourceReference { Identifier = new Identifier("urn:ietf:rfc:3986", rel.ParentId.UniqueId) } });
            }
        }

        if (doc.Subject is null)
        {
            var (system, value) = Ins(h) ?? throw Missing("recordTarget/patientRole/id", "the patient's INS (root 1.2.250.1.213.1.4.8, .9, .10 or .11)");
            doc.Subject = new ResourceReference($"Patient?identifier={system}|{value}");
        }
    }

    /// <summary>The format code of a CDA from its template ids (the most specific that ASS_A11 maps), or null.</summary>
    public static Coding? Format(CdaHeader h, TerminologySet terms)
    {
        foreach (var template in h.TemplateIds.Reverse())
        {
            var targets = terms.Map(TemplateToFormatMap, null, template);
            if (targets.Count == 0)
            {
                continue;
            }

            var target = targets.Count == 1 ? targets[0] : targets.FirstOrDefault(t => MediaTypeMatches(t.TargetCode, h.NonXmlMediaType));
            if (target is not null)
            {
                return new Coding(terms.Canonical(target.TargetSystem), target.TargetCode, terms.Display(target.TargetSystem, target.TargetCode));
            }
        }

        return null;
    }

    /// <summary>Level-1 CDA: ASS_A11 gives one format per embedded media type; the format code names it (xds-sd:pdf, :text, :jpeg, :rtf, :tiff).</summary>
    private static bool MediaTypeMatches(string formatCode, string? mediaType)
    {
        if (mediaType is null || mediaType.IndexOf('/', StringComparison.Ordinal) is var slash && slash < 0)
        {
            return false;
        }

        var token = mediaType == "text/plain" ? "text" : mediaType[(slash + 1)..].ToLowerInvariant();
        return formatCode.Contains(":" + token + ":", StringComparison.Ordinal);
    }

    private static PractitionerRole Author(CdaHeader h, TerminologySet terms)
    {
        var id = h.AuthorId ?? throw Missing("author/assignedAuthor/id", "the author (IdNatPs of the professional)");
        var identifier = new Identifier(id.Root == IdNatPsOid ? Rpps.IdNatPsSystem : "urn:oid:" + id.Root, id.Extension ?? id.Root);
        var role = new PractitionerRole
        {
            Id = "author",
            Identifier = [identifier],
            Practitioner = new ResourceReference { Identifier = identifier, Display = h.AuthorName },
        };
        if (h.AuthorSpecialty is { } spec)
        {
            role.Specialty = [new CodeableConcept(terms.SystemOfOid(spec.CodeSystem ?? string.Empty), spec.Code, spec.Display)];
        }

        return role;
    }

    private static string SystemOf(TerminologySet terms, string? oid, string element) =>
        oid is { Length: > 0 } ? terms.SystemOfOid(oid) : throw DmpException.Invalid($"{element}/@codeSystem is required", element);

    private static DmpException Missing(string element, string what) =>
        DmpException.Invalid($"{element} is missing: {what} comes from the CDA header when the DocumentReference does not give it", element);
}
