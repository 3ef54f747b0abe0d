using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Common;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Audit;

/// <summary>The outcome of checking a proof: valid or not, and what was checked, line by line.</summary>
public sealed record ProofCheck(bool Valid, IReadOnlyList<string> Lines);

/// <summary>
/// A patient's own, independently verifiable copy of their record's audit chain. The proof holds
/// every entry of the chain in order — in full when the patient may see it (its hash can be
/// recomputed), reduced to its sequence and hashes when it concerns a document kept from them (the
/// links still hold) — the latest signed checkpoint that covers the chain, the Merkle path from the
/// chain's head to that checkpoint's root, and the platform's public certificate. Anyone can check
/// it offline (<see cref="Verify"/>, <c>opendmp audit verify-proof</c>, or by hand: SHA-256 and an
/// RSA signature); a patient who keeps it can prove later that entries were removed. Format:
/// docs/SECURITY.md.
/// </summary>
public sealed class AuditProofs(DmpDbContext db, RecordGuard guard, AuditKeys keys, TimeProvider time)
{
    public const string Format = "opendmp-audit-proof-1";

    /// <summary>The certificate that signed the checkpoint (a retired one after a rotation), else the current signer's.</summary>
    private X509Certificate2 CertificateOf(AuditCheckpoint? checkpoint)
    {
        var trusted = keys.Verifiers();
        foreach (var certificate in trusted)
        {
            if (checkpoint is null || certificate.Thumbprint == checkpoint.Signer)
            {
                return certificate;
            }
        }

        return trusted[0];
    }

    public async Task<string> BuildAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        if (!actor.ActsForPatient)
        {
            throw new DmpException(ErrorKind.Forbidden, "the audit proof of a record is given to its patient (or legal representative)");
        }

