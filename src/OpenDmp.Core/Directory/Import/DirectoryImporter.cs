using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Directory.Import;

/// <summary>What an import of a national extraction did.</summary>
public sealed record DirectoryImportReport(
    string Source,
    long Lines,
    int Added,
    int Updated,
    int Unchanged,
    int Reactivated,
    int Deactivated,
    int ActivitiesAdded,
    int ActivitiesUpdated,
    int ActivitiesEnded,
    int Located,
    int Rejected,
    IReadOnlyList<RejectedLine> RejectedSamples)
{
    public override string ToString()
    {
        var what = Source == DirectoryImporter.RppsSource ? "professionals" : "establishments";
        var s = $"{Lines} records: {what} {Added} added, {Updated} updated, {Unchanged} unchanged, {Reactivated} reactivated, {Deactivated} deactivated";
        if (Source == DirectoryImporter.RppsSource)
        {
            s += $"; activities {ActivitiesAdded} added, {ActivitiesUpdated} updated, {ActivitiesEnded} ended";
        }

        s += $"; {Located} geolocated; {Rejected} line(s) rejected";
        return RejectedSamples.Count == 0 ? s : s + " (" + string.Join("; ", RejectedSamples.Take(5)) + (Rejected > 5 ? "; …" : string.Empty) + ")";
    }
}

/// <summary>How an import may remove entries.</summary>
/// <param name="AllowMassRemoval">
/// Lets an extraction deactivate more than a tenth of the entries of its source (and more than 100):
/// refused otherwise, since a truncated or wrong file would empty the directory.
/// </param>
public sealed record DirectoryImportOptions(bool AllowMassRemoval = false);

/// <summary>
/// Imports the national extractions into the directory: RPPS (professionals and their activities,
/// the mCSD Practitioner and PractitionerRole) and FINESS (establishments with their position, the
/// mCSD Organization and Location). Streams millions of lines in batches; idempotent: an entry is
/// found again by its national identifier, rewritten only when its content changed, and the entries
/// of the source absent from the extraction are deactivated (a professional the extraction lists
/// again is reactivated). One audit entry on the platform's chain per import, with the counts
/// (reference data, no patient data: ADR 0032).
/// </summary>
public sealed class DirectoryImporter(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time)
{
    public const string RppsSource = "rpps";
    public const string FinessSource = "finess";
    private const int BatchLines = 2000;
    private const int MaxSamples = 20;

    /// <summary>Imports a PS_LibreAcces_Personne_activite extraction; <paramref name="progress"/> gets the lines read.</summary>
    public async Task<DirectoryImportReport> ImportRppsAsync(TextReader text, DirectoryImportOptions options, IProgress<long>? progress, CancellationToken ct)
    {
        var run = new RppsRun { Positions = await PositionsAsync(ct) };
        var batch = new List<RppsActivityLine>(BatchLines);
        long lines = 0;
        foreach (var item in RppsExtract.Read(text))
        {
            ct.ThrowIfCancellationRequested();
            lines++;
            if (item is RejectedLine rejected)
            {
                run.Reject(rejected);
                continue;
            }

            batch.Add((RppsActivityLine)item);
            if (batch.Count == BatchLines)
            {
                await WriteRppsBatchAsync(batch, run, ct);
                batch.Clear();
                progress?.Report(lines);
            }
        }

        await WriteRppsBatchAsync(batch, run, ct);
        progress?.Report(lines);
        await RemoveAbsentProfessionalsAsync(run, options, ct);
        var report = new DirectoryImportReport(RppsSource, lines, run.Added, run.Updated, run.Unchanged, run.Reactivated, run.Deactivated,
            run.ActivitiesAdded, run.ActivitiesUpdated, run.ActivitiesEnded, run.Located, run.Rejected, run.Samples);
        await AuditAsync(report, ct);
        return report;
    }

