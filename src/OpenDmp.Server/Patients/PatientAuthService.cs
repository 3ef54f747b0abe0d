using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Storage;

namespace OpenDmp.Server.Patients;

/// <summary>Settings of patient authentication (configuration section <c>PatientAuth</c>).</summary>
public sealed class PatientAuthOptions
{
    public int MaxFailedAttempts { get; set; } = 5;
    public TimeSpan Lockout { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>Lifetime of an API bearer token.</summary>
    public TimeSpan BearerLifetime { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>Lifetime of a portal session cookie.</summary>
    public TimeSpan CookieLifetime { get; set; } = TimeSpan.FromMinutes(30);
    public TimeSpan ActivationLifetime { get; set; } = TimeSpan.FromDays(30);
    public int MinPasswordLength { get; set; } = 12;
    /// <summary>Login attempts per client address per minute (rate limit, before any lockout).</summary>
    public int LoginPermitsPerMinute { get; set; } = 20;
    /// <summary>Failed sign-ins from one address before each further attempt must wait (doubling).</summary>
    public int AddressFailuresBeforeBackoff { get; set; } = 10;
    public TimeSpan AddressBackoffMax { get; set; } = TimeSpan.FromMinutes(15);
    /// <summary>Failures from one trusted device before it is forgotten.</summary>
    public int DeviceFailuresBeforeRevocation { get; set; } = 5;
    /// <summary>How long a trusted device is remembered without use.</summary>
    public TimeSpan DeviceLifetime { get; set; } = TimeSpan.FromDays(365);
}

/// <summary>What activation gives the patient: the TOTP secret to enrol in an authenticator app.</summary>
public sealed record ActivationResult(string TotpSecret, string OtpauthUri);

/// <summary>A new session.</summary>
public sealed record PatientSessionToken(string Token, DateTimeOffset ExpiresAt);

/// <summary>What a successful login gives: a bearer token for the API, a session cookie value for the portal, and the device token to present next time.</summary>
public sealed record PatientLogin(string RecordId, PatientSessionToken Bearer, PatientSessionToken Cookie, string? RepresentativeId = null, string? DeviceToken = null);

/// <summary>Where a sign-in attempt comes from: the client's address (for the per-address backoff) and the device token it presents, if any.</summary>
public sealed record SignInContext(string Address, string? DeviceToken = null)
{
    public static SignInContext Unknown { get; } = new("unknown");
}

/// <summary>
/// Patient authentication (design D8): a one-time activation code issued at record opening (or by
/// the operator), a password hashed with the standard ASP.NET Core Identity hasher (PBKDF2), a TOTP
/// second factor whose secret is sealed under the record's data key, lockout after repeated
/// failures, and short-lived sessions (cookie for the portal, bearer token for the API) stored as
/// SHA-256 hashes so that a database leak gives no usable token. Every attempt is audited.
/// </summary>
public sealed class PatientAuthService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, KeyRing keys, PatientAuthOptions options, LoginThrottle throttle)
{
    public const string DeviceCookieName = "opendmp_device";
    public const string CookieName = "opendmp_session";
    private const string BadCredentials = "INS, password or one-time code incorrect";
    private static readonly PasswordHasher<Credentials> Hasher = new();

    /// <summary>Issues (or re-issues) a one-time activation code; the previous one stops working.</summary>
    public async Task<string> IssueActivationAsync(string recordId, string? email, Actor actor, string channel, CancellationToken ct, string? phone = null, string? language = null)
    {
        email = EmailAddress.Optional(email, "email");
        phone = PhoneNumber.Optional(phone, "phone");
        var code = NewActivationCode();
        var now = time.GetUtcNow();
        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (!await db.Records.AnyAsync(x => x.RecordId == recordId, ct))
        {
            throw new DmpException(ErrorKind.Conflict, "this patient has no record: open one first");
        }

        var account = await db.PatientAccounts.FirstOrDefaultAsync(x => x.RecordId == recordId, ct);
        if (account is null)
        {
            account = new PatientAccount { RecordId = recordId, CreatedAt = now };
            db.PatientAccounts.Add(account);
            foreach (var (ev, channel2) in OpenDmp.Core.Notifications.NotificationEvents.Defaults)
            {
                db.NotificationChoices.Add(new OpenDmp.Core.Notifications.NotificationChoice { RecordId = recordId, Event = ev, Channel = channel2 });
            }
        }

        account.Email = email ?? account.Email;
        account.Phone = phone ?? account.Phone;
        account.Language = language is "fr" or "en" ? language : account.Language;
        account.ActivationCodeHash = Sha256(Normalize(code));
        account.ActivationExpiresAt = now + options.ActivationLifetime;
        account.FailedAttempts = 0;
        account.LockedUntil = null;
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Activation, "success", channel, "Patient", recordId), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return code;
    }

