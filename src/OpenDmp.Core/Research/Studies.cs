using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Research;

/// <summary>Settings of public-health extracts (section "Research"): off unless the platform turns them on.</summary>
public sealed class ResearchOptions
{
    /// <summary>Extracts may run at all (default false: designed in, disabled).</summary>
    public bool Enabled { get; set; }

    /// <summary>Seconds between two looks at the queue of extracts.</summary>
    public double PollSeconds { get; set; } = 30;

    public IEnumerable<string> Problems()
    {
        if (PollSeconds is < 0.1 or > 86_400)
        {
            yield return "Research:PollSeconds must be between 0.1 and 86400";
        }
    }
}

/// <summary>
/// The per-study pseudonym secrets, kept in files of the data directory, apart from the database
/// (a copy of the database alone cannot link pseudonyms back to records): created when the study
/// is authorised, destroyed when it is withdrawn — its pseudonyms can never be linked again.
/// </summary>
public sealed class StudySecrets(string directory)
{
    private string PathOf(string studyId) => Path.Combine(directory, studyId + ".key");

    public void Create(string studyId)
    {
        System.IO.Directory.CreateDirectory(directory);
        var path = PathOf(studyId);
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough);
        file.Write(RandomNumberGenerator.GetBytes(32));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    public byte[]? Find(string studyId) => File.Exists(PathOf(studyId)) ? File.ReadAllBytes(PathOf(studyId)) : null;

    public void Destroy(string studyId)
    {
        if (File.Exists(PathOf(studyId)))
        {
            File.Delete(PathOf(studyId));
        }
    }

    /// <summary>The study's pseudonym of a record: HMAC-SHA256 under the study's secret; stable within the study, unlinkable across studies.</summary>
    public static string Pseudonym(byte[] secret, string recordId) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes(recordId)).AsSpan(0, 16));
}

/// <summary>A new study's authorisation as the operator records it.</summary>
public sealed record StudyAuthorisation(string Name, string Purpose, string AuthorisedBy, string Authorisation, StudyDataset Dataset, DateTimeOffset ValidFrom, DateTimeOffset ValidUntil, int MinGroupSize = 5);

/// <summary>An extract requested: its id and the access token for the warehouse (shown once).</summary>
public sealed record RequestedExtract(string Id, string Token);

