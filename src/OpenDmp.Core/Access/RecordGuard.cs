using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Access;

/// <summary>
/// The one way handlers ask the access policy about a record: read the record's facts, decide,
/// record the decision in the record's audit chain, and refuse with a 403 that reveals nothing of
/// the record's content.
/// </summary>
public sealed class RecordGuard(DmpDbContext db, WriteGate gate, AuditTrail audit)
{
    public Task<RecordFacts?> FactsAsync(string recordId, CancellationToken ct) =>
        db.Records.AsNoTracking().Where(x => x.RecordId == recordId)
            .Select(x => new RecordFacts(x.RecordId, x.Status, x.TreatingPhysicianId)).FirstOrDefaultAsync(ct);

    /// <summary>
    /// Decides; a denial is always audited then refused (403); a permit is audited here when
    /// <paramref name="auditPermit"/> (otherwise the caller audits it with its outcome details).
    /// </summary>
    public async Task<AccessDecision> RequireAsync(AccessRequest request, string verb, string objectType, string? objectId, string channel, bool auditPermit, CancellationToken ct, string refusal = "you are not authorised to access this patient's record")
    {
        var decision = AccessPolicy.Decide(request);
        if (!decision.Permitted)
        {
            await AuditAsync(new AuditItem(request.Record?.RecordId, request.Actor, verb, "denied", channel, objectType, objectId, Detail: decision.Reason), ct);
            throw new DmpException(ErrorKind.Forbidden, refusal + " (" + decision.Reason + ")");
        }

        if (auditPermit)
        {
            await AuditAsync(new AuditItem(request.Record?.RecordId, request.Actor, verb, "success", channel, objectType, objectId, decision.Mode), ct);
        }

        return decision;
    }

    /// <summary>Appends one entry in its own unit of work, under the record's write gate.</summary>
    public async Task AuditAsync(AuditItem item, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        await using (var scope = await gate.EnterAsync(db, item.RecordId, ct))
        {
            await audit.AppendAsync(db, item, ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        db.ChangeTracker.Clear();
    }
}