    /// <summary>Imports an etalab-cs1100507-stock extraction (latin-1 text); <paramref name="progress"/> gets the lines read.</summary>
    public async Task<DirectoryImportReport> ImportFinessAsync(TextReader text, DirectoryImportOptions options, IProgress<long>? progress, CancellationToken ct)
    {
        var run = new FinessRun();
        var establishments = new List<FinessEstablishment>(BatchLines);
        var positions = new List<FinessGeolocation>(BatchLines);
        long lines = 0; // records, after the descriptive first line
        foreach (var item in FinessExtract.Read(text))
        {
            ct.ThrowIfCancellationRequested();
            lines++;
            switch (item)
            {
                case RejectedLine rejected:
                    run.Reject(rejected);
                    break;
                case FinessEstablishment e:
                    establishments.Add(e);
                    break;
                case FinessGeolocation g:
                    positions.Add(g);
                    break;
            }

            if (establishments.Count + positions.Count >= BatchLines)
            {
                await WriteFinessBatchAsync(establishments, positions, run, ct);
                progress?.Report(lines);
            }
        }

        await WriteFinessBatchAsync(establishments, positions, run, ct);
        progress?.Report(lines);
        await RemoveAbsentEstablishmentsAsync(run, options, ct);
        var located = await LocateAsync(ct);
        var report = new DirectoryImportReport(FinessSource, lines, run.Added, run.Updated, run.Unchanged, run.Reactivated, run.Deactivated, 0, 0, 0, located, run.Rejected, run.Samples);
        await AuditAsync(report, ct);
        return report;
    }

    private async Task WriteRppsBatchAsync(List<RppsActivityLine> batch, RppsRun run, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow();
        var people = batch.GroupBy(l => l.NationalId, StringComparer.Ordinal).ToList();
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        var rpps = people.Where(p => p.First().IdType == "8").Select(p => p.First().Id).ToList();
        var others = people.Where(p => p.First().IdType != "8").Select(p => p.Key).ToList();
        await using var scope = await gate.EnterAsync(db, null, ct);
        // Two lookups, each on its own index (an OR of the two would scan the table at every batch).
        var existing = rpps.Count == 0 ? [] : await db.Professionals.Where(p => rpps.Contains(p.Rpps!)).ToListAsync(ct);
        if (others.Count > 0)
        {
            existing.AddRange(await db.Professionals.Where(p => p.IdentifierSystem == Rpps.IdNatPsSystem && others.Contains(p.IdentifierValue!)).ToListAsync(ct));
        }

        var byKey = existing.ToDictionary(p => p.Rpps is not null ? "8" + p.Rpps : p.IdentifierValue!, StringComparer.Ordinal);
        var ids = existing.Select(p => p.Id).ToList();
        var activities = ids.Count == 0 ? new Dictionary<string, PractitionerActivity>(StringComparer.Ordinal)
            : (await db.PractitionerActivities.Where(a => ids.Contains(a.ProfessionalId)).ToListAsync(ct)).ToDictionary(a => a.Id, StringComparer.Ordinal);
        foreach (var person in people)
        {
            var first = person.First();
            var key = first.IdType == "8" ? "8" + first.Id : person.Key;
            var primary = person.FirstOrDefault(l => l.SkillType == "S" && l.SkillCode is not null) ?? first;
            var hash = Hash(first.Family, first.Given, first.CivilityCode, first.ProfessionCode, primary.SkillType == "S" ? primary.SkillCode : null, primary.SkillLabel);
            var firstSeen = run.SeenPeople.Add(key);
            if (!byKey.TryGetValue(key, out var p))
            {
                p = new Professional
                {
                    Id = Ids.New(),
                    Rpps = first.IdType == "8" ? first.Id : null,
                    IdentifierSystem = first.IdType == "8" ? null : Rpps.IdNatPsSystem,
                    IdentifierValue = first.IdType == "8" ? null : person.Key,
                    Family = first.Family,
                    Given = first.Given,
                    CreatedAt = now,
                };
                Apply(p, first, primary, hash, now);
                db.Professionals.Add(p);
                byKey[key] = p;
                run.Added++;
            }
            else if (p.ContentHash != hash || p.Source != RppsSource || (p.DeactivatedAt is not null && p.DeactivatedByImport))
            {
                if (p.DeactivatedAt is not null && p.DeactivatedByImport)
                {
                    p.DeactivatedAt = null;
                    p.DeactivatedByImport = false;
                    run.Reactivated++;
                }
                else if (firstSeen)
                {
                    run.Updated++;
                }

                Apply(p, first, primary, hash, now);
            }
            else if (firstSeen)
            {
                run.Unchanged++;
            }

            foreach (var line in person)
            {
                WriteActivity(p.Id, key, line, activities, run, now);
            }
        }

        db.ChangeTracker.DetectChanges();
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        db.ChangeTracker.AutoDetectChangesEnabled = true;
    }

