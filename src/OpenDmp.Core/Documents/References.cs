using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Documents;

/// <summary>Resolution of patient and author references as MHD sources write them.</summary>
public static class References
{
    /// <summary>The logical id of a literal reference "Type/id" or "base/Type/id[/_history/v]", or null.</summary>
    public static string? LogicalId(string? reference, string type)
    {
        if (string.IsNullOrEmpty(reference) || reference.Contains('?', StringComparison.Ordinal))
        {
            return null;
        }

        var parts = reference.Split('/');
        for (var i = parts.Length - 2; i >= 0; i--)
        {
            if (parts[i] == type)
            {
                return parts[i + 1];
            }
        }

        return null;
    }

    /// <summary>Parses "Type?identifier=system|value" into (system, value), or null.</summary>
    public static (string? System, string Value)? ConditionalIdentifier(string? reference, string type)
    {
        var prefix = type + "?identifier=";
        if (reference is null || !reference.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var token = Uri.UnescapeDataString(reference[prefix.Length..]);
        var bar = token.IndexOf('|', StringComparison.Ordinal);
        return bar < 0 ? (null, token) : (token[..bar], token[(bar + 1)..]);
    }

    /// <summary>
    /// The record id a search names by patient / subject (the id itself: patient id = record id, its
    /// facts are then loaded in one query) or patient.identifier (resolved; null when unknown); 400
    /// when the search names no patient.
    /// </summary>
    public static async Task<string?> RecordOfPatientParamAsync(DmpDbContext db, OpenDmp.Core.Fhir.SearchParams sp, CancellationToken ct)
    {
        if ((sp.First("patient") ?? sp.First("subject")) is { } reference)
        {
            return LogicalId(reference, "Patient") ?? reference;
        }

        if (sp.First("patient.identifier") is { } ident)
        {
            var (system, value) = OpenDmp.Core.Fhir.SearchParams.Token(ident);
            return await ResolvePatientAsync(db, new ResourceReference { Identifier = new Identifier(system, value) }, ct);
        }

        throw new DmpException(ErrorKind.BadRequest, "a patient is required: patient=[id] or patient.identifier=[system]|[INS]");
    }

    /// <summary>
    /// Directory ids of professionals by RPPS, as found (a professional's row is never deleted and its
    /// RPPS never changes, so a found id stays true; an unknown RPPS is not remembered: it may be added).
    /// Saves a query on each deposit, whose author is usually the depositing professional. Keyed by
    /// database too: one process may serve several (tests, tools).
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> ProfessionalIds = new(StringComparer.Ordinal);

    private const int MaxRememberedProfessionals = 200_000;

    private static async Task<string?> ProfessionalIdByRppsAsync(DmpDbContext db, string rpps, CancellationToken ct)
    {
        var key = db.Database.GetConnectionString() + "\n" + rpps;
        if (ProfessionalIds.TryGetValue(key, out var known))
        {
            return known;
        }

        var id = await db.Professionals.AsNoTracking().Where(x => x.Rpps == rpps).Select(x => x.Id).FirstOrDefaultAsync(ct);
        if (id is not null)
        {
            if (ProfessionalIds.Count >= MaxRememberedProfessionals)
            {
                ProfessionalIds.Clear();
            }

            ProfessionalIds[key] = id;
        }

        return id;
    }

    /// <summary>Finds the record id designated by a patient reference (literal id, INS identifier, conditional), or null.</summary>
    public static async Task<string?> ResolvePatientAsync(DmpDbContext db, ResourceReference? subject, CancellationToken ct)
    {
        if (subject is null)
        {
            return null;
        }

        if (LogicalId(subject.Reference, "Patient") is { } id)
        {
            return await db.Patients.AsNoTracking().Where(x => x.RecordId == id).Select(x => x.RecordId).FirstOrDefaultAsync(ct);
        }

        (string? System, string Value)? ident = subject.Identifier is { Value: not null } i ? (i.System, i.Value) : ConditionalIdentifier(subject.Reference, "Patient");
        if (ident is { } k)
        {
            var value = Ins.KindOf(k.System) is null or InsKind.Local ? k.Value : Ins.Normalize(k.Value);
            var q = db.PatientIdentifiers.AsNoTracking().Where(x => x.Value == value);
            if (k.System is not null)
            {
                q = q.Where(x => x.System == k.System);
            }

            var records = await q.Select(x => x.RecordId).Distinct().Take(2).ToListAsync(ct);
            return records.Count > 1
                ? throw DmpException.Invalid($"the identifier {k.Value} designates patients under several systems: give its system (system|value)", "subject.identifier")
                : records.FirstOrDefault();
        }

        return null;
    }

    /// <summary>An author as resolved: the directory professional when known, the identifier and a display.</summary>
    public sealed record Author(string? ProfessionalId, string? Identifier, string? Display);

    /// <summary>Resolves an author reference: contained (#id) PractitionerRole/Practitioner, Practitioner/{id}, or conditional identifier.</summary>
    public static async Task<Author?> ResolveAuthorAsync(DmpDbContext db, ResourceReference reference, IEnumerable<Resource> contained, CancellationToken ct)
    {
        Identifier? identifier = reference.Identifier;
        string? display = reference.Display;
        if (reference.Reference is { } r && r.StartsWith('#'))
        {
            var c = contained.FirstOrDefault(x => x.Id == r[1..]);
            switch (c)
            {
                case PractitionerRole role:
                    identifier ??= role.Identifier.FirstOrDefault() ?? role.Practitioner?.Identifier;
                    display ??= role.Practitioner?.Display;
                    break;
                case Practitioner pr:
                    identifier ??= pr.Identifier.FirstOrDefault();
                    display ??= pr.Name.FirstOrDefault()?.ToString();
                    break;
                case Organization org:
                    identifier ??= org.Identifier.FirstOrDefault();
                    display ??= org.Name;
                    break;
                case Hl7.Fhir.Model.Patient:
                    display ??= "patient";
                    break;
                case null:
                    throw DmpException.Invalid($"author reference {r} points to no contained resource", "DocumentReference.author");
                default:
                    break;
            }
        }
        else if (LogicalId(reference.Reference, "Practitioner") is { } pid)
        {
            var p = await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == pid, ct)
                ?? throw DmpException.Invalid($"author Practitioner/{pid} is not in the directory", "DocumentReference.author");
            return new Author(p.Id, p.Rpps is null ? p.IdentifierValue : Rpps.ToIdNatPs(p.Rpps), p.DisplayName);
        }
        else if (ConditionalIdentifier(reference.Reference, "Practitioner") is { } cond)
        {
            identifier ??= new Identifier(cond.System, cond.Value);
        }

        if (identifier?.Value is null && string.IsNullOrWhiteSpace(display))
        {
            return null;
        }

        string? professionalId = null;
        if (identifier?.Value is { } v)
        {
            var rpps = Rpps.FromIdentifier(identifier.System, v);
            if (rpps is not null)
            {
                professionalId = await ProfessionalIdByRppsAsync(db, rpps, ct);
            }
            else if (identifier.System is not null)
            {
                professionalId = await db.Professionals.AsNoTracking().Where(x => x.IdentifierSystem == identifier.System && x.IdentifierValue == v).Select(x => x.Id).FirstOrDefaultAsync(ct);
            }
        }

        return new Author(professionalId, identifier?.Value, display);
    }
}
