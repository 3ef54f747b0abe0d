using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Exports;

/// <summary>Settings of the portable record (section "Portable").</summary>
public sealed class PortableOptions
{
    /// <summary>PBKDF2-SHA256 iterations of the patient's code (the browser repeats them at each attempt: the cost of guessing).</summary>
    public int Iterations { get; set; } = 600_000;

    /// <summary>Shortest code accepted.</summary>
    public int MinCodeLength { get; set; } = 6;

    /// <summary>Most key documents one portable record carries.</summary>
    public int MaxDocuments { get; set; } = 20;

    /// <summary>Most bytes of key documents one portable record carries (the file is opened in a phone's browser).</summary>
    public long MaxDocumentBytes { get; set; } = 15L * 1024 * 1024;

    public IEnumerable<string> Problems()
    {
        if (Iterations is < 100_000 or > 10_000_000)
        {
            yield return "Portable:Iterations must be between 100000 and 10000000";
        }

        if (MinCodeLength is < 4 or > 64)
        {
            yield return "Portable:MinCodeLength must be between 4 and 64";
        }

        if (MaxDocuments is < 0 or > 200)
        {
            yield return "Portable:MaxDocuments must be between 0 and 200";
        }

        if (MaxDocumentBytes is < 0 or > 200L * 1024 * 1024)
        {
            yield return "Portable:MaxDocumentBytes must be between 0 and 209715200";
        }
    }
}

/// <summary>A portable record produced: the HTML file and what it holds.</summary>
public sealed record PortableFile(byte[] Html, string Pseudonym, int Documents)
{
    public const string FileName = "dossier-medical-portable.html";
}

/// <summary>
/// The portable record (dossier médical baladeur, mission M15): an extract of the record — the
/// synthesis and chosen key documents, named by a pseudonym, never the INS — sealed under the
/// patient's code (PBKDF2-SHA256 + AES-256-GCM, what every browser's WebCrypto does) inside one
/// self-contained HTML file that opens offline, from a USB key, in any current browser (ADR 0034).
/// Produced by the patient (or their representative) or by a professional the policy lets export
/// the record; audited on the record's chain; it holds only what its producer may see.
/// </summary>
public sealed class PortableRecords(DmpDbContext db, RecordGuard guard, PatientSummary summaries, IContentStore store, KeyRing keys, TimeProvider time, PortableOptions options)
{
    private static readonly byte[] Aad = Encoding.ASCII.GetBytes("opendmp-portable-record-v1");

    /// <summary>The pseudonym of a record in portable records: stable, keyed by the platform (not computable from the record id alone).</summary>
    public string PseudonymOf(string recordId)
    {
        var mac = HMACSHA256.HashData(keys.DeriveKey("portable-record-pseudonym"), Encoding.UTF8.GetBytes(recordId));
        var code = Base32(mac.AsSpan(0, 7));
        return $"DMP-{code[..5]}-{code[5..10]}";
    }

    /// <summary>Builds the file for <paramref name="recordId"/> with the chosen key documents (the ids the producer may read).</summary>
    public async Task<PortableFile> BuildAsync(string recordId, string? code, IReadOnlyList<string> documentIds, string language, Actor actor, string channel, CancellationToken ct)
    {
        CheckCode(code);
        if (documentIds.Count > options.MaxDocuments)
        {
            throw DmpException.Invalid($"a portable record carries at most {options.MaxDocuments} key documents", "document");
        }

        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.PortableRecord, "Composition", channel, ct);
        var access = await guard.RequireAsync(new AccessRequest(actor, AccessAction.Export, facts), AuditAction.PortableRecord, "Composition", "portable-record", channel, auditPermit: false, ct, "you may not produce a portable record of this patient");
        var ids = documentIds.Distinct(StringComparer.Ordinal).ToList();
        var rows = ids.Count == 0 ? [] : await db.Documents.AsNoTracking().Where(x => x.RecordId == recordId && !x.Erased && ids.Contains(x.Id)).ToListAsync(ct);
        foreach (var id in ids)
        {
            // A document the producer may not see is answered like one that does not exist.
            if (rows.FirstOrDefault(r => r.Id == id) is not { } row || !access.Admits(DocumentResources.Facts(row)))
            {
                throw DmpException.Invalid($"DocumentReference/{id} is not a document of this record you may read", "document");
            }
        }

        if (rows.Sum(r => r.Size) > options.MaxDocumentBytes)
        {
            throw DmpException.Invalid($"the key documents chosen exceed {options.MaxDocumentBytes / (1024 * 1024)} MiB: choose fewer", "document");
        }

