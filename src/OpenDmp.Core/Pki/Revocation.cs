using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Pki;

/// <summary>A professional certificate issued by the platform's CA (reference data: no patient data).</summary>
public sealed class IssuedCertificate
{
    /// <summary>Serial number, hexadecimal as X509Certificate2.SerialNumber writes it.</summary>
    public required string Serial { get; set; }
    public string? Rpps { get; set; }
    public required string Thumbprint { get; set; }
    public DateTimeOffset NotBefore { get; set; }
    public DateTimeOffset NotAfter { get; set; }
    public DateTimeOffset IssuedAt { get; set; }
}

/// <summary>A revoked certificate (published in the CRL).</summary>
public sealed class CertificateRevocation
{
    public required string Serial { get; set; }
    public string? Rpps { get; set; }
    public DateTimeOffset RevokedAt { get; set; }
    /// <summary>RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, unspecified.</summary>
    public required string Reason { get; set; }
}

/// <summary>
/// What the authentication checks on every TLS handshake and every request, and the deposit channel
/// on every signer: revoked serial numbers, professionals whose certificates issued before a date are
/// revoked (all certificates of a stolen card, registered or not), deactivated professionals. A
/// snapshot refreshed from the database every few seconds (several instances, and the command line,
/// share it through the database); reads never touch the database.
/// </summary>
public sealed class RevocationList
{
    private volatile Snapshot _snapshot = Snapshot.Empty;

    public sealed record Snapshot(IReadOnlySet<string> Serials, IReadOnlyDictionary<string, DateTimeOffset> RevokedBefore, IReadOnlySet<string> Deactivated, DateTimeOffset LoadedAt)
    {
        public static Snapshot Empty { get; } = new(new HashSet<string>(), new Dictionary<string, DateTimeOffset>(), new HashSet<string>(), DateTimeOffset.MinValue);
    }

    public DateTimeOffset LoadedAt => _snapshot.LoadedAt;

    /// <summary>A figure that changes when the list does (revoked serials, cut-offs, deactivations).</summary>
    public int Count
    {
        get
        {
            var s = _snapshot;
            return s.Serials.Count + (s.RevokedBefore.Count * 7919) + (s.Deactivated.Count * 104729);
        }
    }

    /// <summary>Why a certificate may no longer be used, or null.</summary>
    public string? Check(X509Certificate2 certificate)
    {
        var s = _snapshot;
        if (s.Serials.Contains(certificate.SerialNumber))
        {
            return "the certificate has been revoked";
        }

        if (TestCertificateAuthority.RppsOf(certificate) is { } rpps)
        {
            if (s.Deactivated.Contains(rpps))
            {
                return "the professional has been deactivated in the directory";
            }

            // Certificates are back-dated at issuance (clock skew): one issued after the cut-off starts after it minus that margin.
            if (s.RevokedBefore.TryGetValue(rpps, out var before) && certificate.NotBefore.ToUniversalTime() < before.UtcDateTime - TestCertificateAuthority.Backdate)
            {
                return "the professional's certificates issued before " + before.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) + " UTC have been revoked";
            }
        }

        return null;
    }

    /// <summary>Loads the current state from the database.</summary>
    public async Task RefreshAsync(DmpDbContext db, TimeProvider time, CancellationToken ct)
    {
        var serials = await db.CertificateRevocations.AsNoTracking().Select(r => r.Serial).ToListAsync(ct);
        var pros = await db.Professionals.AsNoTracking().Where(p => p.Rpps != null && (p.DeactivatedAt != null || p.CertificatesRevokedBefore != null))
            .Select(p => new { p.Rpps, p.DeactivatedAt, p.CertificatesRevokedBefore }).ToListAsync(ct);
        _snapshot = new Snapshot(
            serials.ToHashSet(StringComparer.OrdinalIgnoreCase),
            pros.Where(p => p.CertificatesRevokedBefore is not null).ToDictionary(p => p.Rpps!, p => p.CertificatesRevokedBefore!.Value, StringComparer.Ordinal),
            pros.Where(p => p.DeactivatedAt is not null).Select(p => p.Rpps!).ToHashSet(StringComparer.Ordinal),
            time.GetUtcNow());
    }
}