    /// <summary>
    /// Registers a legal representative on a record (parent of a minor, guardian) and issues their
    /// one-time activation code. Returns the representative's sign-in identifier and the code.
    /// </summary>
    public async Task<(string Id, string Code)> AddRepresentativeAsync(string recordId, string? displayName, string? relationship, string? email, DateTimeOffset? validUntil, Actor actor, string channel, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(displayName))
        {
            throw DmpException.Invalid("the representative's name is required", "name");
        }

        if (relationship is not ("parent" or "guardian"))
        {
            throw DmpException.Invalid("the relationship is parent (a minor's parent) or guardian (tutelle)", "relationship");
        }

        var now = time.GetUtcNow();
        if (validUntil is { } until && until <= now)
        {
            throw DmpException.Invalid("the end of the representation must be in the future", "until");
        }

        var code = NewActivationCode();
        var id = "RL-" + NewActivationCode()[..9];
        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (!await db.Records.AnyAsync(x => x.RecordId == recordId, ct))
        {
            throw new DmpException(ErrorKind.Conflict, "this patient has no record: open one first");
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.RepresentativeAdd, "success", channel, "RelatedPerson", id, Detail: relationship), ct);
        db.RepresentativeAccounts.Add(new RepresentativeAccount
        {
            Id = id,
            RecordId = recordId,
            DisplayName = displayName.Trim(),
            Relationship = relationship,
            Email = EmailAddress.Optional(email, "email"),
            ValidUntil = validUntil,
            CreatedAt = now,
            ActivationCodeHash = Sha256(Normalize(code)),
            ActivationExpiresAt = now + options.ActivationLifetime,
        });
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return (id, code);
    }

    /// <summary>Re-issues a legal representative's activation code (the previous one and the current password stop working).</summary>
    public async Task<string> IssueRepresentativeActivationAsync(string representativeId, Actor actor, string channel, CancellationToken ct)
    {
        var rep = await RepresentativeAsync(representativeId, ct);
        var code = NewActivationCode();
        var now = time.GetUtcNow();
        await using var scope = await gate.EnterAsync(db, rep.RecordId, ct);
        var account = await db.RepresentativeAccounts.FirstAsync(x => x.Id == rep.Id, ct);
        if (!account.ActiveAt(now))
        {
            throw new DmpException(ErrorKind.Conflict, "this representation has ended or was revoked");
        }

        await audit.AppendAsync(db, new AuditItem(rep.RecordId, actor, AuditAction.Activation, "success", channel, "RelatedPerson", rep.Id), ct);
        account.ActivationCodeHash = Sha256(Normalize(code));
        account.ActivationExpiresAt = now + options.ActivationLifetime;
        account.FailedAttempts = 0;
        account.LockedUntil = null;
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return code;
    }

    /// <summary>Ends a legal representation now: sessions are closed at once.</summary>
    public async Task RevokeRepresentativeAsync(string representativeId, Actor actor, string channel, CancellationToken ct)
    {
        var rep = await RepresentativeAsync(representativeId, ct);
        var now = time.GetUtcNow();
        await using var scope = await gate.EnterAsync(db, rep.RecordId, ct);
        await audit.AppendAsync(db, new AuditItem(rep.RecordId, actor, AuditAction.RepresentativeRevoke, "success", channel, "RelatedPerson", rep.Id), ct);
        var account = await db.RepresentativeAccounts.FirstAsync(x => x.Id == rep.Id, ct);
        account.RevokedAt ??= now;
        await db.PatientSessions.Where(x => x.RepresentativeId == rep.Id).ExecuteDeleteAsync(ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }

    /// <summary>The legal representatives of a record (for the patient and the operator).</summary>
    public async Task<IReadOnlyList<RepresentativeAccount>> RepresentativesAsync(string recordId, CancellationToken ct) =>
        await db.RepresentativeAccounts.AsNoTracking().Where(x => x.RecordId == recordId).OrderBy(x => x.CreatedAt).ToListAsync(ct);

    private async Task<RepresentativeAccount> RepresentativeAsync(string representativeId, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        var id = representativeId.Trim().ToUpperInvariant();
        return await db.RepresentativeAccounts.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct)
            ?? throw DmpException.NotFound($"no legal representative {id}");
    }

    /// <summary>The password rule: long enough, letters and at least one digit or symbol.</summary>
    public void CheckPassword(string? password)
    {
        if (password is null || password.Length < options.MinPasswordLength || !password.Any(char.IsLetter) || !password.Any(c => !char.IsLetter(c)))
        {
            throw DmpException.Invalid($"the password must have at least {options.MinPasswordLength} characters, with letters and at least one digit or symbol", "password");
        }
    }

    /// <summary>
    /// Activates the account of the patient (no <paramref name="representative"/>) or of one of their
    /// legal representatives: checks the code, sets the password, creates the TOTP secret.
    /// </summary>
    public async Task<ActivationResult> ActivateAsync(string? ins, string? code, string? password, CancellationToken ct, string? representative = null)
    {
        if (string.IsNullOrWhiteSpace(ins) || string.IsNullOrWhiteSpace(code) || password is null)
        {
            throw new DmpException(ErrorKind.BadRequest, "ins, code and password are required");
        }

        CheckPassword(password);

        var repId = NormalizeRepresentative(representative);
        var recordId = await RecordOfInsAsync(ins, activating: true, ct) ?? throw new DmpException(ErrorKind.Unauthenticated, "activation code invalid or expired");
        var now = time.GetUtcNow();
        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var account = await AccountAsync(recordId, repId, now, ct);
        var actor = ActorOf(recordId, account);
        // A locked account answers like a wrong code: the answer never tells whether an account exists or is locked.
        if (account?.ActivationCodeHash is null || account.ActivationExpiresAt < now || account.LockedUntil > now
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(account.ActivationCodeHash), Encoding.ASCII.GetBytes(Sha256(Normalize(code)))))
        {
            if (account is not null)
            {
                Fail(account, now);
                await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Activate, "denied", Channels.Portal, "Patient", recordId, Detail: "invalid activation code"), ct);
                await db.SaveChangesAsync(ct);
                await scope.CommitAsync(ct);
            }

            throw new DmpException(ErrorKind.Unauthenticated, "activation code invalid or expired");
        }

        var secret = Totp.NewSecret();
        var key = await keys.GetOrCreateAsync(db, recordId, ct);
        account.PasswordHash = Hasher.HashPassword(account, password);
        account.TotpSecret = KeyRing.Seal(key, secret, TotpContext(recordId, repId));
        account.LastTotpStep = 0;
        account.ActivationCodeHash = null;
        account.ActivationExpiresAt = null;
        account.ActivatedAt = now;
        account.FailedAttempts = 0;
        await db.PatientSessions.Where(x => x.RecordId == recordId && x.RepresentativeId == repId).ExecuteDeleteAsync(ct);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Activate, "success", Channels.Portal, "Patient", recordId), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return new ActivationResult(Totp.Base32(secret), Totp.Uri(secret, repId ?? ins));
    }

    /// <summary>
    /// Password + TOTP; two short-lived sessions (bearer, cookie) and a device token. One answer for
    /// every failure — unknown INS, wrong password or code, locked account — with the same cost, so
    /// that nothing tells who has an account. After repeated failures the account is locked for
    /// attempts from devices it does not know; a device where this person signed in before (its
    /// token in <paramref name="from"/>) still gets in, so a stranger cannot lock the owner out.
    /// The address is slowed down after repeated failures, whatever the account.
    /// </summary>
    public async Task<PatientLogin> LoginAsync(string? ins, string? password, string? totp, CancellationToken ct, string? representative = null, SignInContext? from = null)
    {
        if (string.IsNullOrWhiteSpace(ins) || password is null || totp is null)
        {
            throw new DmpException(ErrorKind.BadRequest, "ins, password and totp are required");
        }

        from ??= SignInContext.Unknown;
        if (throttle.Wait(from.Address) is { } wait)
        {
            throw new DmpException(ErrorKind.TooManyRequests, $"too many failed sign-ins from this address: retry in {Math.Ceiling(wait.TotalSeconds)} s");
        }

        var repId = NormalizeRepresentative(representative);
        var recordId = await RecordOfInsAsync(ins, activating: false, ct);
        if (recordId is null)
        {
            throw Refused(password, from);
        }

        var now = time.GetUtcNow();
        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var account = await AccountAsync(recordId, repId, now, ct);
        if (account?.PasswordHash is null || account.TotpSecret is null)
        {
            throw Refused(password, from);
        }

        var actor = ActorOf(recordId, account);
        var device = await TrustedDeviceAsync(recordId, repId, from.DeviceToken, now, ct);
        if (device is null && account.LockedUntil > now)
        {
            // Locked for unknown devices: refused without looking at the factors, at the same cost.
            await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Login, AuditOutcomes.Denied, Channels.Portal, "Patient", recordId, Detail: "locked for unknown devices"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
            throw Refused(password, from);
        }

        var step = await CheckFactorsAsync(account, recordId, repId, password, totp, now, ct);
        if (step.Step is null)
        {
            Fail(account, now);
            if (device is not null && ++device.FailedAttempts >= options.DeviceFailuresBeforeRevocation)
            {
                db.TrustedDevices.Remove(device);
            }

            await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Login, AuditOutcomes.Denied, Channels.Portal, "Patient", recordId, Detail: step.PasswordOk ? "wrong one-time code" : "wrong password"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
            throttle.Failed(from.Address);
            throw new DmpException(ErrorKind.Unauthenticated, BadCredentials);
        }

        var login = await OpenSessionsAsync(account, recordId, repId, step.Step.Value, device, now, ct);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Login, AuditOutcomes.Success, Channels.Portal, "Patient", recordId, Detail: device is null ? "new device" : null), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        throttle.Succeeded(from.Address);
        return login;
    }

    /// <summary>The one answer to a failed sign-in, after the cost of a password check.</summary>
    private DmpException Refused(string password, SignInContext from)
    {
        Hasher.VerifyHashedPassword(DummyAccount, DummyHash, password);
        throttle.Failed(from.Address);
        return new DmpException(ErrorKind.Unauthenticated, BadCredentials);
    }

    private async Task<(bool PasswordOk, long? Step)> CheckFactorsAsync(Credentials account, string recordId, string? repId, string password, string totp, DateTimeOffset now, CancellationToken ct)
    {
        var passwordOk = Hasher.VerifyHashedPassword(account, account.PasswordHash!, password) != PasswordVerificationResult.Failed;
        var key = await keys.FindAsync(db, recordId, ct);
        var secret = key is null ? null : KeyRing.Open(key, account.TotpSecret!, TotpContext(recordId, repId));
        return (passwordOk, passwordOk && secret is not null ? Totp.Verify(secret, totp, now, account.LastTotpStep) : null);
    }

    /// <summary>The device this token names, if it belongs to this person and is still remembered.</summary>
    private async Task<TrustedDevice?> TrustedDeviceAsync(string recordId, string? repId, string? token, DateTimeOffset now, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 100)
        {
            return null;
        }

        var hash = Sha256(token);
        var device = await db.TrustedDevices.FirstOrDefaultAsync(x => x.RecordId == recordId && x.TokenHash == hash, ct);
        return device is not null && device.RepresentativeId == repId && device.LastUsedAt + options.DeviceLifetime > now ? device : null;
    }

    /// <summary>A successful sign-in: counters reset, sessions and the device token issued.</summary>
    private async Task<PatientLogin> OpenSessionsAsync(Credentials account, string recordId, string? repId, long step, TrustedDevice? device, DateTimeOffset now, CancellationToken ct)
    {
        account.FailedAttempts = 0;
        account.LockedUntil = null;
        account.LastTotpStep = step;
        await db.PatientSessions.Where(x => x.RecordId == recordId && x.ExpiresAt < now).ExecuteDeleteAsync(ct);
        PatientSessionToken NewSession(string kind, TimeSpan lifetime)
        {
            var token = Base64Url(RandomNumberGenerator.GetBytes(32));
            db.PatientSessions.Add(new PatientSession { TokenHash = Sha256(token), RecordId = recordId, RepresentativeId = repId, Kind = kind, CreatedAt = now, ExpiresAt = now + lifetime });
            return new PatientSessionToken(token, now + lifetime);
        }

        var bearer = NewSession("bearer", options.BearerLifetime);
        var cookie = NewSession("cookie", options.CookieLifetime);

        // The device gets a fresh token at every sign-in (the old one stops working).
        if (device is not null)
        {
            db.TrustedDevices.Remove(device);
        }

        var deviceToken = Base64Url(RandomNumberGenerator.GetBytes(32));
        db.TrustedDevices.Add(new TrustedDevice { RecordId = recordId, TokenHash = Sha256(deviceToken), RepresentativeId = repId, CreatedAt = device?.CreatedAt ?? now, LastUsedAt = now });
        return new PatientLogin(recordId, bearer, cookie, repId, deviceToken);
    }

    /// <summary>The patient's account, or a legal representative's account still in force, tracked for update.</summary>
    private async Task<Credentials?> AccountAsync(string recordId, string? representativeId, DateTimeOffset now, CancellationToken ct)
    {
        if (representativeId is null)
        {
            return await db.PatientAccounts.FirstOrDefaultAsync(x => x.RecordId == recordId, ct);
        }

        var rep = await db.RepresentativeAccounts.FirstOrDefaultAsync(x => x.Id == representativeId && x.RecordId == recordId, ct);
        return rep is not null && rep.ActiveAt(now) ? rep : null;
    }

    private static Actor ActorOf(string recordId, Credentials? account) =>
        account is RepresentativeAccount rep ? RepresentativeActor(recordId, rep.Id) : PatientActor(recordId);

    private static byte[] TotpContext(string recordId, string? representativeId) =>
        Encoding.UTF8.GetBytes(representativeId is null ? "totp:" + recordId : "totp:" + recordId + ":" + representativeId);

    private static string? NormalizeRepresentative(string? representative) =>
        string.IsNullOrWhiteSpace(representative) ? null : representative.Trim().ToUpperInvariant();

    /// <summary>The patient behind a session token, or null (unknown or expired).</summary>
    public async Task<Actor?> AuthenticateAsync(string token, string kind, CancellationToken ct)
    {
        var hash = Sha256(token);
        var now = time.GetUtcNow();
        var session = await db.PatientSessions.AsNoTracking().FirstOrDefaultAsync(x => x.TokenHash == hash, ct);
        if (session is null || session.ExpiresAt <= now || session.Kind != kind)
        {
            return null;
        }

        if (session.RepresentativeId is null)
        {
            return PatientActor(session.RecordId);
        }

        // A representation that ended or was revoked ends its sessions at once.
        var rep = await db.RepresentativeAccounts.AsNoTracking().FirstOrDefaultAsync(x => x.Id == session.RepresentativeId, ct);
        return rep is not null && rep.ActiveAt(now) ? RepresentativeActor(session.RecordId, rep.Id) : null;
    }

    public async Task LogoutAsync(string token, CancellationToken ct)
    {
        var hash = Sha256(token);
        await db.PatientSessions.Where(x => x.TokenHash == hash).ExecuteDeleteAsync(ct);
    }

    /// <summary>The patient as an actor: identified by their record id (no name: the audit never needs it).</summary>
    public static Actor PatientActor(string recordId) => new(ActorKind.Patient, recordId, "le patient / the patient");

    /// <summary>A legal representative as an actor: their account id, acting on the record.</summary>
    public static Actor RepresentativeActor(string recordId, string representativeId) => new(ActorKind.Representative, representativeId, "représentant légal / legal representative", null, recordId);

    private void Fail(Credentials account, DateTimeOffset now)
    {
        account.FailedAttempts++;
        if (account.FailedAttempts >= options.MaxFailedAttempts)
        {
            account.LockedUntil = now + options.Lockout;
            account.FailedAttempts = 0;
        }
    }

    /// <summary>
    /// The record an INS typed by a person designates. The same value may exist under two systems (a
    /// NIR and a test identity): then the record whose account is in the state the step needs (a
    /// pending activation, or an activated account) is the one meant; if both are, the choice is
    /// deterministic (ordinal order of record ids) and the credentials decide.
    /// </summary>
    private async Task<string?> RecordOfInsAsync(string ins, bool activating, CancellationToken ct)
    {
        var normalized = Ins.Normalize(ins);
        var ids = await db.PatientIdentifiers.AsNoTracking().Where(x => x.Value == normalized).Select(x => x.RecordId).Distinct().ToListAsync(ct);
        if (ids.Count <= 1)
        {
            return ids.FirstOrDefault();
        }

        var ready = await db.PatientAccounts.AsNoTracking()
            .Where(a => ids.Contains(a.RecordId) && (activating ? a.ActivationCodeHash != null : a.PasswordHash != null))
            .Select(a => a.RecordId).Distinct().ToListAsync(ct);
        return (ready.Count > 0 ? ready : ids).Order(StringComparer.Ordinal).First();
    }

    private static readonly PatientAccount DummyAccount = new() { RecordId = "-" };
    private static readonly string DummyHash = Hasher.HashPassword(DummyAccount, "not a real password");

    /// <summary>12 characters of an unambiguous alphabet in groups of 4 (about 60 bits), easy to type from a letter.</summary>
    private static string NewActivationCode()
    {
        const string alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        var chars = new char[12];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)];
        }

        var s = new string(chars);
        return $"{s[..4]}-{s[4..8]}-{s[8..]}";
    }

    private static string Normalize(string code) => code.Replace("-", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal).ToUpperInvariant();

    private static string Sha256(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
