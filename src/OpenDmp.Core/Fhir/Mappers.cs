using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using DirProfessional = OpenDmp.Core.Directory.Professional;
using DmpPatient = OpenDmp.Core.Records.Patient;

namespace OpenDmp.Core.Fhir;

/// <summary>Projection of OpenDMP entities to FHIR R4 resources (FR Core / PDQm / mCSD shapes).</summary>
public static class Mappers
{
    public static Patient ToFhir(DmpPatient p, Records.Record? record, IReadOnlyList<string>? replaces = null)
    {
        var r = new Patient
        {
            Id = p.RecordId,
            Meta = new Meta { LastUpdated = p.UpdatedAt },
            Active = record?.Status == Records.RecordStatus.Open,
            Gender = p.Sex switch { "M" => AdministrativeGender.Male, "F" => AdministrativeGender.Female, _ => AdministrativeGender.Unknown },
            BirthDate = p.BirthDate.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        };
        var identifier = new Identifier(p.InsSystem, p.Ins)
        {
            Use = p.IsTestIdentity ? Identifier.IdentifierUse.Temp : Identifier.IdentifierUse.Official,
            Type = new CodeableConcept("https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", p.InsSystem == Ins.NiaSystem ? "INS-NIA" : "INS-NIR"),
        };
        r.Identifier.Add(identifier);
        var given = p.Given.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        r.Name.Add(new HumanName { Use = HumanName.NameUse.Official, Family = p.Family, Given = given });
        if (p.BirthPlace is not null)
        {
            r.Extension.Add(new Extension("http://hl7.org/fhir/StructureDefinition/patient-birthPlace", new Address { Extension = { new Extension("https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code", new Coding("https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM", p.BirthPlace)) } }));
        }

        r.Extension.Add(IdentityVigilance.ToExtension(p.IdentityStatus, p.IdentityDocument, p.IdentityCheckedOn));
        // IHE PMIR: a merged identity is inactive and names its survivor; the survivor names what it replaces.
        if (record is { Status: Records.RecordStatus.Merged, MergedInto: { } survivor })
        {
            r.Link.Add(new Patient.LinkComponent { Other = new ResourceReference($"Patient/{survivor}"), Type = Patient.LinkType.ReplacedBy });
        }

        foreach (var merged in replaces ?? [])
        {
            r.Link.Add(new Patient.LinkComponent { Other = new ResourceReference($"Patient/{merged}"), Type = Patient.LinkType.Replaces });
        }

        DocumentResources.MarkTest(r.Meta, p.IsTestIdentity);
        return r;
    }

    public static Practitioner ToFhir(DirProfessional p)
    {
        var r = new Practitioner { Id = p.Id, Meta = new Meta { LastUpdated = p.UpdatedAt ?? p.CreatedAt }, Active = p.DeactivatedAt is null };
        if (p.Rpps is not null)
        {
            r.Identifier.Add(new Identifier(Rpps.IdNatPsSystem, Rpps.ToIdNatPs(p.Rpps)) { Type = new CodeableConcept("http://interopsante.org/fhir/CodeSystem/fr-v2-0203", "IDNPS") });
            r.Identifier.Add(new Identifier(Rpps.RppsSystem, p.Rpps) { Type = new CodeableConcept("http://interopsante.org/fhir/CodeSystem/fr-v2-0203", "RPPS") });
        }
        else if (p.IdentifierValue is not null)
        {
            r.Identifier.Add(new Identifier(p.IdentifierSystem, p.IdentifierValue));
        }

        var name = new HumanName { Family = p.Family, Given = [p.Given] };
        if (p.Prefix is not null)
        {
            name.Prefix = [p.Prefix];
        }

        r.Name.Add(name);
        if (p.ProfessionCode is not null)
        {
            r.Qualification.Add(new Practitioner.QualificationComponent { Code = new CodeableConcept(Nomenclatures.ProfessionSystem, p.ProfessionCode, Nomenclatures.Professions.GetValueOrDefault(p.ProfessionCode)) });
        }

        if (p.SpecialtyCode is not null)
        {
            r.Qualification.Add(new Practitioner.QualificationComponent { Code = new CodeableConcept(Nomenclatures.SpecialtySystem, p.SpecialtyCode, p.SpecialtyDisplay) });
        }

        if (p.Email is not null)
        {
            r.Telecom.Add(new ContactPoint(ContactPoint.ContactPointSystem.Email, ContactPoint.ContactPointUse.Work, p.Email));
        }

        return r;
    }
}
