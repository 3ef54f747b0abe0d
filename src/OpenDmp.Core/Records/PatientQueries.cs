using System.Globalization;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Records;

/// <summary>PDQm (ITI-78): find patients by INS or by identity traits. Identity only; audited.</summary>
public sealed class PatientQueries(DmpDbContext db, RecordGuard guard)
{
    public static readonly IReadOnlySet<string> SearchParamNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "_id", "identifier", "family", "given", "name", "birthdate", "gender", "_count", "_offset", "_total",
    };

    public async Task<SearchPage> SearchAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(SearchParamNames);
        var decision = AccessPolicy.Decide(new AccessRequest(actor, AccessAction.FindPatient));
        if (!decision.Permitted)
        {
            throw new DmpException(ErrorKind.Forbidden, "you are not authorised to search patients");
        }

        if (!sp.Pairs.Any(p => p.Key is "_id" or "identifier" or "family" or "given" or "name" or "birthdate"))
        {
            throw new DmpException(ErrorKind.BadRequest, "a patient search needs identifier, or family/given/name with birthdate, or _id");
        }

        var (count, offset) = sp.Paging(20, 100);
        var q = db.Patients.AsNoTracking().AsQueryable();
        if (sp.First("_id") is { } id)
        {
            q = q.Where(x => x.RecordId == id);
        }

        foreach (var v in sp.All("identifier"))
        {
            var (system, value) = SearchParams.Token(v);
            var kind = Ins.KindOf(system);
            var normalized = kind is null or InsKind.Local ? value : Ins.Normalize(value);
            var ids = db.PatientIdentifiers.Where(x => x.Value == normalized && (system == null || x.System == system)).Select(x => x.RecordId);
            q = q.Where(x => ids.Contains(x.RecordId));
        }

        foreach (var v in sp.All("family"))
        {
            var f = v.Trim().ToUpperInvariant();
            q = q.Where(x => x.Family.StartsWith(f));
        }

        foreach (var v in sp.All("given"))
        {
            var g = v.Trim();
            q = q.Where(x => x.Given.StartsWith(g) || x.Given.Contains(" " + g));
        }

        foreach (var v in sp.All("name"))
        {
            var n = v.Trim();
            var upper = n.ToUpperInvariant();
            q = q.Where(x => x.Family.StartsWith(upper) || x.Given.StartsWith(n));
        }

        foreach (var v in sp.All("birthdate"))
        {
            if (!DateOnly.TryParseExact(v.StartsWith("eq", StringComparison.Ordinal) ? v[2..] : v, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
            {
                throw new DmpException(ErrorKind.BadRequest, "birthdate must be YYYY-MM-DD");
            }

            q = q.Where(x => x.BirthDate == d);
        }

        foreach (var v in sp.All("gender"))
        {
            var sex = v switch { "male" => "M", "female" => "F", "unknown" => "U", _ => throw new DmpException(ErrorKind.BadRequest, "gender must be male, female or unknown") };
            q = q.Where(x => x.Sex == sex);
        }

        int? total = sp.First("_total") is "accurate" or "estimate" ? await q.CountAsync(ct) : null;
        var rows = await q.OrderBy(x => x.Family).ThenBy(x => x.RecordId).Skip(offset).Take(count + 1).ToListAsync(ct);
        var ids2 = rows.Select(r => r.RecordId).ToList();
        var records = await db.Records.AsNoTracking().Where(r => ids2.Contains(r.RecordId)).ToDictionaryAsync(r => r.RecordId, ct);
        var hits = rows.Take(count).Select(p => new SearchHit("Patient", p.RecordId, FhirJson.Serialize(Mappers.ToFhir(p, records.GetValueOrDefault(p.RecordId))))).ToList();
        await guard.AuditAsync(new AuditItem(null, actor, "search", "success", channel, "Patient", null, decision.Mode, $"hits={hits.Count}"), ct);

        return new SearchPage(hits, offset, count, rows.Count > count, total);
    }

    public async Task<string> ReadAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var decision = AccessPolicy.Decide(new AccessRequest(actor, AccessAction.FindPatient));
        if (!decision.Permitted)
        {
            throw new DmpException(ErrorKind.Forbidden, "you are not authorised to read patient identities");
        }

        var p = await db.Patients.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == id, ct) ?? throw DmpException.NotFound($"Patient/{id} does not exist");
        var record = await db.Records.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == id, ct);
        await guard.AuditAsync(new AuditItem(id, actor, "read", "success", channel, "Patient", id, decision.Mode), ct);

        return FhirJson.Serialize(Mappers.ToFhir(p, record));
    }
}