    private static void Apply(Professional p, RppsActivityLine first, RppsActivityLine primary, string hash, DateTimeOffset now)
    {
        p.Family = first.Family;
        p.Given = first.Given;
        p.Prefix = first.CivilityCode switch { "DR" => "Dr", "PR" => "Pr", _ => null };
        p.ProfessionCode = first.ProfessionCode;
        p.SpecialtyCode = primary.SkillType == "S" ? primary.SkillCode : null;
        p.SpecialtyDisplay = primary.SkillType == "S" ? primary.SkillLabel ?? Nomenclatures.Specialties.GetValueOrDefault(primary.SkillCode ?? string.Empty) : null;
        p.Source = RppsSource;
        p.ContentHash = hash;
        p.UpdatedAt = now;
    }

    private void WriteActivity(string professionalId, string personKey, RppsActivityLine line, Dictionary<string, PractitionerActivity> activities, RppsRun run, DateTimeOffset now)
    {
        var id = "act-" + Hash(personKey, line.StructureId ?? line.SiteFiness ?? line.PostalCode, line.ProfessionCode, line.SkillType, line.SkillCode, line.PracticeMode)[..28];
        var hash = Hash(line.ProfessionLabel, line.SkillLabel, line.SectorCode, line.SiteFiness, line.SiteName, line.AddressLine, line.PostalCode, line.CommuneCode, line.City, line.DepartmentCode, line.Phone);
        if (!run.SeenActivities.Add(id) && activities.ContainsKey(id))
        {
            return; // the same activity twice in the extraction: the first line stands
        }

        // Placed as it is written: its site's own position (FINESS), else its commune's.
        var (position, exact) = run.Positions.Of(line.SiteFiness, line.CommuneCode);
        if (position is not null)
        {
            run.Located++;
        }

        if (!activities.TryGetValue(id, out var a))
        {
            a = new PractitionerActivity { Id = id, ProfessionalId = professionalId, CreatedAt = now };
            db.PractitionerActivities.Add(a);
            activities[id] = a;
            run.ActivitiesAdded++;
        }
        else if (a.ContentHash == hash && a.EndedAt is null)
        {
            if ((a.Latitude, a.Longitude, a.PositionExact) != (position?.Latitude, position?.Longitude, exact))
            {
                (a.Latitude, a.Longitude, a.PositionExact) = (position?.Latitude, position?.Longitude, exact);
            }

            return;
        }
        else
        {
            run.ActivitiesUpdated++;
        }

        (a.Latitude, a.Longitude, a.PositionExact) = (position?.Latitude, position?.Longitude, exact);

        a.ProfessionCode = line.ProfessionCode;
        a.ProfessionLabel = line.ProfessionLabel;
        a.SkillType = line.SkillType;
        a.SkillCode = line.SkillCode;
        a.SkillLabel = line.SkillLabel;
        a.PracticeMode = line.PracticeMode;
        a.SectorCode = line.SectorCode;
        a.SiteName = line.SiteName;
        a.SiteFiness = line.SiteFiness;
        a.SiteStructureId = line.StructureId;
        a.AddressLine = line.AddressLine;
        a.PostalCode = line.PostalCode;
        a.CommuneCode = line.CommuneCode;
        a.City = line.City;
        a.DepartmentCode = line.DepartmentCode ?? DepartmentOf(line.CommuneCode);
        a.Phone = line.Phone;
        a.ContentHash = hash;
        a.UpdatedAt = now;
        a.EndedAt = null;
    }

