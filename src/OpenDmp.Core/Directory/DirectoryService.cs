using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory;

/// <summary>Professionals and organisations (reference data shared by all records).</summary>
public sealed partial class DirectoryService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time)
{
    public async Task<Professional> AddProfessionalAsync(string rpps, string profession, string? specialty, string family, string given, Actor actor, string channel, CancellationToken ct, string? id = null)
    {
        if (Rpps.Validate(rpps) is { } err)
        {
            throw DmpException.Invalid(err);
        }

        if (Nomenclatures.Validate(profession, specialty) is { } nomErr)
        {
            throw DmpException.Invalid(nomErr);
        }

        if (string.IsNullOrWhiteSpace(family) || string.IsNullOrWhiteSpace(given))
        {
            throw DmpException.Invalid("family and given names are required");
        }

        await using var scope = await gate.EnterAsync(db, null, ct);
        if (await db.Professionals.AnyAsync(x => x.Rpps == rpps, ct))
        {
            throw new DmpException(ErrorKind.Conflict, $"a professional with RPPS {rpps} already exists");
        }

        var p = new Professional
        {
            Id = id ?? Ids.New(),
            Rpps = rpps,
            Family = family.Trim(),
            Given = given.Trim(),
            ProfessionCode = profession,
            SpecialtyCode = string.IsNullOrEmpty(specialty) ? null : specialty,
            SpecialtyDisplay = specialty is not null && Nomenclatures.Specialties.TryGetValue(specialty, out var d) ? d : null,
            CreatedAt = time.GetUtcNow(),
        };
        db.Professionals.Add(p);
        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Create, "success", channel, "Practitioner", p.Id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return p;
    }

    public Task<Organization?> FindOrganizationByFinessAsync(string finess, CancellationToken ct) =>
        db.Organizations.AsNoTracking().FirstOrDefaultAsync(o => o.Finess == finess.Trim(), ct);

    /// <summary>Whether a text has the shape of a FINESS number: 9 characters, digits (2A/2B for Corsica).</summary>
    public static bool IsFiness(string value) => FinessPattern().IsMatch(value);

    [System.Text.RegularExpressions.GeneratedRegex("^[0-9][0-9AB][0-9]{7}$")]
    private static partial System.Text.RegularExpressions.Regex FinessPattern();

    /// <summary>Adds an establishment (FINESS: 9 characters, 2A/2B for Corsica).</summary>
    public async Task<Organization> AddOrganizationAsync(string finess, string name, string? city, Actor actor, string channel, CancellationToken ct)
    {
        finess = finess.Trim();
        if (!IsFiness(finess))
        {
            throw DmpException.Invalid($"a FINESS number is 9 characters (digits; 2A/2B for Corsica), got '{finess}'");
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            throw DmpException.Invalid("the establishment's name is required");
        }

        await using var scope = await gate.EnterAsync(db, null, ct);
        if (await db.Organizations.AnyAsync(x => x.Finess == finess, ct))
        {
            throw new DmpException(ErrorKind.Conflict, $"an organisation with FINESS {finess} already exists");
        }

        var o = new Organization { Id = Ids.New(), Finess = finess, Name = name.Trim(), City = string.IsNullOrWhiteSpace(city) ? null : city.Trim(), CreatedAt = time.GetUtcNow() };
        db.Organizations.Add(o);
        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Create, AuditOutcomes.Success, channel, "Organization", o.Id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return o;
    }

    /// <summary>Grants or withdraws the access-review role (the signals of improper access), on the platform's audit chain.</summary>
    public async Task SetAccessReviewerAsync(string rpps, bool reviewer, Actor actor, string channel, CancellationToken ct)
    {
        var p = await FindByRppsAsync(rpps, ct) ?? throw DmpException.NotFound($"no professional with RPPS {rpps} in the directory");
        await using var scope = await gate.EnterAsync(db, null, ct);
        await db.Professionals.Where(x => x.Id == p.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.AccessReviewer, reviewer), ct);
        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Update, "success", channel, "Practitioner", p.Id, Detail: reviewer ? "access-review role granted" : "access-review role withdrawn"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>Grants or withdraws the identity-vigilance role (the review queue of possible duplicates), on the platform's audit chain.</summary>
    public async Task SetIdentityOfficerAsync(string rpps, bool officer, Actor actor, string channel, CancellationToken ct)
    {
        var p = await FindByRppsAsync(rpps, ct) ?? throw DmpException.NotFound($"no professional with RPPS {rpps} in the directory");
        await using var scope = await gate.EnterAsync(db, null, ct);
        await db.Professionals.Where(x => x.Id == p.Id).ExecuteUpdateAsync(u => u.SetProperty(x => x.IdentityOfficer, officer), ct);
        await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Update, AuditOutcomes.Success, channel, "Practitioner", p.Id, Detail: officer ? "identity-vigilance role granted" : "identity-vigilance role withdrawn"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    public Task<Professional?> FindByRppsAsync(string rpps, CancellationToken ct) =>
        db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps, ct);

    /// <summary>Publishes a professional's secure-messaging address and certificate (PEM) in the directory.</summary>
    public async Task SetMessagingAsync(string rpps, string email, string certificatePem, CancellationToken ct)
    {
        var address = EmailAddress.Require(email, "email");
        var p = await db.Professionals.FirstOrDefaultAsync(x => x.Rpps == rpps, ct) ?? throw DmpException.Invalid($"no professional with RPPS {rpps} in the directory");
        p.Email = address.ToLowerInvariant();
        p.MessagingCertificate = certificatePem;
        await db.SaveChangesAsync(ct);
    }

    public Task<Professional?> FindByIdAsync(string id, CancellationToken ct) =>
        db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct);

    /// <summary>Declares a group practice (maison de santé, network, health centre) and its members.</summary>
    public async Task<Access.CareGroup> AddGroupAsync(string name, string kind, IReadOnlyList<string> memberRpps, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            throw DmpException.Invalid("the group needs a name");
        }

        if (kind is not ("msp" or "network" or "health-centre"))
        {
            throw DmpException.Invalid($"the kind of group is msp, network or health-centre, got '{kind}'");
        }

        var members = new List<string>();
        foreach (var rpps in memberRpps.Distinct(StringComparer.Ordinal))
        {
            var p = await FindByRppsAsync(rpps, ct) ?? throw DmpException.Invalid($"no professional with RPPS {rpps} in the directory");
            members.Add(p.Id);
        }

        if (members.Count == 0)
        {
            throw DmpException.Invalid("a group needs at least one member");
        }

        await using var scope = await gate.EnterAsync(db, null, ct);
        var group = new Access.CareGroup { Id = Ids.New(), Name = name.Trim(), Kind = kind, CreatedAt = time.GetUtcNow() };
        db.CareGroups.Add(group);
        db.CareGroupMembers.AddRange(members.Select(m => new Access.CareGroupMember { GroupId = group.Id, ProfessionalId = m }));
        await audit.AppendAsync(db, new AuditItem(null, Actor.Operator, AuditAction.Create, "success", Channels.Admin, "Group", group.Id, Detail: $"{members.Count} member(s)"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return group;
    }
}
