using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Identity;

/// <summary>
/// A pair of identities that may be one person, in the identity-vigilance review queue: found by
/// <see cref="DuplicateScoring"/>, then decided by a person (the same person: to merge; or two
/// persons: never proposed again). Ids, a score and the agreement of the traits; no clinical content.
/// </summary>
public sealed class IdentityDuplicate
{
    public required string Id { get; set; }
    /// <summary>The two records, in ordinal order.</summary>
    public required string RecordIdA { get; set; }
    public required string RecordIdB { get; set; }
    public double Score { get; set; }
    public required string Reasons { get; set; }
    /// <summary>open, same-person or different-persons.</summary>
    public required string Status { get; set; }
    public DateTimeOffset DetectedAt { get; set; }
    public DateTimeOffset? ReviewedAt { get; set; }
    public string? ReviewedBy { get; set; }
}

/// <summary>What a detection run did.</summary>
public sealed record DuplicateReport(int Identities, long PairsCompared, int Candidates, int New, int AlreadyQueued, int AlreadyDecided, TimeSpan Elapsed)
{
    public override string ToString() =>
        $"{Identities} identities, {PairsCompared} pairs compared, {Candidates} possible duplicates ({New} new in the queue, {AlreadyQueued} already queued, {AlreadyDecided} already decided) in {Elapsed.TotalSeconds:F1} s";
}

/// <summary>One pair of the queue with both identities' strict traits, for the reviewer.</summary>
public sealed record DuplicatePair(IdentityDuplicate Pair, IdentityTraits A, IdentityTraits B, IdentityStatus StatusA, IdentityStatus StatusB);

/// <summary>Who may review and merge identities: the operator, or a professional of the identity-vigilance role (the policy decides; a refusal is audited).</summary>
internal static class IdentityOfficer
{
    public static async Task RequireAsync(DmpDbContext db, Access.RecordGuard guard, Actor actor, AuditAction verb, string objectType, string? objectId, string channel, CancellationToken ct)
    {
        if (actor.Kind == ActorKind.System)
        {
            return; // the operator's command line
        }

        var officer = actor.Kind == ActorKind.Professional && await db.Professionals.AsNoTracking().AnyAsync(p => p.Id == actor.Id && p.IdentityOfficer && p.DeactivatedAt == null, ct);
        await guard.RequireAsync(new Access.AccessRequest(actor, Access.AccessAction.ReviewIdentity, ActorFacts: Access.ActorFacts.Unknown with { IdentityOfficer = officer }),
            verb, objectType, objectId, channel, auditPermit: false, ct, "the review and merging of duplicate identities is for the identity-vigilance role");
    }
}

/// <summary>Runs the detection over every registered identity and keeps the review queue.</summary>
public sealed class DuplicateQueue(DmpDbContext db, WriteGate gate, AuditTrail audit, Access.RecordGuard guard, TimeProvider time)
{
    public const string Open = "open";
    public const string SamePerson = "same-person";
    public const string DifferentPersons = "different-persons";

