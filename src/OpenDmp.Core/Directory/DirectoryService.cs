using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory;

/// <summary>Professionals and organisations (reference data shared by all records).</summary>
public sealed class DirectoryService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time)
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
        await audit.AppendAsync(db, new AuditItem(null, actor, "create", "success", channel, "Practitioner", p.Id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return p;
    }

    public Task<Professional?> FindByRppsAsync(string rpps, CancellationToken ct) =>
        db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps, ct);

    public Task<Professional?> FindByIdAsync(string id, CancellationToken ct) =>
        db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct);
}
