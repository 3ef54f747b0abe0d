using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory;

/// <summary>A staff member and the declaration that they work for a professional, as the professional sees it.</summary>
public sealed record StaffEntry(StaffMember Member, StaffAssignment Assignment);

/// <summary>
/// Staff members who work for professionals (the report's chapter V: medical secretaries, pharmacy
/// assistants). The operator registers a staff member with their staff card; a professional — or the
/// operator for a structure — declares that the staff member works for them and whether they may read;
/// every declaration and its end are on the platform's audit chain. At authentication the staff card
/// becomes an actor acting for one professional (<see cref="ActorAsync"/>).
/// </summary>
public sealed partial class StaffService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time)
{
    /// <summary>The staff card identifier: letters, digits, '-' or '/', 1 to 30 characters.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9/-]{0,29}$")]
    private static partial Regex IdentifierPattern();

    public static string? ValidateIdentifier(string identifier) => IdentifierPattern().IsMatch(identifier)
        ? null
        : $"a staff identifier is 1 to 30 letters, digits, '-' or '/' (got '{(identifier.Length > 40 ? identifier[..40] + "…" : identifier)}')";

    /// <summary>Registers a staff member (the staff card's holder); an existing identifier with the same name is returned as is.</summary>
    public async Task<StaffMember> RegisterAsync(string identifier, string family, string given, string? organizationId, Actor actor, string channel, CancellationToken ct)
    {
        if (ValidateIdentifier(identifier) is { } err)
        {
            throw DmpException.Invalid(err);
        }

        if (string.IsNullOrWhiteSpace(family) || string.IsNullOrWhiteSpace(given))
        {
            throw DmpException.Invalid("the staff member's family and given names are required");
        }

        if (organizationId is not null && !await db.Organizations.AnyAsync(o => o.Id == organizationId, ct))
        {
            throw DmpException.NotFound($"no organisation {organizationId} in the directory");
        }

        await using var scope = await gate.EnterAsync(db, null, ct);
        var existing = await db.StaffMembers.FirstOrDefaultAsync(x => x.Identifier == identifier, ct);
        if (existing is not null)
        {
            if (!string.Equals(existing.Family, family.Trim(), StringComparison.OrdinalIgnoreCase) || !string.Equals(existing.Given, given.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                throw new DmpException(ErrorKind.Conflict, $"the staff identifier {identifier} belongs to {existing.DisplayName}");
            }

            return existing;
        }

        var member = new StaffMember { Id = Ids.New(), Identifier = identifier, Family = family.Trim(), Given = given.Trim(), OrganizationId = organizationId, CreatedAt = time.GetUtcNow() };
        db.StaffMembers.Add(member);
        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Create, AuditOutcomes.Success, channel, "Staff", member.Id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return member;
    }

    /// <summary>
    /// Declares that the staff member works for the professional (the professional themselves, or the
    /// operator for a structure); declaring again changes whether they may read.
    /// </summary>
    public async Task<StaffEntry> DeclareAsync(string staffIdentifier, string professionalId, bool mayRead, Actor actor, string channel, CancellationToken ct)
    {
        RequireProfessionalOrOperator(actor, professionalId);
        var member = await db.StaffMembers.AsNoTracking().FirstOrDefaultAsync(x => x.Identifier == staffIdentifier.Trim(), ct)
            ?? throw DmpException.NotFound($"no staff member with the identifier {staffIdentifier.Trim()}: the operator registers staff cards (opendmp pki issue-staff)");
        if (member.DeactivatedAt is not null)
        {
            throw new DmpException(ErrorKind.Conflict, $"{member.DisplayName} ({member.Identifier}) has been deactivated");
        }

        if (!await db.Professionals.AnyAsync(p => p.Id == professionalId && p.DeactivatedAt == null, ct))
        {
            throw DmpException.NotFound($"no active professional {professionalId} in the directory");
        }

        await using var scope = await gate.EnterAsync(db, null, ct);
        var assignment = await db.StaffAssignments.FirstOrDefaultAsync(x => x.StaffId == member.Id && x.ProfessionalId == professionalId && x.EndedAt == null, ct);
        if (assignment is null)
        {
            assignment = new StaffAssignment { Id = Ids.New(), StaffId = member.Id, ProfessionalId = professionalId, MayRead = mayRead, DeclaredBy = actor.Id, CreatedAt = time.GetUtcNow() };
            db.StaffAssignments.Add(assignment);
        }
        else
        {
            assignment.MayRead = mayRead;
        }

        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.StaffDeclare, AuditOutcomes.Success, channel, "Staff", member.Id, Detail: $"works for {professionalId}{(mayRead ? ", may read" : ", files only")}"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return new StaffEntry(member, assignment);
    }

    /// <summary>Ends the staff member's work for the professional: their card no longer acts for them.</summary>
    public async Task EndAsync(string staffIdentifier, string professionalId, Actor actor, string channel, CancellationToken ct)
    {
        RequireProfessionalOrOperator(actor, professionalId);
        var member = await db.StaffMembers.AsNoTracking().FirstOrDefaultAsync(x => x.Identifier == staffIdentifier.Trim(), ct)
            ?? throw DmpException.NotFound($"no staff member with the identifier {staffIdentifier.Trim()}");
        await using var scope = await gate.EnterAsync(db, null, ct);
        var now = time.GetUtcNow();
        var ended = await db.StaffAssignments.Where(x => x.StaffId == member.Id && x.ProfessionalId == professionalId && x.EndedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(x => x.EndedAt, now), ct);
        if (ended == 0)
        {
            throw DmpException.NotFound($"{member.DisplayName} does not work for this professional");
        }

        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.StaffEnd, AuditOutcomes.Success, channel, "Staff", member.Id, Detail: $"no longer works for {professionalId}"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>
    /// The operator deactivates a staff member (left the structure, card lost): every assignment ends
    /// at once, the card no longer authenticates, and no one can declare them again.
    /// </summary>
    public async Task DeactivateAsync(string staffIdentifier, Actor actor, string channel, CancellationToken ct)
    {
        if (actor.Kind != ActorKind.System)
        {
            throw new DmpException(ErrorKind.Forbidden, "the operator deactivates a staff member (a professional ends their own staff member's work in Personnel)");
        }

        await using var scope = await gate.EnterAsync(db, null, ct);
        var member = await db.StaffMembers.FirstOrDefaultAsync(x => x.Identifier == staffIdentifier.Trim(), ct)
            ?? throw DmpException.NotFound($"no staff member with the identifier {staffIdentifier.Trim()}");
        if (member.DeactivatedAt is not null)
        {
            throw new DmpException(ErrorKind.Conflict, $"{member.DisplayName} ({member.Identifier}) is already deactivated");
        }

        var now = time.GetUtcNow();
        member.DeactivatedAt = now;
        var ended = await db.StaffAssignments.Where(x => x.StaffId == member.Id && x.EndedAt == null).ExecuteUpdateAsync(u => u.SetProperty(x => x.EndedAt, now), ct);
        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.StaffEnd, AuditOutcomes.Success, channel, "Staff", member.Id, Detail: $"deactivated; {ended} assignment(s) ended"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The staff members currently working for a professional.</summary>
    public async Task<IReadOnlyList<StaffEntry>> OfProfessionalAsync(string professionalId, CancellationToken ct)
    {
        var rows = await (from a in db.StaffAssignments.AsNoTracking()
                          join m in db.StaffMembers.AsNoTracking() on a.StaffId equals m.Id
                          where a.ProfessionalId == professionalId && a.EndedAt == null
                          orderby m.Family, m.Given
                          select new { m, a }).ToListAsync(ct);
        return rows.Select(r => new StaffEntry(r.m, r.a)).ToList();
    }

    /// <summary>The active staff member of a staff card's identifier, or null.</summary>
    public Task<StaffMember?> FindActiveAsync(string identifier, CancellationToken ct) =>
        db.StaffMembers.AsNoTracking().FirstOrDefaultAsync(x => x.Identifier == identifier && x.DeactivatedAt == null, ct);

    /// <summary>
    /// The actor of a staff card for this request: acting for the professional named by
    /// <paramref name="onBehalfOf"/> (RPPS or directory id), or for the only professional they work
    /// for. Read on every request: an ended declaration stops at once.
    /// </summary>
    public async Task<Actor> ActorAsync(StaffMember member, string? onBehalfOf, CancellationToken ct)
    {
        var employers = await (from a in db.StaffAssignments.AsNoTracking()
                               join p in db.Professionals.AsNoTracking() on a.ProfessionalId equals p.Id
                               where a.StaffId == member.Id && a.EndedAt == null && p.DeactivatedAt == null
                               select new { p.Id, p.Rpps, p.Prefix, p.Given, p.Family, p.ProfessionCode, p.SpecialtyCode, a.MayRead }).ToListAsync(ct);
        if (employers.Count == 0)
        {
            throw new DmpException(ErrorKind.Forbidden, $"{member.DisplayName}: no professional has declared that you work for them (the professional declares it in the professional portal, Personnel)");
        }

        var chosen = string.IsNullOrWhiteSpace(onBehalfOf)
            ? employers.Count == 1 ? employers[0] : throw new DmpException(ErrorKind.Forbidden, $"you work for several professionals: name the one you act for in the header {OnBehalfOfHeader} (RPPS): {string.Join(", ", employers.Select(e => e.Rpps ?? e.Id))}")
            : employers.FirstOrDefault(e => e.Rpps == onBehalfOf.Trim() || e.Id == onBehalfOf.Trim())
                ?? throw new DmpException(ErrorKind.Forbidden, $"you do not work for the professional {onBehalfOf.Trim()}");
        var display = string.IsNullOrEmpty(chosen.Prefix) ? $"{chosen.Given} {chosen.Family}" : $"{chosen.Prefix} {chosen.Given} {chosen.Family}";
        return new Actor(ActorKind.Staff, member.Id, member.DisplayName, chosen.ProfessionCode, Mandate: new StaffMandate(chosen.Id, display, chosen.MayRead, chosen.SpecialtyCode));
    }

    /// <summary>The header in which a staff member working for several professionals names the one they act for.</summary>
    public const string OnBehalfOfHeader = "X-OpenDMP-On-Behalf-Of";

    private static void RequireProfessionalOrOperator(Actor actor, string professionalId)
    {
        if (!(actor.Kind == ActorKind.System || (actor.Kind == ActorKind.Professional && actor.Id == professionalId)))
        {
            throw new DmpException(ErrorKind.Forbidden, "a professional declares their own staff (the operator does it for a structure)");
        }
    }
}