        var facts = await guard.FactsAsync(recordId, ct);
        if (facts is null)
        {
            await guard.AuditNoRecordAsync(actor, AuditAction.Read, "AuditProof", recordId, channel, ct);
            throw DmpException.NotFound($"Patient/{recordId} has no record");
        }

        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ReadAudit, facts), AuditAction.Read, "AuditProof", recordId, channel, auditPermit: true, ct);
        var hidden = await AuditQueries.HiddenObjectsAsync(db, recordId, actor.Kind == ActorKind.Representative, ct);
        var entries = await db.AuditEntries.AsNoTracking().Where(e => e.RecordId == recordId).OrderBy(e => e.Seq).ToListAsync(ct);
        var lastHead = await db.AuditCheckpointHeads.AsNoTracking().Where(h => h.RecordId == recordId).OrderByDescending(h => h.CheckpointId).FirstOrDefaultAsync(ct);
        var checkpoint = lastHead is null ? null : await db.AuditCheckpoints.AsNoTracking().FirstOrDefaultAsync(c => c.Id == lastHead.CheckpointId, ct);

        var proof = new JsonObject
        {
            ["format"] = Format,
            ["record"] = recordId,
            ["generated"] = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            ["entries"] = new JsonArray(entries.Select(e => (JsonNode)ToJson(e, hidden.Hides(e))).ToArray()),
            ["certificate"] = CertificateOf(checkpoint).ExportCertificatePem(),
        };
        if (checkpoint is not null)
        {
            var lines = checkpoint.Heads.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var index = Array.FindIndex(lines, l => l.StartsWith(recordId + " ", StringComparison.Ordinal));
            proof["checkpoint"] = new JsonObject
            {
                ["id"] = checkpoint.Id,
                ["time"] = AuditTrail.TruncateToMicroseconds(checkpoint.Time).UtcTicks,
                ["previous"] = checkpoint.Previous,
                ["root"] = checkpoint.Root,
                ["signature"] = checkpoint.Signature,
                ["signer"] = checkpoint.Signer,
                ["head"] = lines[index],
                ["path"] = new JsonArray(MerkleTree.Path(lines, index).Select(s => (JsonNode)new JsonObject { ["left"] = s.SiblingOnLeft, ["hash"] = s.Hash }).ToArray()),
            };
        }

        return proof.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject ToJson(AuditEntry e, bool redacted)
    {
        var o = new JsonObject { ["seq"] = e.Seq, ["prevHash"] = e.PrevHash, ["hash"] = e.Hash };
        if (redacted)
        {
            o["redacted"] = true;
            return o;
        }

        o["time"] = e.Time.UtcTicks;
        o["actorKind"] = e.ActorKind;
        o["actorId"] = e.ActorId;
        if (e.OnBehalfOf is not null)
        {
            o["onBehalfOf"] = e.OnBehalfOf;
        }

        if (e.ViaStructure is not null)
        {
            o["viaStructure"] = e.ViaStructure;
        }

        o["action"] = e.Action;
        o["objectType"] = e.ObjectType;
        o["objectId"] = e.ObjectId;
        o["outcome"] = e.Outcome;
        o["mode"] = e.Mode;
        o["channel"] = e.Channel;
        o["detail"] = e.Detail;
        return o;
    }

    /// <summary>
    /// Checks a proof offline: the chain (sequence, links, the hash of every full entry), the
    /// checkpoint's head against the chain, its Merkle path against its root, and its signature —
    /// with <paramref name="trusted"/> when given, else with the certificate the proof carries (whose
    /// fingerprint must then be compared with the one the platform publishes).
    /// </summary>
    public static ProofCheck Verify(string json, X509Certificate2? trusted)
    {
        var lines = new List<string>();
        try
        {
            return VerifyCore(JsonNode.Parse(json)?.AsObject() ?? throw new FormatException("empty proof"), trusted, lines);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException or CryptographicException)
        {
            lines.Add("The proof cannot be read: " + ex.Message);
            return new ProofCheck(false, lines);
        }
    }

    private static ProofCheck VerifyCore(JsonObject proof, X509Certificate2? trusted, List<string> lines)
    {
        var ok = true;
        void Fail(string what)
        {
            ok = false;
            lines.Add("FAILED: " + what);
        }

        if ((string?)proof["format"] != Format)
        {
            Fail($"unknown format {(string?)proof["format"]}");
            return new ProofCheck(false, lines);
        }

        var record = Text(proof, "record");
        var entries = Node(proof, "entries").AsArray();
        var prev = AuditTrail.Genesis;
        long expected = 1;
        var redacted = 0;
        var hashes = new Dictionary<long, string>();
        foreach (var node in entries)
        {
            var e = (node ?? throw new FormatException("an entry is null")).AsObject();
            var seq = Number(e, "seq");
            var hash = Text(e, "hash");
            if (seq != expected)
            {
                Fail($"entry {expected} is missing (found {seq})");
            }

            if (Text(e, "prevHash") != prev)
            {
                Fail($"entry {seq} does not link to the entry before it");
            }

            if (e["redacted"] is not null)
            {
                redacted++;
            }
            else if (AuditTrail.ComputeHash(FromJson(record, e)) != hash)
            {
                Fail($"entry {seq} does not match its hash (altered)");
            }

            hashes[seq] = hash;
            prev = hash;
            expected = seq + 1;
        }

        lines.Add($"{entries.Count} entries of the chain of record {record} ({redacted} about documents kept from you, shown by their hashes only): {(ok ? "every link and hash holds" : "BROKEN")}.");
        if (proof["checkpoint"] is not JsonObject cp)
        {
            lines.Add("No signed checkpoint covers this chain yet: it is intact, but not yet vouched for.");
            return new ProofCheck(ok, lines);
        }

        var head = Text(cp, "head").Split(' ');
        var vouchedSeq = long.Parse(head[1], CultureInfo.InvariantCulture);
        if (head[0] != record || !hashes.TryGetValue(vouchedSeq, out var h) || h != head[2])
        {
            Fail($"the checkpoint's head ({head[0]} {head[1]}) is not the chain's entry {vouchedSeq}");
        }

        var path = Node(cp, "path").AsArray().Select(s => (s ?? throw new FormatException("a path step is null")).AsObject()).Select(s => new MerkleStep(Node(s, "left").GetValue<bool>(), Text(s, "hash"))).ToList();
        if (MerkleTree.RootOf(Text(cp, "head"), path) != (string?)cp["root"])
        {
            Fail("the Merkle path does not lead to the checkpoint's root");
        }

        using var embedded = X509Certificate2.CreateFromPem(Text(proof, "certificate"));
        var certificate = trusted ?? embedded;
        var checkpoint = new AuditCheckpoint
        {
            Format = 2,
            Time = new DateTimeOffset(Number(cp, "time"), TimeSpan.Zero),
            Previous = (string?)cp["previous"],
            Root = (string?)cp["root"],
            Heads = string.Empty,
            Signature = Text(cp, "signature"),
            Signer = Text(cp, "signer"),
        };
        if (!AuditVerifier.SignatureValid(checkpoint, certificate))
        {
            Fail($"the checkpoint's signature is not valid for the certificate {certificate.Thumbprint}");
        }

        lines.Add($"Checkpoint {Number(cp, "id")} of {checkpoint.Time:yyyy-MM-dd HH:mm:ss} UTC, signed by {certificate.Subject} (SHA-1 fingerprint {certificate.Thumbprint}{(trusted is null ? ", taken from the proof: compare it with the one the platform publishes" : ", trusted")}), vouches for entries 1 to {vouchedSeq}{(vouchedSeq < entries.Count ? $"; entries {vouchedSeq + 1} to {entries.Count} are not yet vouched for" : string.Empty)}.");
        lines.Add(ok ? "The proof is valid." : "The proof is NOT valid.");
        return new ProofCheck(ok, lines);
    }

    private static AuditEntry FromJson(string record, JsonObject e) => new()
    {
        RecordId = record,
        Seq = Number(e, "seq"),
        Time = new DateTimeOffset(Number(e, "time"), TimeSpan.Zero),
        ActorKind = Text(e, "actorKind"),
        ActorId = Text(e, "actorId"),
        OnBehalfOf = (string?)e["onBehalfOf"],
        ViaStructure = (string?)e["viaStructure"],
        Action = Text(e, "action"),
        ObjectType = (string?)e["objectType"],
        ObjectId = (string?)e["objectId"],
        Outcome = Text(e, "outcome"),
        Mode = (string?)e["mode"],
        Channel = Text(e, "channel"),
        Detail = (string?)e["detail"],
        PrevHash = Text(e, "prevHash"),
        Hash = Text(e, "hash"),
    };

    private static JsonNode Node(JsonObject o, string name) => o[name] ?? throw new FormatException($"'{name}' is missing");

    private static string Text(JsonObject o, string name) => Node(o, name).GetValue<string>();

    private static long Number(JsonObject o, string name) => Node(o, name).GetValue<long>();
}
