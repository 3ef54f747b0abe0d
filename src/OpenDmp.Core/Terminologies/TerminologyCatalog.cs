using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Terminologies;

/// <summary>A terminology publication imported by an operator (kept forever: earlier versions stay readable).</summary>
public sealed class TerminologyImport
{
    /// <summary>Import order; the last imported version of a URL is the one in force.</summary>
    public long Sequence { get; set; }
    public required string ResourceType { get; set; }
    public required string ResourceId { get; set; }
    public required string Url { get; set; }
    public required string Version { get; set; }
    /// <summary>SHA-256 (hex) of the JSON as published.</summary>
    public required string Sha256 { get; set; }
    public required string Json { get; set; }
    public DateTimeOffset ImportedAt { get; set; }
    public required string ImportedBy { get; set; }
}

/// <summary>What an import did with one resource.</summary>
public sealed record TerminologyImportResult(string ResourceType, string Url, string Version, string Outcome)
{
    public override string ToString() => $"{ResourceType} {Url} version {Version}: {Outcome}";
}

/// <summary>
/// The terminology in force on this instance: the shipped ANS publications plus the imported ones
/// (table terminology_imports). Every instance re-reads the table at most every
/// <see cref="RefreshInterval"/>, so an import made by the CLI or another instance is in force
/// everywhere within that time; an import made here is in force at once.
/// </summary>
public sealed class TerminologyCatalog(IServiceScopeFactory scopes, TimeProvider clock) : IDisposable
{
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private TerminologySet _current = TerminologySet.Shipped;
    private long _loadedSequence;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;

    public void Dispose() => _refresh.Dispose();

    /// <summary>The set in force as last loaded (no database access).</summary>
    public TerminologySet Current => Volatile.Read(ref _current);

    /// <summary>The set in force, re-read from the database when the last check is older than <see cref="RefreshInterval"/>.</summary>
    public async Task<TerminologySet> GetAsync(CancellationToken ct)
    {
        if (clock.GetUtcNow() - _checkedAt < RefreshInterval)
        {
            return Current;
        }

        await RefreshAsync(force: false, ct);
        return Current;
    }

    /// <summary>Re-reads the imported publications (when the table changed since the last load).</summary>
    public async Task RefreshAsync(bool force, CancellationToken ct)
    {
        await _refresh.WaitAsync(ct);
        try
        {
            if (!force && clock.GetUtcNow() - _checkedAt < RefreshInterval)
            {
                return;
            }

            using var scope = scopes.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<DmpDbContext>();
            var last = await db.TerminologyImports.MaxAsync(t => (long?)t.Sequence, ct) ?? 0;
            if (last != _loadedSequence)
            {
                var rows = await db.TerminologyImports.AsNoTracking().OrderBy(t => t.Sequence).ToListAsync(ct);
                var imported = rows.SelectMany(r => TerminologyJson.Parse(r.Json, $"import #{r.Sequence}", new TerminologyOrigin("imported", r.ImportedAt, r.Sequence)));
                Volatile.Write(ref _current, TerminologySet.Shipped.With(imported));
                _loadedSequence = last;
            }

            _checkedAt = clock.GetUtcNow();
        }
        finally
        {
            _refresh.Release();
        }
    }
}

/// <summary>
/// Imports ANS terminology publications (FHIR R4 CodeSystem / ValueSet JSON, or a Bundle of them)
/// without a new release. Idempotent: a version already present with the same content is skipped; the
/// same version with different content is refused (a publisher changes the version). Every import is
/// an administrative action of the audit trail.
/// </summary>
public sealed class TerminologyImporter(DmpDbContext db, WriteGate gate, AuditTrail audit, TerminologyCatalog catalog, TimeProvider clock)
{
    /// <summary>Imports the resources of one file's text; returns what was done with each.</summary>
    public async Task<IReadOnlyList<TerminologyImportResult>> ImportAsync(string json, string source, Actor actor, string channel, CancellationToken ct)
    {
        var resources = TerminologyJson.Parse(json, source);
        var results = new List<TerminologyImportResult>();
        await using var scope = await gate.EnterAsync(db, null, ct);
        var current = await catalog.GetAsync(ct);
        var now = clock.GetUtcNow();
        foreach (var r in resources)
        {
            var known = current.All.FirstOrDefault(x => x.ResourceType == r.ResourceType && x.Url == r.Url && x.Version == r.Version);
            if (known is not null)
            {
                results.Add(known.Sha256 == r.Sha256
                    ? new TerminologyImportResult(r.ResourceType, r.Url, r.Version, $"already present ({known.Origin.Kind}), nothing to do")
                    : throw new DmpException(ErrorKind.Conflict, $"{source}: {r.ResourceType} {r.Url} version {r.Version} is already present ({known.Origin.Kind}) with a different content; a new publication must carry a new version"));
                continue;
            }

            if (current.All.FirstOrDefault(x => x.ResourceType == r.ResourceType && x.Id == r.Id && x.Url != r.Url) is { } clash)
            {
                throw new DmpException(ErrorKind.Conflict, $"{source}: the id {r.Id} already names {clash.Url}; a resource with another URL needs another id");
            }

            db.TerminologyImports.Add(new TerminologyImport
            {
                ResourceType = r.ResourceType, ResourceId = r.Id, Url = r.Url, Version = r.Version, Sha256 = r.Sha256, Json = r.Json, ImportedAt = now, ImportedBy = actor.Id,
            });
            await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.TerminologyImport, AuditOutcomes.Success, channel, r.ResourceType, r.Id, Detail: $"{r.Url}|{r.Version}"), ct);
            results.Add(new TerminologyImportResult(r.ResourceType, r.Url, r.Version, "imported, now in force"));
        }

        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        await catalog.RefreshAsync(force: true, ct);
        return results;
    }
}
