using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.SelfMonitoring;

/// <summary>A measurement recorded, and the threshold it crossed (with a professional's advice), if any.</summary>
public sealed record Recorded(Measurement Measurement, MonitoringThreshold? Crossed);

/// <summary>A patient's series for one quantity, most recent first, with its threshold.</summary>
public sealed record Series(MeasuredQuantity Quantity, IReadOnlyList<Measurement> Points, MonitoringThreshold? Threshold);

/// <summary>
/// Self-monitoring (auto-surveillance, mission M9): the patient, a legal representative or a
/// connected device records measurements; thresholds warn the patient and, when the treating
/// physician asked for it, alert them through the alert pipeline (a "measurement" event: the alert
/// says that a measurement needs attention, never its value). Every call is decided by the policy
/// and audited in the record's chain.
/// </summary>
public sealed class SelfMonitoringService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RecordGuard guard, Alerts.AlertSignal alertSignal)
{
    public const int MaxDevices = 10;
    private const string TokenPrefix = "dev_";

    /// <summary>Records a measurement in the actor's record (the patient's, or the device's).</summary>
    public async Task<Recorded> RecordAsync(string code, double value, DateTimeOffset? effective, Actor actor, string channel, CancellationToken ct)
    {
        var quantity = MeasurementCatalog.Find(code)
            ?? throw DmpException.Invalid($"'{code}' is not a quantity one may record ({string.Join(", ", MeasurementCatalog.All.Select(q => q.Code + " " + q.En))})", "code");
        if (double.IsNaN(value) || value < quantity.Min || value > quantity.Max)
        {
            throw DmpException.Invalid($"{quantity.En} is recorded in {quantity.UnitDisplay} between {quantity.Min} and {quantity.Max}; got {value}", "value");
        }

        var now = time.GetUtcNow();
        var when = effective ?? now;
        if (when > now.AddMinutes(5) || when < now.AddYears(-1))
        {
            throw DmpException.Invalid("a measurement is dated within the last year and not in the future", "effective");
        }

        var recordId = RecordOf(actor);
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Create, "Observation", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.RecordMeasurement, facts), AuditAction.Create, "Observation", null, channel, auditPermit: false, ct);
        var m = new Measurement
        {
            RecordId = recordId,
            Id = Ids.New(),
            Code = quantity.Code,
            Value = value,
            Unit = quantity.Unit,
            Effective = when,
            RecordedAt = now,
            EnteredBy = actor.Kind switch { ActorKind.Device => "device:" + actor.Id, ActorKind.Representative => "representative:" + actor.Id, _ => "patient" },
        };
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        db.Measurements.Add(m);
        var threshold = await db.MonitoringThresholds.AsNoTracking().FirstOrDefaultAsync(t => t.RecordId == recordId && t.Code == quantity.Code, ct);
        var crossed = threshold is not null && ((threshold.Low is { } low && value < low) || (threshold.High is { } high && value > high)) ? threshold : null;
        if (crossed is { AlertPhysician: true })
        {
            db.RecordEvents.Add(new Alerts.RecordEvent { RecordId = recordId, Id = Ids.New(), Kind = Alerts.AlertService.Measurement, SubjectId = m.Id, CreatedAt = now });
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "Observation", m.Id, Mode: "patient-entered", Detail: crossed is null ? null : "threshold crossed"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        if (crossed is { AlertPhysician: true })
        {
            alertSignal.Wake();
        }

        return new Recorded(m, crossed);
    }

    /// <summary>The record's series (the patient's own, or a professional's reading under the policy), each at most <paramref name="perSeries"/> points.</summary>
    public async Task<IReadOnlyList<Series>> SeriesAsync(string recordId, Actor actor, string channel, int perSeries, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Read, "Observation", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Read, "Observation", null, channel, auditPermit: true, ct);
        var thresholds = await db.MonitoringThresholds.AsNoTracking().Where(t => t.RecordId == recordId).ToDictionaryAsync(t => t.Code, ct);
        var series = new List<Series>();
        foreach (var q in MeasurementCatalog.All)
        {
            var points = await db.Measurements.AsNoTracking().Where(x => x.RecordId == recordId && x.Code == q.Code)
                .OrderByDescending(x => x.Effective).Take(perSeries).ToListAsync(ct);
            if (points.Count > 0 || thresholds.ContainsKey(q.Code))
            {
                series.Add(new Series(q, points, thresholds.GetValueOrDefault(q.Code)));
            }
        }

        return series;
    }

    /// <summary>
    /// Sets (or, with neither bound, removes) the threshold of one quantity. The patient or a legal
    /// representative sets values; the treating physician also the advice and whether to be alerted.
    /// </summary>
    public async Task SetThresholdAsync(string recordId, string code, double? low, double? high, string? advice, bool alertPhysician, Actor actor, string channel, CancellationToken ct)
    {
        var quantity = MeasurementCatalog.Find(code) ?? throw DmpException.Invalid($"'{code}' is not a quantity one may record", "code");
        if ((low is { } l && (l < quantity.Min || l > quantity.Max)) || (high is { } h && (h < quantity.Min || h > quantity.Max)) || (low > high))
        {
            throw DmpException.Invalid($"the thresholds of {quantity.En} are between {quantity.Min} and {quantity.Max} {quantity.UnitDisplay}, the low one below the high one", "low");
        }

        advice = string.IsNullOrWhiteSpace(advice) ? null : advice.Trim();
        if (advice is { Length: > 500 })
        {
            throw DmpException.Invalid("the advice is at most 500 characters", "advice");
        }

        if (actor.Kind != ActorKind.Professional && (advice is not null || alertPhysician))
        {
            throw new DmpException(ErrorKind.Forbidden, "what to do when a threshold is crossed, and the physician's alert, are set by the treating physician");
        }

        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Update, "MonitoringThreshold", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.SetMonitoringThreshold, facts), AuditAction.Update, "MonitoringThreshold", code, channel, auditPermit: false, ct,
            "only the patient, a legal representative or the treating physician sets the thresholds");
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var existing = await db.MonitoringThresholds.FirstOrDefaultAsync(t => t.RecordId == recordId && t.Code == code, ct);
        if (existing is not null)
        {
            db.MonitoringThresholds.Remove(existing);
        }

        if (low is not null || high is not null)
        {
            db.MonitoringThresholds.Add(new MonitoringThreshold
            {
                RecordId = recordId,
                Code = code,
                Low = low,
                High = high,
                Advice = advice,
                AlertPhysician = alertPhysician,
                SetBy = actor.Kind switch { ActorKind.Professional => actor.Id, ActorKind.Representative => "representative:" + actor.Id, _ => "patient" },
                SetAt = time.GetUtcNow(),
            });
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Update, "success", channel, "MonitoringThreshold", code, Detail: low is null && high is null ? "removed" : "set"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>Issues a device token (returned once: only its hash is kept).</summary>
    public async Task<(DeviceToken Device, string Token)> IssueDeviceAsync(string name, Actor actor, string channel, CancellationToken ct)
    {
        name = name?.Trim() ?? string.Empty;
        if (name.Length is 0 or > 60)
        {
            throw DmpException.Invalid("a device needs a name of 1 to 60 characters", "name");
        }

        var recordId = await RequireOwnAsync(actor, AuditAction.Grant, channel, ct);
        var token = TokenPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var device = new DeviceToken { RecordId = recordId, Id = Ids.New(), Name = name, TokenHash = Hash(token), CreatedAt = time.GetUtcNow() };
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (await db.DeviceTokens.CountAsync(d => d.RecordId == recordId && d.RevokedAt == null, ct) >= MaxDevices)
        {
            throw new DmpException(ErrorKind.Conflict, $"at most {MaxDevices} devices: revoke one first");
        }

        db.DeviceTokens.Add(device);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Grant, "success", channel, "Device", device.Id, Detail: "measurements only"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return (device, token);
    }

    public async Task<IReadOnlyList<DeviceToken>> DevicesAsync(Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireOwnAsync(actor, AuditAction.Read, channel, ct);
        return await db.DeviceTokens.AsNoTracking().Where(d => d.RecordId == recordId).OrderByDescending(d => d.CreatedAt).ToListAsync(ct);
    }

    public async Task RevokeDeviceAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var recordId = await RequireOwnAsync(actor, AuditAction.Revoke, channel, ct);
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var device = await db.DeviceTokens.FirstOrDefaultAsync(d => d.RecordId == recordId && d.Id == id && d.RevokedAt == null, ct)
            ?? throw new DmpException(ErrorKind.NotFound, "no such device in force");
        device.RevokedAt = time.GetUtcNow();
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Revoke, "success", channel, "Device", id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The device actor of a bearer token, or null when it is unknown or revoked (checked on every request).</summary>
    public async Task<Actor?> DeviceActorAsync(string token, CancellationToken ct)
    {
        if (!token.StartsWith(TokenPrefix, StringComparison.Ordinal) || token.Length > 100)
        {
            return null;
        }

        var hash = Hash(token);
        var device = await db.DeviceTokens.AsNoTracking().Where(d => d.TokenHash == hash && d.RevokedAt == null).Select(d => new { d.RecordId, d.Id, d.Name }).FirstOrDefaultAsync(ct);
        return device is null ? null : new Actor(ActorKind.Device, device.Id, device.Name, RecordId: device.RecordId);
    }

    private static string RecordOf(Actor actor) => actor.Kind == ActorKind.Device
        ? actor.RecordId ?? throw new DmpException(ErrorKind.Forbidden, "a device acts for one record")
        : actor.OwnRecordId ?? throw new DmpException(ErrorKind.Forbidden, "only the patient, a legal representative or the patient's device records measurements");

    private async Task<string> RequireOwnAsync(Actor actor, AuditAction verb, string channel, CancellationToken ct)
    {
        var recordId = actor.OwnRecordId ?? throw new DmpException(ErrorKind.Forbidden, "only the patient or a legal representative manages the patient's devices");
        var facts = await guard.RequireFactsAsync(recordId, actor, verb, "Device", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), verb, "Device", null, channel, auditPermit: verb == AuditAction.Read, ct);
        return recordId;
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
