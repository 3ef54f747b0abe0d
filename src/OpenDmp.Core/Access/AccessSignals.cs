using System.Globalization;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Access;

/// <summary>
/// A rule over the trail of accesses (configuration <c>AccessSignals:Rules</c>): <c>new-records</c> —
/// a professional reaching for the first time at least <see cref="Count"/> records they are not the
/// treating physician of (no prior link), within
/// <see cref="WindowMinutes"/>; <c>emergency</c> — at least <see cref="Count"/> emergency accesses
/// (break-glass, centre 15) by the same professional within the window; <c>around-block</c> — a
/// professional reaching, or trying to reach, a record within the window before or after its patient
/// blocked them.
/// </summary>
public sealed class AccessSignalRule
{
    public string Id { get; set; } = string.Empty;
    public string Kind { get; set; } = string.Empty;
    public int Count { get; set; } = 1;
    public int WindowMinutes { get; set; } = 60;

    public TimeSpan Window => TimeSpan.FromMinutes(WindowMinutes);
}

/// <summary>Settings of the signals of improper access (section <c>AccessSignals</c>).</summary>
public sealed class AccessSignalOptions
{
    public const string NewRecords = "new-records";
    public const string Emergency = "emergency";
    public const string AroundBlock = "around-block";

    /// <summary>Seconds between two scans of the trail (0: off).</summary>
    public double ScanSeconds { get; set; } = 60;

    /// <summary>The rules; when not configured, <see cref="DefaultRules"/>.</summary>
    public List<AccessSignalRule>? Rules { get; set; }

    public IReadOnlyList<AccessSignalRule> EffectiveRules => Rules ?? DefaultRules;

    /// <summary>The default set (README "Signals of improper access").</summary>
    public static IReadOnlyList<AccessSignalRule> DefaultRules { get; } =
    [
        new() { Id = "many-new-records", Kind = NewRecords, Count = 20, WindowMinutes = 60 },
        new() { Id = "repeated-emergency", Kind = Emergency, Count = 3, WindowMinutes = 24 * 60 },
        new() { Id = "around-block", Kind = AroundBlock, Count = 1, WindowMinutes = 60 },
    ];

    public IEnumerable<string> Problems()
    {
        if (ScanSeconds < 0)
        {
            yield return $"AccessSignals:ScanSeconds: must be 0 (off) or more, got {ScanSeconds.ToString(CultureInfo.InvariantCulture)}";
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < (Rules?.Count ?? 0); i++)
        {
            var r = Rules![i];
            var key = $"AccessSignals:Rules:{i}";
            if (string.IsNullOrWhiteSpace(r.Id) || !ids.Add(r.Id))
            {
                yield return $"{key}:Id: each rule needs an Id of its own";
            }

            if (r.Kind is not (NewRecords or Emergency or AroundBlock))
            {
                yield return $"{key}:Kind: {NewRecords}, {Emergency} or {AroundBlock}, got '{r.Kind}'";
            }

            if (r.Count < 1 || r.WindowMinutes < 1)
            {
                yield return $"{key}: Count and WindowMinutes must be at least 1";
            }
        }
    }
}

/// <summary>
/// A signal of possibly improper access, for the access-review role: which professional, which rule,
/// how many records or accesses in which window (and the record, for an access around a block) —
/// never anything of the records' content. Reviewed once, with an outcome and a note.
/// </summary>
public sealed class AccessSignal
{
    public required string Id { get; set; }
    public required string ProfessionalId { get; set; }
    public required string RuleId { get; set; }
    public required string Kind { get; set; }
    public int Count { get; set; }
    public DateTimeOffset WindowStart { get; set; }
    public DateTimeOffset WindowEnd { get; set; }
    /// <summary>The record concerned, for an access around a block only.</summary>
    public string? RecordId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ReviewedAt { get; set; }
    public string? ReviewedBy { get; set; }
    /// <summary>justified (nothing improper) or referred (passed on for action).</summary>
    public string? Outcome { get; set; }
    public string? Note { get; set; }
}