/// <summary>
/// The authorisations of public-health studies and the requests for their extracts (operator only).
/// No extract without an authorisation in force and <see cref="ResearchOptions.Enabled"/>.
/// </summary>
public sealed class StudyService(DmpDbContext db, StudySecrets secrets, ResearchOptions options, TimeProvider time)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<ResearchStudy> AuthoriseAsync(StudyAuthorisation a, CancellationToken ct)
    {
        Require(a.Name, "name", 200);
        Require(a.Purpose, "purpose", 2000);
        Require(a.AuthorisedBy, "authorised-by", 500);
        Require(a.Authorisation, "reference", 200);
        if (a.ValidUntil <= a.ValidFrom || a.ValidUntil <= time.GetUtcNow())
        {
            throw DmpException.Invalid("the authorisation must end after it starts, and in the future");
        }

        if (a.MinGroupSize is < 2 or > 1000)
        {
            throw DmpException.Invalid("the minimum group size (k) must be between 2 and 1000");
        }

        if (!a.Dataset.Documents && !a.Dataset.Results && !a.Dataset.Conditions)
        {
            throw DmpException.Invalid("the dataset must include documents, results or conditions");
        }

        var study = new ResearchStudy
        {
            Id = Guid.CreateVersion7().ToString(),
            Name = a.Name.Trim(),
            Purpose = a.Purpose.Trim(),
            AuthorisedBy = a.AuthorisedBy.Trim(),
            Authorisation = a.Authorisation.Trim(),
            Dataset = JsonSerializer.Serialize(a.Dataset, Json),
            ValidFrom = a.ValidFrom,
            ValidUntil = a.ValidUntil,
            MinGroupSize = a.MinGroupSize,
            CreatedAt = time.GetUtcNow(),
        };
        secrets.Create(study.Id);
        db.ResearchStudies.Add(study);
        await db.SaveChangesAsync(ct);
        return study;
    }

    /// <summary>Withdraws the authorisation: no more extracts, and its pseudonym secret is destroyed.</summary>
    public async Task<ResearchStudy> RevokeAsync(string studyId, CancellationToken ct)
    {
        var study = await db.ResearchStudies.FirstOrDefaultAsync(s => s.Id == studyId, ct) ?? throw DmpException.NotFound($"no study {studyId}");
        study.RevokedAt ??= time.GetUtcNow();
        await db.SaveChangesAsync(ct);
        secrets.Destroy(study.Id);
        return study;
    }

    public Task<List<ResearchStudy>> ListAsync(CancellationToken ct) => db.ResearchStudies.AsNoTracking().OrderBy(s => s.CreatedAt).ToListAsync(ct);

    /// <summary>Queues an extract of the study; refused unless extracts are enabled and the authorisation is in force.</summary>
    public async Task<RequestedExtract> RequestExtractAsync(string studyId, CancellationToken ct)
    {
        if (!options.Enabled)
        {
            throw new DmpException(ErrorKind.Forbidden, "public-health extracts are disabled on this platform (set Research:Enabled to true once the platform is allowed to produce them)");
        }

        var study = await db.ResearchStudies.AsNoTracking().FirstOrDefaultAsync(s => s.Id == studyId, ct)
            ?? throw DmpException.NotFound($"no authorised study {studyId}: record the authorisation first (opendmp study authorise)");
        if (AccessPolicy.StudyRefusal(FactsOf(study), time.GetUtcNow()) is { } refusal)
        {
            throw new DmpException(ErrorKind.Forbidden, refusal);
        }

        if (secrets.Find(study.Id) is null)
        {
            throw new DmpException(ErrorKind.Conflict, $"the pseudonym secret of study {study.Name} is missing from the data directory: the study cannot be extracted");
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var extract = new ResearchExtract { Id = Guid.CreateVersion7().ToString(), StudyId = study.Id, Status = "queued", RequestedAt = time.GetUtcNow(), TokenHash = HashOf(token) };
        db.ResearchExtracts.Add(extract);
        await db.SaveChangesAsync(ct);
        return new RequestedExtract(extract.Id, token);
    }

    /// <summary>The extract named, when <paramref name="token"/> is its access token (compared in constant time); else null.</summary>
    public async Task<ResearchExtract?> AuthorisedExtractAsync(string extractId, string? token, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token) || extractId.Length > 64)
        {
            return null;
        }

        var extract = await db.ResearchExtracts.AsNoTracking().FirstOrDefaultAsync(e => e.Id == extractId, ct);
        return extract is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(extract.TokenHash), Encoding.ASCII.GetBytes(HashOf(token))) ? extract : null;
    }

    public Task<ResearchExtract?> FindExtractAsync(string extractId, CancellationToken ct) => db.ResearchExtracts.AsNoTracking().FirstOrDefaultAsync(e => e.Id == extractId, ct);

    public static StudyFacts FactsOf(ResearchStudy s) => new(s.Id, s.Name, s.ValidFrom, s.ValidUntil, s.RevokedAt is not null);

    public static string HashOf(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static void Require(string? value, string name, int max)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > max)
        {
            throw DmpException.Invalid($"--{name} is required ({max} characters at most)");
        }
    }

    /// <summary>Describes an extract's figures for the operator.</summary>
    public static string Describe(ResearchExtract e) => string.Create(CultureInfo.InvariantCulture,
        $"{e.Id} {e.Status}: {e.Included} included, {e.OptedOut} opposed, {e.Suppressed} suppressed (k), smallest group {(e.SmallestGroup?.ToString(CultureInfo.InvariantCulture) ?? "-")}{(e.Error is null ? string.Empty : "; " + e.Error)}");
}