    private async Task WriteFinessBatchAsync(List<FinessEstablishment> establishments, List<FinessGeolocation> positions, FinessRun run, CancellationToken ct)
    {
        if (establishments.Count + positions.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow();
        var keys = establishments.Select(e => e.Finess).Concat(positions.Select(g => g.Finess)).Distinct(StringComparer.Ordinal).ToList();
        await using var scope = await gate.EnterAsync(db, null, ct);
        var existing = (await db.Organizations.Where(o => o.Finess != null && keys.Contains(o.Finess)).ToListAsync(ct))
            .GroupBy(o => o.Finess!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        foreach (var e in establishments)
        {
            var hash = Hash(e.Name, e.LegalEntity, e.AddressLine, e.PostalCode, e.CommuneCode, e.City, e.DepartmentCode, e.Phone, e.CategoryCode, e.CategoryLabel);
            var firstSeen = run.Seen.Add(e.Finess);
            if (!existing.TryGetValue(e.Finess, out var o))
            {
                o = new Organization { Id = Ids.New(), Finess = e.Finess, Name = e.Name, CreatedAt = now };
                db.Organizations.Add(o);
                existing[e.Finess] = o;
                run.Added++;
            }
            else if (o.ContentHash == hash && o.Source == FinessSource && o.DeactivatedAt is null)
            {
                if (firstSeen)
                {
                    run.Unchanged++;
                }

                continue;
            }
            else if (o.DeactivatedAt is not null)
            {
                o.DeactivatedAt = null;
                run.Reactivated++;
            }
            else if (firstSeen)
            {
                run.Updated++;
            }

            o.Name = e.Name;
            o.FinessLegalEntity = e.LegalEntity;
            o.AddressLine = e.AddressLine;
            o.PostalCode = e.PostalCode;
            o.CommuneCode = e.CommuneCode;
            o.City = e.City;
            o.DepartmentCode = e.DepartmentCode;
            o.Phone = e.Phone;
            o.TypeCode = e.CategoryCode;
            o.TypeLabel = e.CategoryLabel;
            o.Source = FinessSource;
            o.ContentHash = hash;
            o.UpdatedAt = now;
        }

        foreach (var g in positions)
        {
            if (!existing.TryGetValue(g.Finess, out var o))
            {
                run.Reject(new RejectedLine(g.Line, $"geolocalisation of {g.Finess}, an establishment the extraction does not list"));
                continue;
            }

            var lat = Math.Round(g.Position.Latitude, 6);
            var lon = Math.Round(g.Position.Longitude, 6);
            if (o.Latitude != lat || o.Longitude != lon || !o.PositionExact)
            {
                o.Latitude = lat;
                o.Longitude = lon;
                o.PositionExact = true;
                o.UpdatedAt = now;
            }
        }

        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        establishments.Clear();
        positions.Clear();
    }

    /// <summary>Deactivates the professionals (and ends the activities) the national directory no longer lists.</summary>
    private async Task RemoveAbsentProfessionalsAsync(RppsRun run, DirectoryImportOptions options, CancellationToken ct)
    {
        var active = await db.Professionals.AsNoTracking().Where(p => p.Source == RppsSource && p.DeactivatedAt == null)
            .Select(p => new { p.Id, Key = p.Rpps != null ? "8" + p.Rpps : p.IdentifierValue }).ToListAsync(ct);
        var absent = active.Where(p => p.Key is null || !run.SeenPeople.Contains(p.Key)).Select(p => p.Id).ToList();
        RefuseMassRemoval(absent.Count, active.Count, "professionals", options);
        var openActivities = await db.PractitionerActivities.AsNoTracking().Where(a => a.EndedAt == null).Select(a => a.Id).ToListAsync(ct);
        var ended = openActivities.Where(id => !run.SeenActivities.Contains(id)).ToList();
        var now = time.GetUtcNow();
        foreach (var chunk in absent.Chunk(500))
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
            run.Deactivated += await db.Professionals.Where(p => chunk.Contains(p.Id))
                .ExecuteUpdateAsync(u => u.SetProperty(p => p.DeactivatedAt, now).SetProperty(p => p.DeactivatedByImport, true).SetProperty(p => p.UpdatedAt, now), ct);
            await scope.CommitAsync(ct);
        }

        foreach (var chunk in ended.Chunk(500))
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
            run.ActivitiesEnded += await db.PractitionerActivities.Where(a => chunk.Contains(a.Id))
                .ExecuteUpdateAsync(u => u.SetProperty(a => a.EndedAt, now).SetProperty(a => a.UpdatedAt, now), ct);
            await scope.CommitAsync(ct);
        }
    }

