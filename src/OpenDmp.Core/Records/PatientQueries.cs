using System.Globalization;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Records;

/// <summary>
/// PDQm (ITI-78): find a patient by INS, or by the strict identity traits together (birth family
/// name, first given name, birth date), exact matches only, a small page and never a count: a
/// professional finds the patient in front of them, not the registry. Identity only; every search
/// and read is audited, on the platform's chain and on the chain of each patient it returns (the
/// patient sees who looked them up).
/// </summary>
public sealed class PatientQueries(DmpDbContext db, RecordGuard guard)
{
    public static readonly IReadOnlySet<string> SearchParamNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "_id", "identifier", "family", "given", "birthdate", "gender", "_count", "_offset", "_total",
    };

    /// <summary>Most patients one search returns (homonyms born the same day are rare).</summary>
    public const int MaxResults = 10;

    private const string Needs = "a patient search needs the INS (identifier=system|value), or the strict identity traits together: family (birth name), given (first given name) and birthdate (YYYY-MM-DD)";

    public async Task<SearchPage> SearchAsync(SearchParams sp, Actor actor, string channel, CancellationToken ct)
    {
        sp.RequireKnown(SearchParamNames);
        var criteria = Criteria.From(sp);
        var (count, offset) = sp.Paging(MaxResults, MaxResults);
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.FindPatient), AuditAction.Search, "Patient", null, channel, auditPermit: false, ct, "you are not authorised to search patients");
        var matches = await MatchesAsync(criteria, ct);
        var page = matches.Skip(offset).Take(count).ToList();
        var pageIds = page.Select(p => p.RecordId).ToList();
        var records = await db.Records.AsNoTracking().Where(r => pageIds.Contains(r.RecordId)).ToDictionaryAsync(r => r.RecordId, ct);
        var hits = page.Select(p => new SearchHit("Patient", p.RecordId, FhirJson.Serialize(Mappers.ToFhir(p, records.GetValueOrDefault(p.RecordId))))).ToList();
        await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Search, "success", channel, "Patient", null, permit.Mode, $"by={criteria.Kind} hits={hits.Count}"), ct);
        foreach (var p in page)
        {
            await guard.AuditAsync(new AuditItem(p.RecordId, actor, AuditAction.Search, "success", channel, "Patient", p.RecordId, permit.Mode, "by=" + criteria.Kind), ct);
        }

        // No total, ever (whatever _total asks): the registry's size is not the searcher's business.
        return new SearchPage(hits, offset, count, count > 0 && matches.Count > offset + count, null);
    }

    public async Task<string> ReadAsync(string id, Actor actor, string channel, CancellationToken ct)
    {
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.FindPatient), AuditAction.Read, "Patient", id, channel, auditPermit: false, ct, "you are not authorised to read patient identities");
        var p = await db.Patients.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == id, ct);
        if (p is null)
        {
            await guard.AuditAsync(new AuditItem(null, actor, AuditAction.Read, "not-found", channel, "Patient", id), ct);
            throw DmpException.NotFound($"Patient/{id} does not exist");
        }

        var record = await db.Records.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == id, ct);
        var replaces = await db.Records.AsNoTracking().Where(x => x.MergedInto == id && x.Status == RecordStatus.Merged).OrderBy(x => x.RecordId).Select(x => x.RecordId).ToListAsync(ct);
        await guard.AuditAsync(new AuditItem(id, actor, AuditAction.Read, "success", channel, "Patient", id, permit.Mode), ct);
        return FhirJson.Serialize(Mappers.ToFhir(p, record, replaces));
    }

    /// <summary>Every patient matching exactly (at most <see cref="MaxResults"/> + 1 are read).</summary>
    private async Task<List<Patient>> MatchesAsync(Criteria c, CancellationToken ct)
    {
        var q = db.Patients.AsNoTracking().AsQueryable();
        if (c.Id is { } id)
        {
            q = q.Where(x => x.RecordId == id);
        }

        foreach (var (system, value) in c.Identifiers)
        {
            var ids = db.PatientIdentifiers.Where(x => x.Value == value && (system == null || x.System == system)).Select(x => x.RecordId);
            q = q.Where(x => ids.Contains(x.RecordId));
        }

        if (c.Family is { } family)
        {
            q = q.Where(x => x.Family == family);
        }

        if (c.BirthDate is { } birth)
        {
            q = q.Where(x => x.BirthDate == birth);
        }

        if (c.Sex is { } sex)
        {
            q = q.Where(x => x.Sex == sex);
        }

        // Family and birth date narrow to a handful of rows (index); given names are compared exactly,
        // case and accents ignored, here (SQLite's upper() knows ASCII only).
        var rows = await q.OrderBy(x => x.Family).ThenBy(x => x.RecordId).Take(c.Given is null ? MaxResults + 1 : 200).ToListAsync(ct);
        return c.Given is { } given ? rows.Where(r => GivenMatches(r.Given, given)).Take(MaxResults + 1).ToList() : rows;
    }

    /// <summary>The first given name, or all of them, exactly (case and accents ignored).</summary>
    private static bool GivenMatches(string stored, string asked)
    {
        var names = Documents.DocumentText.Normalise(stored).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var wanted = Documents.DocumentText.Normalise(asked).Trim();
        return names.Length > 0 && (names[0] == wanted || string.Join(' ', names) == string.Join(' ', wanted.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
    }

    /// <summary>The criteria of a search, validated: an INS, or the three strict traits together.</summary>
    private sealed record Criteria(string Kind, string? Id, IReadOnlyList<(string? System, string Value)> Identifiers, string? Family, string? Given, DateOnly? BirthDate, string? Sex)
    {
        public static Criteria From(SearchParams sp)
        {
            foreach (var name in new[] { "_id", "family", "given", "birthdate", "gender" })
            {
                if (sp.All(name).Skip(1).Any())
                {
                    throw new DmpException(ErrorKind.BadRequest, $"{name} may be given once");
                }
            }

            var identifiers = sp.All("identifier").Select(v =>
            {
                var (system, value) = SearchParams.Token(v);
                if (string.IsNullOrWhiteSpace(value))
                {
                    throw new DmpException(ErrorKind.BadRequest, "identifier needs a value: identifier=system|value");
                }

                var kind = Ins.KindOf(system);
                return (system, kind is null or InsKind.Local ? value.Trim() : Ins.Normalize(value));
            }).ToList();
            var id = NonEmpty(sp.First("_id"), "_id");
            var family = NonEmpty(sp.First("family"), "family")?.ToUpperInvariant();
            var given = NonEmpty(sp.First("given"), "given");
            DateOnly? birth = null;
            if (NonEmpty(sp.First("birthdate"), "birthdate") is { } b)
            {
                var value = b.StartsWith("eq", StringComparison.Ordinal) ? b[2..] : b;
                birth = DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                    ? d
                    : throw new DmpException(ErrorKind.BadRequest, "birthdate must be an exact date YYYY-MM-DD (no prefix other than eq)");
            }

            var sex = sp.First("gender") switch
            {
                null => null,
                "male" => "M",
                "female" => "F",
                "unknown" => "U",
                _ => throw new DmpException(ErrorKind.BadRequest, "gender must be male, female or unknown"),
            };
            var traits = family is not null && given is not null && birth is not null;
            if (identifiers.Count == 0 && id is null && !traits)
            {
                throw new DmpException(ErrorKind.BadRequest, Needs);
            }

            return new Criteria(identifiers.Count > 0 ? "identifier" : id is not null ? "id" : "traits", id, identifiers, family, given, birth, sex);
        }

        private static string? NonEmpty(string? value, string name) =>
            value is null ? null
            : string.IsNullOrWhiteSpace(value) ? throw new DmpException(ErrorKind.BadRequest, $"{name} is empty: {Needs}")
            : value.Trim();
    }
}