/// <summary>A signal as the reviewer sees it.</summary>
public sealed record AccessSignalView(AccessSignal Signal, string ProfessionalName, string? Rpps);

/// <summary>
/// The signals of improper access (the report: improper accesses are signalled to authorised peers,
/// not only to the patient): a scan over the trail of accesses raises signals by the configured rules;
/// professionals holding the access-review role list and review them. Raising, listing and reviewing
/// are audited; a signal names professionals, counts and at most a record, never content.
/// </summary>
public sealed class AccessSignalService(DmpDbContext db, RecordGuard guard, AccessSignalOptions options, TimeProvider time)
{
    private const int MaxNoteLength = 500;

    /// <summary>One scan at <paramref name="now"/>: raises the signals the rules find that are not raised yet; returns how many.</summary>
    public async Task<int> ScanAsync(DateTimeOffset now, CancellationToken ct)
    {
        var raised = new List<AccessSignal>();
        foreach (var rule in options.EffectiveRules)
        {
            var since = now - rule.Window;
            var found = rule.Kind switch
            {
                // First accesses to records the professional is not the treating physician of: no prior
                // link (one row per record and professional, so rows are records).
                AccessSignalOptions.NewRecords => await CountsAsync(
                    from a in db.RecordAccessors.AsNoTracking().Where(a => a.FirstAccessAt >= since)
                    join r in db.Records.AsNoTracking() on a.RecordId equals r.RecordId
                    where r.TreatingPhysicianId == null || r.TreatingPhysicianId != a.ProfessionalId
                    select a.ProfessionalId, rule, ct),
                // One row per emergency grant.
                AccessSignalOptions.Emergency => await CountsAsync(db.Grants.AsNoTracking().Where(g => g.CreatedAt >= since && (g.Mode == "break-glass" || g.Mode == "centre-15")).Select(g => g.HolderId), rule, ct),
                _ => await AroundBlockAsync(rule, now, ct),
            };
            foreach (var (professional, count, record) in found)
            {
                // Once per professional, rule (and record) while the window that found it lasts.
                var already = await db.AccessSignals.AsNoTracking().AnyAsync(s => s.ProfessionalId == professional && s.RuleId == rule.Id && s.RecordId == record && s.CreatedAt >= since, ct);
                if (!already)
                {
                    raised.Add(new AccessSignal { Id = Ids.New(), ProfessionalId = professional, RuleId = rule.Id, Kind = rule.Kind, Count = count, WindowStart = since, WindowEnd = now, RecordId = record, CreatedAt = now });
                }
            }
        }

        foreach (var s in raised)
        {
            db.AccessSignals.Add(s);
            await db.SaveChangesAsync(ct);
            db.ChangeTracker.Clear();
            await guard.AuditAsync(new AuditItem(null, Actor.Operator, AuditAction.Notify, "success", Channels.Admin, "AccessSignal", s.Id, Detail: $"{s.Kind} signal about professional {s.ProfessionalId}: {s.Count} in {(s.WindowEnd - s.WindowStart).TotalMinutes:0} min"), ct);
            DmpTelemetry.AccessSignals.Add(1);
        }

        return raised.Count;
    }

    /// <summary>The professionals with at least the rule's count of rows, counted by the database.</summary>
    private static async Task<List<(string Professional, int Count, string? Record)>> CountsAsync(IQueryable<string> professionals, AccessSignalRule rule, CancellationToken ct) =>
        (await professionals.GroupBy(p => p).Select(g => new { Who = g.Key, Count = g.Count() }).Where(x => x.Count >= rule.Count).ToListAsync(ct))
            .Select(x => (x.Who, x.Count, (string?)null))
            .ToList();