    /// <summary>Deactivates the establishments the FINESS extraction no longer lists (closed).</summary>
    private async Task RemoveAbsentEstablishmentsAsync(FinessRun run, DirectoryImportOptions options, CancellationToken ct)
    {
        var active = await db.Organizations.AsNoTracking().Where(o => o.Source == FinessSource && o.DeactivatedAt == null).Select(o => new { o.Id, o.Finess }).ToListAsync(ct);
        var absent = active.Where(o => o.Finess is null || !run.Seen.Contains(o.Finess)).Select(o => o.Id).ToList();
        RefuseMassRemoval(absent.Count, active.Count, "establishments", options);
        var now = time.GetUtcNow();
        foreach (var chunk in absent.Chunk(500))
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
            run.Deactivated += await db.Organizations.Where(o => chunk.Contains(o.Id))
                .ExecuteUpdateAsync(u => u.SetProperty(o => o.DeactivatedAt, now).SetProperty(o => o.UpdatedAt, now), ct);
            await scope.CommitAsync(ct);
        }
    }

    private static void RefuseMassRemoval(int absent, int active, string what, DirectoryImportOptions options)
    {
        if (!options.AllowMassRemoval && absent > 100 && absent * 10 > active)
        {
            throw new DmpException(ErrorKind.Conflict,
                $"the extraction would deactivate {absent} of the {active} {what} of the directory: nothing was deactivated (the additions and updates are kept). " +
                "Is the file complete? If the removal is intended, import it again with --allow-mass-removal.");
        }
    }

    /// <summary>
    /// Learns each commune's position from its geolocated establishments, then places the activities
    /// (their site's own position, else their commune's) and the establishments without a position of
    /// their own. Returns how many activities and establishments have a position.
    /// </summary>
    public async Task<int> LocateAsync(CancellationToken ct)
    {
        var sites = await db.Organizations.AsNoTracking()
            .Where(o => o.DeactivatedAt == null && o.PositionExact && o.CommuneCode != null && o.Latitude != null)
            .Select(o => new { o.CommuneCode, o.PostalCode, o.City, o.DepartmentCode, o.Latitude, o.Longitude }).ToListAsync(ct);
        var places = sites.GroupBy(s => s.CommuneCode!, StringComparer.Ordinal).Select(g => new DirectoryPlace
        {
            CommuneCode = g.Key,
            PostalCode = g.Where(s => s.PostalCode != null).GroupBy(s => s.PostalCode!).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Key).FirstOrDefault() ?? string.Empty,
            City = g.Where(s => s.City != null).GroupBy(s => s.City!).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).Select(x => x.Key).FirstOrDefault() ?? g.Key,
            DepartmentCode = g.First().DepartmentCode,
            Latitude = Math.Round(g.Average(s => s.Latitude!.Value), 6),
            Longitude = Math.Round(g.Average(s => s.Longitude!.Value), 6),
            Sources = g.Count(),
        }).ToDictionary(p => p.CommuneCode, StringComparer.Ordinal);

        await using (var scope = await gate.EnterAsync(db, null, ct))
        {
            await db.DirectoryPlaces.ExecuteDeleteAsync(ct);
            db.DirectoryPlaces.AddRange(places.Values);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
            db.ChangeTracker.Clear();
        }

        var exact = (await db.Organizations.AsNoTracking().Where(o => o.DeactivatedAt == null && o.PositionExact && o.Finess != null)
            .Select(o => new { o.Finess, o.Latitude, o.Longitude }).ToListAsync(ct))
            .GroupBy(o => o.Finess!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => new GeoPoint(g.First().Latitude!.Value, g.First().Longitude!.Value), StringComparer.Ordinal);
        var located = 0;
        located += await PlaceAsync(db.Organizations.Where(o => !o.PositionExact), o => o.Id, o => o.CommuneCode, _ => null,
            (o, p) => { o.Latitude = p?.Latitude; o.Longitude = p?.Longitude; }, o => (o.Latitude, o.Longitude), exact, places, ct);
        located += exact.Count;
        located += await PlaceAsync(db.PractitionerActivities.Where(a => a.EndedAt == null), a => a.Id, a => a.CommuneCode, a => a.SiteFiness,
            (a, p) => { a.Latitude = p?.Latitude; a.Longitude = p?.Longitude; a.PositionExact = p is not null && a.SiteFiness is not null && exact.ContainsKey(a.SiteFiness); },
            a => (a.Latitude, a.Longitude), exact, places, ct);
        return located;
    }

    /// <summary>The positions known now: the geolocated establishments by FINESS and the communes' learnt positions.</summary>
    private async Task<Positions> PositionsAsync(CancellationToken ct)
    {
        var exact = (await db.Organizations.AsNoTracking().Where(o => o.DeactivatedAt == null && o.PositionExact && o.Finess != null)
            .Select(o => new { o.Finess, o.Latitude, o.Longitude }).ToListAsync(ct))
            .GroupBy(o => o.Finess!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => new GeoPoint(g.First().Latitude!.Value, g.First().Longitude!.Value), StringComparer.Ordinal);
        var places = await db.DirectoryPlaces.AsNoTracking().ToDictionaryAsync(p => p.CommuneCode, p => new GeoPoint(p.Latitude, p.Longitude), StringComparer.Ordinal, ct);
        return new Positions(exact, places);
    }

    private sealed record Positions(Dictionary<string, GeoPoint> Exact, Dictionary<string, GeoPoint> Places)
    {
        public static Positions None { get; } = new(new Dictionary<string, GeoPoint>(StringComparer.Ordinal), new Dictionary<string, GeoPoint>(StringComparer.Ordinal));

        public (GeoPoint? Position, bool Exact) Of(string? finess, string? commune) =>
            finess is not null && Exact.TryGetValue(finess, out var e) ? (e, true)
            : commune is not null && Places.TryGetValue(commune, out var p) ? (p, false)
            : (null, false);
    }

    /// <summary>Sets the position of entries by pages (their site's, else their commune's), writing only those that change.</summary>
    private async Task<int> PlaceAsync<T>(IQueryable<T> query, Func<T, string> id, Func<T, string?> commune, Func<T, string?> site,
        Action<T, GeoPoint?> set, Func<T, (double?, double?)> current, Dictionary<string, GeoPoint> exact, Dictionary<string, DirectoryPlace> places, CancellationToken ct)
        where T : class
    {
        var located = 0;
        string? after = null;
        while (true)
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
#pragma warning disable CA1309 // translated to SQL (a > b on the key column): no .NET comparison involved
            var page = after is null
                ? await query.OrderBy(x => EF.Property<string>(x, "Id")).Take(5000).ToListAsync(ct)
                : await query.Where(x => string.Compare(EF.Property<string>(x, "Id"), after) > 0).OrderBy(x => EF.Property<string>(x, "Id")).Take(5000).ToListAsync(ct);
#pragma warning restore CA1309
            foreach (var item in page)
            {
                GeoPoint? p = site(item) is { } s && exact.TryGetValue(s, out var e) ? e
                    : commune(item) is { } c && places.TryGetValue(c, out var place) ? new GeoPoint(place.Latitude, place.Longitude) : null;
                if (p is not null)
                {
                    located++;
                }

                if (current(item) != (p?.Latitude, p?.Longitude))
                {
                    set(item, p);
                }
            }

            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
            db.ChangeTracker.Clear();
            if (page.Count < 5000)
            {
                return located;
            }

            after = id(page[^1]);
        }
    }

    private async Task AuditAsync(DirectoryImportReport report, CancellationToken ct)
    {
        await using var scope = await gate.EnterAsync(db, null, ct);
        await audit.AppendAsync(db, new AuditItem(null, Actor.Operator, AuditAction.Import, AuditOutcomes.Success, Channels.Admin,
            report.Source == RppsSource ? "Practitioner" : "Organization", null, Detail: report.ToString()), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>The département of an INSEE commune code (97x for the overseas ones).</summary>
    public static string? DepartmentOf(string? commune) =>
        commune is not { Length: 5 } ? null : commune.StartsWith("97", StringComparison.Ordinal) ? commune[..3] : commune[..2];

    private static string Hash(params string?[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts.Select(p => p ?? string.Empty)))))[..32];

    private abstract class Run
    {
        public int Added, Updated, Unchanged, Reactivated, Deactivated, Rejected;
        public List<RejectedLine> Samples { get; } = [];

        public void Reject(RejectedLine line)
        {
            Rejected++;
            if (Samples.Count < MaxSamples)
            {
                Samples.Add(line);
            }
        }
    }

    private sealed class RppsRun : Run
    {
        public int ActivitiesAdded, ActivitiesUpdated, ActivitiesEnded, Located;
        public Positions Positions { get; init; } = Positions.None;
        public HashSet<string> SeenPeople { get; } = new(StringComparer.Ordinal);
        public HashSet<string> SeenActivities { get; } = new(StringComparer.Ordinal);
    }

    private sealed class FinessRun : Run
    {
        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);
    }
}
