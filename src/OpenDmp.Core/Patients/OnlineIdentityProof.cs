using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Patients;

/// <summary>
/// How a patient proves online who they are before opening their own record (the report: "soit
/// directement par le patient, via Internet"). An interface: the national online identity service
/// is an outside service; OpenDMP ships <see cref="InsurerLetterProof"/>, the code of a letter the
/// insurer mails to the patient's address. See docs/ARCHITECTURE.md, "Opening a record".
/// </summary>
public interface IOnlineIdentityProof
{
    /// <summary>What the audit trail names as the proof.</summary>
    string Kind { get; }

    /// <summary>The patient's record id when the proof holds for this INS; null otherwise (each failure is audited and counts against the proof).</summary>
    Task<string?> VerifyAsync(string ins, string proof, CancellationToken ct);

    /// <summary>Spends the proof once the opening it allowed has succeeded: it opens nothing twice.</summary>
    Task ConsumeAsync(string recordId, CancellationToken ct);
}

/// <summary>
/// The insurer's letter: the operator (for the insurer) issues a one-time code for a registered
/// patient (<c>opendmp patient opening-letter</c>), mailed to the patient's postal address; the
/// patient enters their INS and this code on the portal's opening page. Stored as a SHA-256 hash,
/// valid <see cref="Lifetime"/>, void after <see cref="MaxAttempts"/> failures, spent by its use.
/// </summary>
public sealed class InsurerLetterProof(DmpDbContext db, RecordGuard guard, TimeProvider time) : IOnlineIdentityProof
{
    public const int MaxAttempts = 5;
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(90);
    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    private static readonly Actor Visitor = new(ActorKind.Patient, "online-visitor", "Internet");

    public string Kind => "insurer-letter";

    /// <summary>Issues (or replaces) the letter code of a registered patient whose record is not open; returns the code to print in the letter.</summary>
    public async Task<string> IssueAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        if (!await db.Patients.AnyAsync(p => p.RecordId == recordId, ct))
        {
            throw DmpException.NotFound("no such patient");
        }

        if (await db.Records.AnyAsync(r => r.RecordId == recordId, ct))
        {
            throw new DmpException(ErrorKind.Conflict, "this patient already has a record: a letter to open one is of no use");
        }

        var code = string.Join('-', Enumerable.Range(0, 3).Select(_ => new string(Enumerable.Range(0, 4).Select(_ => Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)]).ToArray())));
        var now = time.GetUtcNow();
        await db.OpeningLetters.Where(l => l.RecordId == recordId).ExecuteDeleteAsync(ct);
        db.OpeningLetters.Add(new OpeningLetter { RecordId = recordId, CodeHash = Hash(code), IssuedAt = now, ExpiresAt = now + Lifetime });
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Activation, "success", channel, "Patient", recordId, Detail: "letter to open the record online issued"), ct);
        return code;
    }

    public async Task<string?> VerifyAsync(string ins, string proof, CancellationToken ct)
    {
        var value = Ins.Normalize(ins);
        var ids = await db.PatientIdentifiers.AsNoTracking().Where(x => x.Value == value && x.System != Ins.LocalTestSystem).Select(x => x.RecordId).Distinct().Take(2).ToListAsync(ct);
        var recordId = ids.Count == 1 ? ids[0] : null;
        var letter = recordId is null ? null : await db.OpeningLetters.FirstOrDefaultAsync(l => l.RecordId == recordId, ct);
        var now = time.GetUtcNow();
        if (letter is null || letter.UsedAt is not null || letter.ExpiresAt < now || letter.FailedAttempts >= MaxAttempts
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(letter.CodeHash), Encoding.ASCII.GetBytes(Hash(proof))))
        {
            if (letter is not null)
            {
                letter.FailedAttempts++;
                await db.SaveChangesAsync(ct);
            }

            db.ChangeTracker.Clear();
            // On the patient's chain when the INS names one (they see the attempt), else the platform's.
            await guard.AuditAsync(new AuditItem(recordId, Visitor, AuditAction.Open, "denied", Channels.Portal, "Record", recordId, Detail: "online identity proof (insurer letter) refused"), ct);
            return null;
        }

        db.ChangeTracker.Clear();
        return recordId;
    }

    public async Task ConsumeAsync(string recordId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await db.OpeningLetters.Where(l => l.RecordId == recordId && l.UsedAt == null).ExecuteUpdateAsync(u => u.SetProperty(l => l.UsedAt, now), ct);
    }

    private static string Hash(string code) =>
        Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(code.Trim().Replace("-", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant())));
}