    /// <summary>Blocks of the window whose professional reached, or tried to reach, the record within the window before or after.</summary>
    private async Task<List<(string Professional, int Count, string? Record)>> AroundBlockAsync(AccessSignalRule rule, DateTimeOffset now, CancellationToken ct)
    {
        var window = rule.Window;
        // A block is looked at while an access after it may still come (up to the window after it).
        var blocks = await db.BlockedProfessionals.AsNoTracking().Where(b => b.CreatedAt >= now - window - window).ToListAsync(ct);
        var found = new List<(string, int, string?)>();
        foreach (var b in blocks)
        {
            var from = b.CreatedAt - window;
            var to = b.CreatedAt + window;
            var accesses = await db.AuditEntries.AsNoTracking()
                .CountAsync(e => e.RecordId == b.RecordId && e.ActorId == b.ProfessionalId && e.ActorKind == "Professional" && e.Time >= from && e.Time <= to, ct);
            if (accesses >= rule.Count)
            {
                found.Add((b.ProfessionalId, accesses, b.RecordId));
            }
        }

        return found;
    }

    /// <summary>The signals waiting for review (oldest first), for a professional holding the access-review role; listing is audited.</summary>
    public async Task<IReadOnlyList<AccessSignalView>> PendingAsync(Actor actor, string channel, CancellationToken ct)
    {
        await RequireReviewerAsync(actor, AuditAction.Search, null, channel, ct);
        var rows = await (from s in db.AccessSignals.AsNoTracking().Where(s => s.ReviewedAt == null)
                          join p in db.Professionals.AsNoTracking() on s.ProfessionalId equals p.Id
                          orderby s.CreatedAt
                          select new { Signal = s, p.Prefix, p.Given, p.Family, p.Rpps }).Take(200).ToListAsync(ct);
        await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Search, "success", channel, "AccessSignal", null, "access-review", $"access signals listed: {rows.Count}"), ct);
        return rows.Select(r => new AccessSignalView(r.Signal, $"{r.Prefix} {r.Given} {r.Family}".Trim(), r.Rpps)).ToList();
    }

    /// <summary>Reviews a signal: justified or referred, with a note (audited; a signal is reviewed once).</summary>
    public async Task ReviewAsync(string signalId, string? outcome, string? note, Actor actor, string channel, CancellationToken ct)
    {
        await RequireReviewerAsync(actor, AuditAction.Update, signalId, channel, ct);
        if (outcome is not ("justified" or "referred"))
        {
            throw DmpException.Invalid($"the outcome of a review is justified or referred, got '{outcome}'", "outcome");
        }

        note = string.IsNullOrWhiteSpace(note) ? null : note.Trim();
        if (note?.Length > MaxNoteLength)
        {
            throw DmpException.Invalid($"the note has at most {MaxNoteLength} characters", "note");
        }

        var now = time.GetUtcNow();
        var changed = await db.AccessSignals.Where(s => s.Id == signalId && s.ReviewedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.ReviewedAt, now).SetProperty(s => s.ReviewedBy, actor.Id).SetProperty(s => s.Outcome, outcome).SetProperty(s => s.Note, note), ct);
        if (changed == 0)
        {
            throw await db.AccessSignals.AsNoTracking().AnyAsync(s => s.Id == signalId, ct)
                ? new DmpException(ErrorKind.Conflict, "this signal was already reviewed")
                : DmpException.NotFound($"no access signal {signalId}");
        }

        await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Update, "success", channel, "AccessSignal", signalId, "access-review", $"reviewed: {outcome}"), ct);
    }

    private async Task RequireReviewerAsync(Actor actor, AuditAction verb, string? signalId, string channel, CancellationToken ct)
    {
        var reviewer = actor.Kind == ActorKind.Professional && await db.Professionals.AsNoTracking().AnyAsync(p => p.Id == actor.Id && p.AccessReviewer && p.DeactivatedAt == null, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ReviewAccess, ActorFacts: ActorFacts.Unknown with { AccessReviewer = reviewer }), verb, "AccessSignal", signalId, channel, auditPermit: false, ct, "access signals are for the access-review role");
    }
}
