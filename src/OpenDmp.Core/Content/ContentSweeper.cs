using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Content;

/// <summary>What one sweep removed.</summary>
public sealed record SweepReport(int Temporary, int Orphans);

/// <summary>
/// Removes what a crash can leave in the file content store: temporary files of writes that never
/// completed, and content files of submissions whose transaction never committed (no document
/// points to them). Only files older than a safety margin are touched, so that a submission in
/// flight (content written, metadata not yet committed) is never swept. Each sweep that removes
/// something is recorded on the platform's audit chain (counts only).
/// </summary>
public sealed class ContentSweeper(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time)
{
    public async Task<SweepReport> SweepAsync(string contentRoot, TimeSpan minAge, CancellationToken ct)
    {
        if (!System.IO.Directory.Exists(contentRoot))
        {
            return new SweepReport(0, 0);
        }

        var before = time.GetUtcNow() - minAge;
        int temporary = 0, orphans = 0;
        foreach (var dir in System.IO.Directory.EnumerateDirectories(contentRoot))
        {
            var recordId = Path.GetFileName(dir);
            HashSet<string>? keys = null;
            foreach (var file in System.IO.Directory.EnumerateFiles(dir))
            {
                if (File.GetLastWriteTimeUtc(file) > before.UtcDateTime)
                {
                    continue;
                }

                var name = Path.GetFileName(file);
                if (name.Contains(".tmp-", StringComparison.Ordinal))
                {
                    File.Delete(file);
                    temporary++;
                    continue;
                }

                keys ??= (await db.Documents.AsNoTracking().Where(d => d.RecordId == recordId).Select(d => d.ContentKey).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
                if (!keys.Contains(name))
                {
                    File.Delete(file);
                    orphans++;
                }
            }
        }

        if (temporary + orphans > 0)
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
            await audit.AppendAsync(db, new AuditItem(null, Actor.Operator, AuditAction.Delete, AuditOutcomes.Success, Channels.Admin, "Content", null, Detail: $"swept {temporary} temporary and {orphans} orphan content file(s)"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
            db.ChangeTracker.Clear();
        }

        return new SweepReport(temporary, orphans);
    }
}