        var summary = await summaries.BuildAsync(recordId, actor, channel, ct);
        var latest = await db.Documents.AsNoTracking().Where(x => x.RecordId == recordId && !x.Erased).Where(access.Scope.ToExpression())
            .OrderByDescending(x => x.Date).ThenBy(x => x.Id).Take(40).ToListAsync(ct);
        var patient = await db.Patients.AsNoTracking().FirstAsync(p => p.RecordId == recordId, ct);
        var pseudonym = PseudonymOf(recordId);
        var en = language == "en";
        var documents = new List<object>();
        foreach (var r in rows.OrderByDescending(r => r.Date))
        {
            var bytes = await store.GetAsync(db, recordId, r.ContentKey, ct)
                ?? throw new DmpException(ErrorKind.Gone, $"the content of DocumentReference/{r.Id} is no longer available");
            documents.Add(new { title = r.Title ?? r.TypeDisplay ?? r.TypeCode, date = r.Date, author = r.AuthorDisplay, contentType = r.ContentType, name = "document-" + documents.Count.ToString("D2", CultureInfo.InvariantCulture) + OpenDmp.Core.Messaging.Xdm.Extension(r.ContentType).ToLowerInvariant(), data = Convert.ToBase64String(bytes) });
        }

        var payload = new
        {
            v = 1,
            pseudonym,
            birthYear = patient.BirthDate.Year,
            sex = patient.Sex switch { "F" => en ? "female" : "femme", "M" => en ? "male" : "homme", _ => null },
            generatedAt = time.GetUtcNow(),
            generatedBy = actor.Kind == ActorKind.Professional ? actor.Display : null,
            synthesis = new
            {
                allergies = summary.RecordedAllergies.Select(a => new { label = (string?)(a.CodeDisplay ?? a.Code), source = (string?)null })
                    .Concat(summary.DeclaredAllergies.Select(a => new { label = (string?)(a.Fields.GetValueOrDefault("substance") ?? "?"), source = (string?)(en ? "declared by the patient" : "déclarée par le patient") })),
                medications = summary.Medications?.Select(m => new { label = m.Display ?? m.Code, active = m.Active, last = m.Last }),
                problems = summary.Problems?.Select(c => new { label = c.CodeDisplay ?? c.Code, date = c.Date }),
                results = summary.Results?.Select(o => new { label = o.CodeDisplay ?? o.Code, value = o.ValueNumber is { } v ? v.ToString(CultureInfo.InvariantCulture) + (o.Unit is { } u ? " " + u : string.Empty) : o.ValueText ?? string.Empty, interpretation = o.Interpretation, date = o.Effective }),
                vaccinations = summary.Vaccinations?.Select(v => new { label = v.CodeDisplay ?? v.Code, date = v.Date }),
                latest = latest.Where(r => access.Admits(DocumentResources.Facts(r))).Take(20).Select(r => new { title = r.Title ?? r.TypeDisplay ?? r.TypeCode, date = r.Date, author = r.AuthorDisplay }),
            },
            documents,
        };
        var html = Render(JsonSerializer.SerializeToUtf8Bytes(payload), code!, language);
        await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.PortableRecord, "success", channel, "Composition", "portable-record", access.Mode, $"{documents.Count} key documents"), ct);
        return new PortableFile(html, pseudonym, documents.Count);
    }

    /// <summary>The rule a code must meet.</summary>
    public void CheckCode(string? code)
    {
        if (string.IsNullOrEmpty(code) || code.Length < options.MinCodeLength || code.Length > 256 || code.Any(char.IsControl))
        {
            throw DmpException.Invalid($"the code must have between {options.MinCodeLength} and 256 characters", "code");
        }

        if (code.Distinct().Count() < 3)
        {
            throw DmpException.Invalid("the code repeats too few different characters", "code");
        }
    }

    /// <summary>The viewer with the sealed payload and its texts (the script allowed by its hash, nothing else).</summary>
    private byte[] Render(byte[] payload, string code, string language)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var iv = RandomNumberGenerator.GetBytes(12);
        var key = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(code.Normalize(NormalizationForm.FormC)), salt, options.Iterations, HashAlgorithmName.SHA256, 32);
        var sealedData = new byte[payload.Length + 16];
        using (var aes = new AesGcm(key, 16))
        {
            aes.Encrypt(iv, payload, sealedData.AsSpan(0, payload.Length), sealedData.AsSpan(payload.Length), Aad);
        }

        var envelope = JsonSerializer.SerializeToUtf8Bytes(new { v = 1, kdf = "PBKDF2-SHA256", iterations = options.Iterations, salt = Convert.ToBase64String(salt), iv = Convert.ToBase64String(iv), data = Convert.ToBase64String(sealedData) });
        var texts = language == "en" ? English : French;
        var script = Viewer.Script;
        var hash = "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script)));
        var html = Viewer.Html
            .Replace("{{LANG}}", language == "en" ? "en" : "fr", StringComparison.Ordinal)
            .Replace("{{SCRIPT_HASH}}", hash, StringComparison.Ordinal)
            .Replace("{{TITLE}}", WebUtility.HtmlEncode(texts["title"]), StringComparison.Ordinal)
            .Replace("{{INTRO}}", WebUtility.HtmlEncode(texts["intro"]), StringComparison.Ordinal)
            .Replace("{{CODE_LABEL}}", WebUtility.HtmlEncode(texts["code"]), StringComparison.Ordinal)
            .Replace("{{OPEN}}", WebUtility.HtmlEncode(texts["open"]), StringComparison.Ordinal)
            // JSON inside a script data block: "<" escaped so that no "</script>" can end it.
            .Replace("{{TEXTS}}", JsonSerializer.Serialize(texts).Replace("<", "\\u003c", StringComparison.Ordinal), StringComparison.Ordinal)
            .Replace("{{PAYLOAD}}", Convert.ToBase64String(envelope), StringComparison.Ordinal)
            .Replace("{{SCRIPT}}", script, StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(html);
    }

    private static string Base32(ReadOnlySpan<byte> bytes)
    {
        // Crockford's alphabet: no I, L, O, U (read aloud or copied by hand without confusion).
        const string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        var sb = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        return sb.ToString();
    }

    private static class Viewer
    {
        public static readonly string Html = Read("exports/portable-viewer.html");
        public static readonly string Script = Read("exports/portable-viewer.js").TrimEnd();

        private static string Read(string name)
        {
            using var stream = typeof(PortableRecords).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException("missing resource " + name);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
    }

    private static readonly Dictionary<string, string> French = new(StringComparer.Ordinal)
    {
        ["title"] = "Dossier médical portable",
        ["intro"] = "Ce fichier contient un extrait chiffré d'un dossier médical. Il s'ouvre sans connexion à Internet. Saisissez le code du patient pour le lire.",
        ["code"] = "Code du patient",
        ["open"] = "Ouvrir",
        ["opening"] = "Déchiffrement en cours…",
        ["wrong"] = "Code incorrect : rien ne peut être lu sans le bon code.",
        ["pseudonym"] = "Patient :",
        ["born"] = "né(e) en",
        ["generated"] = "Extrait produit le",
        ["allergies"] = "Allergies",
        ["medications"] = "Traitements",
        ["problems"] = "Problèmes de santé",
        ["results"] = "Derniers résultats",
        ["vaccinations"] = "Vaccinations",
        ["latest"] = "Derniers documents du dossier",
        ["documents"] = "Documents clés",
        ["none"] = "Rien à signaler dans cet extrait.",
        ["active"] = "en cours",
        ["download"] = "Enregistrer le document",
        ["change"] = "Changer le code",
        ["newCode"] = "Nouveau code",
        ["confirm"] = "Confirmez le nouveau code",
        ["save"] = "Créer le fichier avec le nouveau code",
        ["mismatch"] = "Les deux codes ne sont pas identiques.",
        ["saved"] = "Enregistrer le nouveau fichier (remplacez l'ancien sur la clé)",
    };

    private static readonly Dictionary<string, string> English = new(StringComparer.Ordinal)
    {
        ["title"] = "Portable medical record",
        ["intro"] = "This file holds an encrypted extract of a medical record. It opens without an Internet connection. Enter the patient's code to read it.",
        ["code"] = "Patient's code",
        ["open"] = "Open",
        ["opening"] = "Decrypting…",
        ["wrong"] = "Wrong code: nothing can be read without the right code.",
        ["pseudonym"] = "Patient:",
        ["born"] = "born in",
        ["generated"] = "Extract produced on",
        ["allergies"] = "Allergies",
        ["medications"] = "Medications",
        ["problems"] = "Health problems",
        ["results"] = "Latest results",
        ["vaccinations"] = "Vaccinations",
        ["latest"] = "Latest documents of the record",
        ["documents"] = "Key documents",
        ["none"] = "Nothing to report in this extract.",
        ["active"] = "ongoing",
        ["download"] = "Save the document",
        ["change"] = "Change the code",
        ["newCode"] = "New code",
        ["confirm"] = "Confirm the new code",
        ["save"] = "Create the file with the new code",
        ["mismatch"] = "The two codes differ.",
        ["saved"] = "Save the new file (replace the old one on the key)",
    };
}