    /// <summary>Compares every identity; queues the pairs at or above the threshold not queued or decided before.</summary>
    public async Task<DuplicateReport> DetectAsync(double threshold, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var identities = await db.Patients.AsNoTracking()
            .Select(p => new IdentityTraits(p.RecordId, p.Family, p.Given, p.BirthDate, p.Sex, p.BirthPlace, p.Ins, p.InsSystem)).ToListAsync(ct);
        var scan = DuplicateScoring.Find(identities, threshold);
        var known = (await db.IdentityDuplicates.AsNoTracking().Select(d => new { d.RecordIdA, d.RecordIdB, d.Status }).ToListAsync(ct))
            .ToDictionary(d => (d.RecordIdA, d.RecordIdB), d => d.Status);
        var now = time.GetUtcNow();
        int added = 0, queued = 0, decided = 0;
        await using var scope = await gate.EnterAsync(db, null, ct);
        foreach (var c in scan.Candidates)
        {
            if (known.TryGetValue((c.RecordIdA, c.RecordIdB), out var status))
            {
                _ = status == Open ? queued++ : decided++;
                continue;
            }

            db.IdentityDuplicates.Add(new IdentityDuplicate { Id = Ids.New(), RecordIdA = c.RecordIdA, RecordIdB = c.RecordIdB, Score = c.Score, Reasons = c.Reasons, Status = Open, DetectedAt = now });
            added++;
        }

        var report = new DuplicateReport(scan.Identities, scan.PairsCompared, scan.Candidates.Count, added, queued, decided, watch.Elapsed);
        await audit.AppendAsync(db, new AuditItem(null, Actor.Operator, AuditAction.Search, AuditOutcomes.Success, Channels.Admin, "IdentityDuplicate", null, Detail: "duplicate detection: " + report), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return report;
    }

    /// <summary>The queue's open pairs (best score first) with both identities.</summary>
    private async Task<IReadOnlyList<DuplicatePair>> OpenPairsAsync(int max, CancellationToken ct)
    {
        var pairs = await db.IdentityDuplicates.AsNoTracking().Where(d => d.Status == Open).OrderByDescending(d => d.Score).ThenBy(d => d.Id).Take(max).ToListAsync(ct);
        var ids = pairs.SelectMany(p => new[] { p.RecordIdA, p.RecordIdB }).Distinct(StringComparer.Ordinal).ToList();
        var people = await db.Patients.AsNoTracking().Where(p => ids.Contains(p.RecordId)).ToDictionaryAsync(p => p.RecordId, StringComparer.Ordinal, ct);
        IdentityTraits T(string id) => people[id] is var p ? new IdentityTraits(p.RecordId, p.Family, p.Given, p.BirthDate, p.Sex, p.BirthPlace, p.Ins, p.InsSystem) : throw new InvalidOperationException();
        return [.. pairs.Where(p => people.ContainsKey(p.RecordIdA) && people.ContainsKey(p.RecordIdB))
            .Select(p => new DuplicatePair(p, T(p.RecordIdA), T(p.RecordIdB), people[p.RecordIdA].IdentityStatus, people[p.RecordIdB].IdentityStatus))];
    }

    /// <summary>
    /// The queue as a reviewer sees it — the operator, or a professional of the identity-vigilance role
    /// (the policy decides; a refusal is audited): each identity shown is an access to its record's
    /// traits, on that record's chain.
    /// </summary>
    public async Task<IReadOnlyList<DuplicatePair>> ReviewAsync(Actor actor, string channel, int max, CancellationToken ct)
    {
        await RequireOfficerAsync(actor, AuditAction.Search, null, channel, ct);
        var pairs = await OpenPairsAsync(max, ct);
        foreach (var record in pairs.SelectMany(p => new[] { p.A.RecordId, p.B.RecordId }).Distinct(StringComparer.Ordinal))
        {
            await using var scope = await gate.EnterAsync(db, record, ct);
            await audit.AppendAsync(db, new AuditItem(record, actor, AuditAction.Read, AuditOutcomes.Success, channel, "Patient", record, Mode: "identity-vigilance", Detail: "identity vigilance: identity traits shown in the review of possible duplicates"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        return pairs;
    }

    private Task RequireOfficerAsync(Actor actor, AuditAction verb, string? pairId, string channel, CancellationToken ct) =>
        IdentityOfficer.RequireAsync(db, guard, actor, verb, "IdentityDuplicate", pairId, channel, ct);

    /// <summary>A reviewer's decision on a pair, on both records' audit chains.</summary>
    public async Task<IdentityDuplicate> DecideAsync(string pairId, bool samePerson, Actor actor, string channel, CancellationToken ct)
    {
        await RequireOfficerAsync(actor, AuditAction.Update, pairId, channel, ct);
        var pair = await db.IdentityDuplicates.AsNoTracking().FirstOrDefaultAsync(d => d.Id == pairId, ct) ?? throw DmpException.NotFound($"no pair {pairId} in the identity-vigilance queue");
        if (pair.Status != Open)
        {
            throw new DmpException(ErrorKind.Conflict, $"the pair {pairId} was already decided ({pair.Status})");
        }

        var status = samePerson ? SamePerson : DifferentPersons;
        var now = time.GetUtcNow();
        foreach (var (record, other) in new[] { (pair.RecordIdA, pair.RecordIdB), (pair.RecordIdB, pair.RecordIdA) })
        {
            await using var scope = await gate.EnterAsync(db, record, ct);
            if (record == pair.RecordIdA)
            {
                await db.IdentityDuplicates.Where(d => d.Id == pairId).ExecuteUpdateAsync(u => u.SetProperty(d => d.Status, status).SetProperty(d => d.ReviewedAt, now).SetProperty(d => d.ReviewedBy, actor.Id), ct);
            }

            await audit.AppendAsync(db, new AuditItem(record, actor, AuditAction.Update, AuditOutcomes.Success, channel, "Patient", record,
                Detail: samePerson ? $"identity vigilance: the same person as Patient/{other} (to merge)" : $"identity vigilance: not the same person as Patient/{other}"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        pair.Status = status;
        pair.ReviewedAt = now;
        pair.ReviewedBy = actor.Id;
        return pair;
    }
}