/// <summary>
/// The life of professional certificates after issuance: registration, revocation (one serial, or
/// every certificate of a professional), deactivation of a professional, and the CRL the CA
/// publishes (DATA/pki/ca.crl, served at /pki/ca.crl). Every change is audited on the platform's chain.
/// </summary>
public sealed class CertificateService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RevocationList revocations)
{
    public static readonly IReadOnlyDictionary<string, X509RevocationReason> Reasons = new Dictionary<string, X509RevocationReason>(StringComparer.Ordinal)
    {
        ["keyCompromise"] = X509RevocationReason.KeyCompromise,
        ["affiliationChanged"] = X509RevocationReason.AffiliationChanged,
        ["superseded"] = X509RevocationReason.Superseded,
        ["cessationOfOperation"] = X509RevocationReason.CessationOfOperation,
        ["unspecified"] = X509RevocationReason.Unspecified,
    };

    /// <summary>Reloads the revocation list from the database.</summary>
    public Task RefreshAsync(CancellationToken ct) => revocations.RefreshAsync(db, time, ct);

    /// <summary>Records a certificate the CA issued (so that it can be revoked by serial and listed in the CRL).</summary>
    public async Task RegisterAsync(X509Certificate2 certificate, CancellationToken ct)
    {
        if (await db.IssuedCertificates.AnyAsync(x => x.Serial == certificate.SerialNumber, ct))
        {
            return;
        }

        // Several first requests with a new certificate may race here: the first one registers it.
        db.ChangeTracker.Clear();
        try
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
            if (await db.IssuedCertificates.AnyAsync(x => x.Serial == certificate.SerialNumber, ct))
            {
                return;
            }

            db.IssuedCertificates.Add(new IssuedCertificate
            {
                Serial = certificate.SerialNumber,
                Rpps = TestCertificateAuthority.RppsOf(certificate),
                Thumbprint = certificate.Thumbprint,
                NotBefore = certificate.NotBefore.ToUniversalTime(),
                NotAfter = certificate.NotAfter.ToUniversalTime(),
                IssuedAt = time.GetUtcNow(),
            });
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }
        catch (DbUpdateException ex) when (UniqueViolation.Is(ex))
        {
            // Registered meanwhile by another instance.
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>
    /// Revokes one certificate (<paramref name="serial"/>) or every certificate of a professional
    /// (<paramref name="rpps"/>: the registered ones, and any issued before now). Returns the serials listed in the CRL.
    /// </summary>
    public async Task<IReadOnlyList<string>> RevokeAsync(string? serial, string? rpps, string reason, Actor actor, string channel, CancellationToken ct)
    {
        if (!Reasons.ContainsKey(reason))
        {
            throw DmpException.Invalid($"reason must be one of {string.Join(", ", Reasons.Keys)}, got '{reason}'");
        }

        if ((serial is null) == (rpps is null))
        {
            throw DmpException.Invalid("give --serial (one certificate) or --rpps (every certificate of a professional)");
        }

        var now = time.GetUtcNow();
        var revoked = new List<string>();
        db.ChangeTracker.Clear();
        await using (var scope = await gate.EnterAsync(db, null, ct))
        {
            if (serial is not null)
            {
                var s = serial.Replace(":", string.Empty, StringComparison.Ordinal).ToUpperInvariant();
                if (!s.All(Uri.IsHexDigit) || s.Length == 0)
                {
                    throw DmpException.Invalid($"--serial is a hexadecimal serial number, got '{serial}'");
                }

                var issued = await db.IssuedCertificates.AsNoTracking().FirstOrDefaultAsync(x => x.Serial == s, ct)
                    ?? throw DmpException.Invalid($"no certificate with serial {s} was issued by this platform's CA (revoke by --rpps for certificates issued before the registry)");
                revoked.Add(await AddRevocationAsync(issued.Serial, issued.Rpps, reason, now, ct));
            }
            else
            {
                if (Rpps.Validate(rpps!) is { } err)
                {
                    throw DmpException.Invalid(err);
                }

                var professional = await db.Professionals.FirstOrDefaultAsync(x => x.Rpps == rpps, ct) ?? throw DmpException.Invalid($"no professional with RPPS {rpps} in the directory");
                professional.CertificatesRevokedBefore = NextSecond(now);
                foreach (var issued in await db.IssuedCertificates.AsNoTracking().Where(x => x.Rpps == rpps).ToListAsync(ct))
                {
                    revoked.Add(await AddRevocationAsync(issued.Serial, issued.Rpps, reason, now, ct));
                }
            }

            await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.CertificateRevoke, AuditOutcomes.Success, channel, "Certificate", serial ?? rpps, Detail: $"{reason}; {revoked.Count} serial(s)"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        db.ChangeTracker.Clear();
        await revocations.RefreshAsync(db, time, ct);
        return revoked;
    }

    /// <summary>Deactivates (or reactivates) a professional: a deactivated professional cannot authenticate, and deactivation revokes their certificates.</summary>
    public async Task SetActiveAsync(string rpps, bool active, Actor actor, string channel, CancellationToken ct)
    {
        if (Rpps.Validate(rpps) is { } err)
        {
            throw DmpException.Invalid(err);
        }

        db.ChangeTracker.Clear();
        await using (var scope = await gate.EnterAsync(db, null, ct))
        {
            var p = await db.Professionals.FirstOrDefaultAsync(x => x.Rpps == rpps, ct) ?? throw DmpException.Invalid($"no professional with RPPS {rpps} in the directory");
            if (active == (p.DeactivatedAt is null))
            {
                throw new DmpException(ErrorKind.Conflict, active ? "the professional is active" : "the professional is already deactivated");
            }

            var now = time.GetUtcNow();
            p.DeactivatedAt = active ? null : now;
            if (!active)
            {
                p.CertificatesRevokedBefore = NextSecond(now);
                foreach (var issued in await db.IssuedCertificates.AsNoTracking().Where(x => x.Rpps == rpps).ToListAsync(ct))
                {
                    await AddRevocationAsync(issued.Serial, issued.Rpps, "cessationOfOperation", now, ct);
                }
            }

            await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.ProfessionalDeactivate, AuditOutcomes.Success, channel, "Practitioner", p.Id, Detail: active ? "reactivated" : "deactivated"), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        db.ChangeTracker.Clear();
        await revocations.RefreshAsync(db, time, ct);
    }

    /// <summary>Certificate times have whole seconds: the cut-off is the next second, so that every certificate issued until now falls before it.</summary>
    private static DateTimeOffset NextSecond(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerSecond) + TimeSpan.TicksPerSecond, TimeSpan.Zero);

    private async Task<string> AddRevocationAsync(string serial, string? rpps, string reason, DateTimeOffset now, CancellationToken ct)
    {
        if (db.CertificateRevocations.Local.All(x => x.Serial != serial) && !await db.CertificateRevocations.AnyAsync(x => x.Serial == serial, ct))
        {
            db.CertificateRevocations.Add(new CertificateRevocation { Serial = serial, Rpps = rpps, RevokedAt = now, Reason = reason });
        }

        return serial;
    }

    /// <summary>Writes the CA's CRL (DER) listing every revoked serial, valid for a week, numbered by its time.</summary>
    public async Task<byte[]> WriteCrlAsync(TestCertificateAuthority ca, string path, CancellationToken ct)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var r in await db.CertificateRevocations.AsNoTracking().ToListAsync(ct))
        {
            builder.AddEntry(Convert.FromHexString(r.Serial), r.RevokedAt, Reasons.GetValueOrDefault(r.Reason, X509RevocationReason.Unspecified));
        }

        var now = time.GetUtcNow();
        var crl = builder.Build(ca.Certificate, new System.Numerics.BigInteger(now.ToUnixTimeSeconds()), now.AddDays(7), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1, now);
        // The server's refresh loop and an admin command may write the CRL at the same moment: each
        // writes its own temporary file, and the rename makes whichever comes last the one served.
        var tmp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            await File.WriteAllBytesAsync(tmp, crl, ct);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }

        return crl;
    }
}
