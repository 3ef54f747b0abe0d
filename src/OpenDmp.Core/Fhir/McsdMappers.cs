using Hl7.Fhir.Model;
using OpenDmp.Core.Identity;
using DirActivity = OpenDmp.Core.Directory.PractitionerActivity;
using DirOrganization = OpenDmp.Core.Directory.Organization;
using DirProfessional = OpenDmp.Core.Directory.Professional;

namespace OpenDmp.Core.Fhir;

/// <summary>
/// The directory as IHE mCSD resources: an establishment is an Organization and its Location (same
/// id); a professional's activity at a site is a PractitionerRole and the site's Location (same id).
/// Codes are the ANS nomenclatures the extractions carry (TRE_G15 professions, TRE_R38 savoir-faire,
/// TRE_R66 establishment categories, TRE_R23 modes of practice).
/// </summary>
public static class McsdMappers
{
    public const string FinessSystem = "urn:oid:1.2.250.1.71.4.2.2";
    public const string CategorySystem = "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement";
    public const string PracticeModeSystem = "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice";
    public const string SkillSystem = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale";

    /// <summary>An establishment as an mCSD Organization (FINESS identifiers, category, address, active).</summary>
    public static Organization ToOrganization(DirOrganization o)
    {
        var r = new Organization { Id = o.Id, Meta = new Meta { LastUpdated = o.UpdatedAt ?? o.CreatedAt }, Active = o.DeactivatedAt is null, Name = o.Name };
        if (o.Finess is not null)
        {
            r.Identifier.Add(new Identifier(FinessSystem, o.Finess) { Type = new CodeableConcept("http://interopsante.org/fhir/CodeSystem/fr-v2-0203", "FINEG") });
        }
        else if (o.IdentifierValue is not null)
        {
            r.Identifier.Add(new Identifier(o.IdentifierSystem, o.IdentifierValue));
        }

        if (o.TypeCode is not null)
        {
            r.Type.Add(new CodeableConcept(CategorySystem, o.TypeCode, o.TypeLabel));
        }

        if (Address(o.AddressLine, o.PostalCode, o.City, o.DepartmentCode) is { } address)
        {
            r.Address.Add(address);
        }

        if (o.Phone is not null)
        {
            r.Telecom.Add(new ContactPoint(ContactPoint.ContactPointSystem.Phone, ContactPoint.ContactPointUse.Work, o.Phone));
        }

        return r;
    }

    /// <summary>An establishment's site as an mCSD Location (its position, managed by the Organization of the same id).</summary>
    public static Location ToLocation(DirOrganization o)
    {
        var r = new Location
        {
            Id = o.Id,
            Meta = new Meta { LastUpdated = o.UpdatedAt ?? o.CreatedAt },
            Status = o.DeactivatedAt is null ? Location.LocationStatus.Active : Location.LocationStatus.Inactive,
            Name = o.Name,
            Mode = Location.LocationMode.Instance,
            ManagingOrganization = new ResourceReference("Organization/" + o.Id, o.Name),
            Address = Address(o.AddressLine, o.PostalCode, o.City, o.DepartmentCode),
        };
        if (o.Finess is not null)
        {
            r.Identifier.Add(new Identifier(FinessSystem, o.Finess));
        }

        if (o.TypeCode is not null)
        {
            r.Type.Add(new CodeableConcept(CategorySystem, o.TypeCode, o.TypeLabel));
        }

        if (o.Phone is not null)
        {
            r.Telecom.Add(new ContactPoint(ContactPoint.ContactPointSystem.Phone, ContactPoint.ContactPointUse.Work, o.Phone));
        }

        Position(r, o.Latitude, o.Longitude);
        return r;
    }

    /// <summary>A professional's activity site as an mCSD Location (same id as the PractitionerRole).</summary>
    public static Location ToLocation(DirActivity a, string? organizationId)
    {
        var r = new Location
        {
            Id = a.Id,
            Meta = new Meta { LastUpdated = a.UpdatedAt ?? a.CreatedAt },
            Status = a.EndedAt is null ? Location.LocationStatus.Active : Location.LocationStatus.Inactive,
            Name = a.SiteName,
            Mode = Location.LocationMode.Instance,
            Address = Address(a.AddressLine, a.PostalCode, a.City, a.DepartmentCode),
        };
        if (organizationId is not null)
        {
            r.ManagingOrganization = new ResourceReference("Organization/" + organizationId, a.SiteName);
        }

        if (a.Phone is not null)
        {
            r.Telecom.Add(new ContactPoint(ContactPoint.ContactPointSystem.Phone, ContactPoint.ContactPointUse.Work, a.Phone));
        }

        Position(r, a.Latitude, a.Longitude);
        return r;
    }

    /// <summary>A professional's activity as an mCSD PractitionerRole.</summary>
    public static PractitionerRole ToPractitionerRole(DirActivity a, DirProfessional p, string? organizationId)
    {
        var r = new PractitionerRole
        {
            Id = a.Id,
            Meta = new Meta { LastUpdated = a.UpdatedAt ?? a.CreatedAt },
            Active = a.EndedAt is null && p.DeactivatedAt is null,
            Practitioner = new ResourceReference("Practitioner/" + p.Id, p.DisplayName),
            Location = [new ResourceReference("Location/" + a.Id, a.SiteName)],
        };
        if (organizationId is not null)
        {
            r.Organization = new ResourceReference("Organization/" + organizationId, a.SiteName);
        }

        if (a.ProfessionCode is not null)
        {
            r.Code.Add(new CodeableConcept(Nomenclatures.ProfessionSystem, a.ProfessionCode, a.ProfessionLabel ?? Nomenclatures.Professions.GetValueOrDefault(a.ProfessionCode)));
        }

        if (a.PracticeMode is not null)
        {
            r.Code.Add(new CodeableConcept(PracticeModeSystem, a.PracticeMode));
        }

        if (a.SkillCode is not null)
        {
            r.Specialty.Add(new CodeableConcept(SkillSystem, a.SkillCode, a.SkillLabel));
        }

        if (a.Phone is not null)
        {
            r.Telecom.Add(new ContactPoint(ContactPoint.ContactPointSystem.Phone, ContactPoint.ContactPointUse.Work, a.Phone));
        }

        return r;
    }

    private static Address? Address(string? line, string? postalCode, string? city, string? department)
    {
        if (line is null && postalCode is null && city is null)
        {
            return null;
        }

        var address = new Address { Use = Hl7.Fhir.Model.Address.AddressUse.Work, PostalCode = postalCode, City = city, District = department, Country = "FRA" };
        if (line is not null)
        {
            address.Line = [line];
        }

        return address;
    }

    private static void Position(Location r, double? latitude, double? longitude)
    {
        if (latitude is { } lat && longitude is { } lon)
        {
            r.Position = new Location.PositionComponent { Latitude = (decimal)lat, Longitude = (decimal)lon };
        }
    }
}
