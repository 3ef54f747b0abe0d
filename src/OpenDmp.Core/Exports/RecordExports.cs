using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Messaging;
using OpenDmp.Core.Storage;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Core.Exports;

/// <summary>Settings of the patients' exports (section "Exports").</summary>
public sealed class ExportOptions
{
    /// <summary>scrypt work factor (log2 N) of the export's passphrase: 18 is age's own default (about a second, 256 MiB).</summary>
    public int ScryptWorkFactor { get; set; } = 18;

    /// <summary>Shortest passphrase accepted.</summary>
    public int MinPassphraseLength { get; set; } = 12;

    /// <summary>
    /// Exports whose passphrase is being stretched at once (scrypt at work factor 18 takes 256 MiB for
    /// about a second): the others wait their turn, so that a burst of exports cannot exhaust memory.
    /// </summary>
    public int MaxConcurrentKeyDerivations { get; set; } = 2;

    /// <summary>Most documents one export holds (beyond: choose a part).</summary>
    public int MaxDocuments { get; set; } = 10_000;

    public IEnumerable<string> Problems()
    {
        if (ScryptWorkFactor is < 10 or > 22)
        {
            yield return "Exports:ScryptWorkFactor must be between 10 and 22";
        }

        if (MinPassphraseLength is < 8 or > 128)
        {
            yield return "Exports:MinPassphraseLength must be between 8 and 128";
        }

        if (MaxConcurrentKeyDerivations is < 1 or > 64)
        {
            yield return "Exports:MaxConcurrentKeyDerivations must be between 1 and 64";
        }

        if (MaxDocuments is < 1 or > StoredZip.MaxEntries - 3)
        {
            yield return $"Exports:MaxDocuments must be between 1 and {StoredZip.MaxEntries - 3}";
        }
    }
}

/// <summary>What part of the record to export: all of it, or documents of these types/classes, dated within [From, To].</summary>
public sealed record ExportSelection(IReadOnlyList<string>? Types = null, IReadOnlyList<string>? Classes = null, DateOnly? From = null, DateOnly? To = null)
{
    public static ExportSelection All { get; } = new();

    public string Describe() =>
        (Types is { Count: > 0 } ? "types " + string.Join(",", Types) + "; " : string.Empty)
        + (Classes is { Count: > 0 } ? "classes " + string.Join(",", Classes) + "; " : string.Empty)
        + (From is { } f ? "from " + f.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "; " : string.Empty)
        + (To is { } t ? "to " + t.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : string.Empty);
}

/// <summary>An export decided and audited, ready to be written: its exact length is known.</summary>
public sealed class PreparedExport
{
    internal PreparedExport(string recordId, IReadOnlyList<ExportedDocument> documents, IReadOnlyList<(string Name, byte[] Content)> head, long zipLength, long length, int logN, string passphrase, DateTimeOffset at)
    {
        RecordId = recordId;
        Documents = documents;
        Head = head;
        ZipLength = zipLength;
        Length = length;
        LogN = logN;
        Passphrase = passphrase;
        At = at;
    }

    public string RecordId { get; }
    public IReadOnlyList<ExportedDocument> Documents { get; }
    internal IReadOnlyList<(string Name, byte[] Content)> Head { get; }
    internal long ZipLength { get; }

    /// <summary>The encrypted file's exact length in bytes.</summary>
    public long Length { get; }
    internal int LogN { get; }
    internal string Passphrase { get; }
    public DateTimeOffset At { get; }

    /// <summary>The file name offered to the browser.</summary>
    public string FileName => $"dossier-medical-{At.UtcDateTime:yyyy-MM-dd}.zip.age";
}

/// <summary>The process-wide limit on concurrent passphrase stretching (<see cref="ExportOptions.MaxConcurrentKeyDerivations"/>).</summary>
public sealed class ExportKeyDerivations(ExportOptions options)
{
    public SemaphoreSlim Gate { get; } = new(options.MaxConcurrentKeyDerivations, options.MaxConcurrentKeyDerivations);
}

/// <summary>One document of an export and where it lies in the archive.</summary>
public sealed record ExportedDocument(string Id, string ContentKey, string Sha1, long Size, string Path);

/// <summary>
/// The patient's export of their record (mission M9/M15): the documents the patient (or their legal
/// representative) may see — nothing hidden from them, no draft — as an IHE XDM archive with a
/// human-readable index, encrypted with a passphrase the patient chooses, in the age format (ADR
/// 0034). The export is decided by the access policy (<see cref="AccessAction.Export"/>) and audited
/// before a byte leaves; the archive is written as it is read, one document in memory at a time.
/// </summary>
public sealed class RecordExports(DmpDbContext db, RecordGuard guard, IContentStore store, TimeProvider time, ExportOptions options, ExportKeyDerivations derivations)
{
    /// <summary>Decides the export, lists its documents, audits it, and computes the file's length.</summary>
    public async Task<PreparedExport> PrepareAsync(string recordId, ExportSelection selection, string? passphrase, string language, Actor actor, string channel, CancellationToken ct)
    {
        CheckPassphrase(passphrase);
        if (selection.From is { } f && selection.To is { } t && f > t)
        {
            throw DmpException.Invalid("the start date is after the end date", "from");
        }

        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Export, "DocumentReference", channel, ct);
        var access = await guard.RequireAsync(new AccessRequest(actor, AccessAction.Export, facts), AuditAction.Export, "DocumentReference", null, channel, auditPermit: false, ct, "you may not export this record");
        var q = db.Documents.AsNoTracking().Where(x => x.RecordId == recordId && !x.Erased).Where(access.Scope.ToExpression());
        if (selection.Types is { Count: > 0 } types)
        {
            q = q.Where(x => types.Contains(x.TypeCode));
        }

        if (selection.Classes is { Count: > 0 } classes)
        {
            q = q.Where(x => x.ClassCode != null && classes.Contains(x.ClassCode));
        }

        // Dates are days in UTC, both ends included; an undated document is outside any date range.
        if (selection.From is { } from)
        {
            var start = new DateTimeOffset(from.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            q = q.Where(x => x.Date >= start);
        }

        if (selection.To is { } to)
        {
            var end = new DateTimeOffset(to.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            q = q.Where(x => x.Date < end);
        }

        var rows = await q.OrderBy(x => x.Date).ThenBy(x => x.Id).Take(options.MaxDocuments + 1).ToListAsync(ct);
        if (rows.Count > options.MaxDocuments)
        {
            throw DmpException.Invalid($"the export would hold more than {options.MaxDocuments} documents: choose a part of the record (types, dates)", "selection");
        }

        // Defence in depth: each document is checked again by the policy itself.
        rows = rows.Where(r => access.Admits(DocumentResources.Facts(r), AccessAction.ReadDocument)).ToList();
        var patient = await db.Patients.AsNoTracking().FirstAsync(p => p.RecordId == recordId, ct);
        var documents = rows.Select((r, i) => new ExportedDocument(r.Id, r.ContentKey, r.Sha1, r.Size, $"{Xdm.SubsetFolder}DOC{i + 1:D4}{Xdm.Extension(r.ContentType)}")).ToList();
        var now = time.GetUtcNow();
        var head = new List<(string Name, byte[] Content)>
        {
            ("README.TXT", Encoding.UTF8.GetBytes(Readme(language, documents.Count, now))),
            ("INDEX.HTM", Encoding.UTF8.GetBytes(Index(language, rows, documents, now))),
            (Xdm.MetadataPath, Metadata(rows, documents, patient, now)),
        };
        long zipLength;
        try
        {
            zipLength = StoredZip.Length(head.Select(h => (h.Name, (long)h.Content.Length)).Concat(documents.Select(d => (d.Path, d.Size))));
        }
        catch (ZipTooLargeException ex)
        {
            throw DmpException.Invalid(ex.Message + ": choose a part of the record (types, dates)", "selection");
        }

        var length = AgeEncryption.EncryptedLength(zipLength, options.ScryptWorkFactor);
        // Audited before a byte leaves: the patient's history shows the export (its size, never its content).
        var detail = (documents.Count == 1 ? "1 document" : $"{documents.Count} documents") + (selection.Describe() is { Length: > 0 } s ? "; " + s.TrimEnd(' ', ';') : string.Empty);
        await guard.AuditAsync(new AuditItem(recordId, actor, AuditAction.Export, "success", channel, "DocumentReference", null, access.Mode, detail), ct);
        return new PreparedExport(recordId, documents, head, zipLength, length, options.ScryptWorkFactor, passphrase!, now);
    }

    /// <summary>Writes the encrypted archive, one document in memory at a time.</summary>
    public async Task WriteAsync(PreparedExport export, Stream output, CancellationToken ct)
    {
        Stream encryptedStream;
        await derivations.Gate.WaitAsync(ct);
        try
        {
            encryptedStream = await AgeEncryption.EncryptAsync(output, export.Passphrase, export.LogN, ct);
        }
        finally
        {
            derivations.Gate.Release();
        }

        await using var encrypted = encryptedStream;
        var zip = new StoredZip(encrypted, export.At);
        foreach (var (name, content) in export.Head)
        {
            await zip.AddAsync(name, content, ct);
        }

        foreach (var d in export.Documents)
        {
            var bytes = await store.GetAsync(db, export.RecordId, d.ContentKey, ct)
                ?? throw new DmpException(ErrorKind.Gone, "a document's content is no longer available (its record's key was destroyed)");
#pragma warning disable CA5350 // XDS hash is SHA-1 by definition.
            if (bytes.LongLength != d.Size || !string.Equals(Convert.ToHexStringLower(SHA1.HashData(bytes)), HexOf(d.Sha1), StringComparison.Ordinal))
#pragma warning restore CA5350
            {
                throw new DmpException(ErrorKind.Conflict, $"DocumentReference/{d.Id}'s content does not match its recorded hash: the export stops rather than deliver it");
            }

            await zip.AddAsync(d.Path, bytes, ct);
        }

        await zip.FinishAsync(ct);
        if (zip.Written != export.ZipLength)
        {
            throw new InvalidOperationException($"the archive came to {zip.Written} bytes instead of the {export.ZipLength} announced");
        }
    }

    /// <summary>The rule a passphrase must meet, checked before anything is read.</summary>
    public void CheckPassphrase(string? passphrase)
    {
        if (string.IsNullOrEmpty(passphrase) || passphrase.Length < options.MinPassphraseLength)
        {
            throw DmpException.Invalid($"the passphrase must have at least {options.MinPassphraseLength} characters (several words are easier to remember)", "passphrase");
        }

        if (passphrase.Length > 1024 || passphrase.Any(char.IsControl))
        {
            throw DmpException.Invalid("the passphrase must be at most 1,024 characters, without control characters", "passphrase");
        }

        if (passphrase.Distinct().Count() < 5)
        {
            throw DmpException.Invalid("the passphrase repeats too few different characters: choose several words", "passphrase");
        }
    }

    private static byte[] Metadata(List<DocumentEntry> rows, List<ExportedDocument> documents, Records.Patient patient, DateTimeOffset now)
    {
        var patientId = $"{patient.Ins}^^^&{(patient.InsSystem.StartsWith("urn:oid:", StringComparison.Ordinal) ? patient.InsSystem[8..] : patient.InsSystem)}&ISO";
        var ssId = "urn:uuid:" + Guid.NewGuid();
        var objects = new XElement(Xdm.Rim + "RegistryObjectList");
        var list = new List { Status = List.ListStatus.Current, Mode = ListMode.Working, Date = now.ToString("o", CultureInfo.InvariantCulture), Title = "Export du dossier par le patient" };
        // A submission set's unique id is an OID: the UUID form (2.25.n, ITU-T X.667).
        list.Identifier.Add(new Identifier("urn:ietf:rfc:3986", "urn:oid:2.25." + new System.Numerics.BigInteger(Guid.NewGuid().ToByteArray(), isUnsigned: true).ToString(CultureInfo.InvariantCulture)) { Use = Identifier.IdentifierUse.Usual });
        DocumentReference? first = null;
        for (var i = 0; i < rows.Count; i++)
        {
            var d = FhirJson.Parse<DocumentReference>(rows[i].ResourceJson);
            first ??= d;
            var eoId = "urn:uuid:" + Guid.NewGuid();
            objects.Add(Xdm.DocumentEntry(d, eoId, patientId, HexOf(rows[i].Sha1), rows[i].Size, documents[i].Path[Xdm.SubsetFolder.Length..], requireAuthor: false));
            objects.Add(Xdm.HasMemberAssociation(ssId, eoId));
        }

        var (ss, node) = Xdm.SubmissionSet(list, ssId, patientId, first);
        objects.AddFirst(node);
        objects.AddFirst(ss);
        var xml = new XDocument(new XElement(Xdm.Lcm + "SubmitObjectsRequest", new XAttribute(XNamespace.Xmlns + "lcm", Xdm.Lcm), new XAttribute(XNamespace.Xmlns + "rim", Xdm.Rim), objects));
        using var ms = new MemoryStream();
        xml.Save(ms, SaveOptions.DisableFormatting);
        return ms.ToArray();
    }

    /// <summary>The stored SHA-1 (base64, as FHIR's Attachment.hash) in the hexadecimal form XDS metadata uses.</summary>
    private static string HexOf(string sha1) =>
        sha1.Length == 40 && sha1.All(char.IsAsciiHexDigit) ? sha1.ToLowerInvariant() : Convert.ToHexStringLower(Convert.FromBase64String(sha1));

    private static string Readme(string language, int count, DateTimeOffset at) => language == "en"
        ? $"Export of your medical record (OpenDMP), {at.UtcDateTime:yyyy-MM-dd HH:mm} UTC: {count} documents.\r\nOpen INDEX.HTM to see the list; the documents are in {Xdm.SubsetFolder}.\r\nThe file IHE_XDM/SUBSET01/METADATA.XML describes them for health software (IHE XDM).\r\nKeep this archive safe: it holds health data.\r\n"
        : $"Export de votre dossier médical (OpenDMP), le {at.UtcDateTime:dd/MM/yyyy HH:mm} UTC : {count} documents.\r\nOuvrez INDEX.HTM pour voir la liste ; les documents sont dans {Xdm.SubsetFolder}.\r\nLe fichier IHE_XDM/SUBSET01/METADATA.XML les décrit pour les logiciels de santé (IHE XDM).\r\nConservez cette archive en lieu sûr : elle contient des données de santé.\r\n";

    private static string Index(string language, List<DocumentEntry> rows, List<ExportedDocument> documents, DateTimeOffset at)
    {
        var en = language == "en";
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<!DOCTYPE html><html lang=\"{(en ? "en" : "fr")}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
          .Append(CultureInfo.InvariantCulture, $"<title>{(en ? "My medical record" : "Mon dossier médical")}</title><style>body{{font-family:system-ui,sans-serif;margin:1rem}}table{{border-collapse:collapse}}th,td{{border:1px solid #999;padding:.3rem .5rem;text-align:left}}</style></head><body>")
          .Append(CultureInfo.InvariantCulture, $"<h1>{(en ? "My medical record" : "Mon dossier médical")}</h1><p>{(en ? $"Exported on {at.UtcDateTime:yyyy-MM-dd} — {rows.Count} documents." : $"Exporté le {at.UtcDateTime:dd/MM/yyyy} — {rows.Count} documents.")}</p>")
          .Append(CultureInfo.InvariantCulture, $"<table><thead><tr><th scope=\"col\">{(en ? "Date" : "Date")}</th><th scope=\"col\">{(en ? "Document" : "Document")}</th><th scope=\"col\">{(en ? "Type" : "Type")}</th><th scope=\"col\">{(en ? "Author" : "Auteur")}</th></tr></thead><tbody>");
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            var date = r.Date is { } d ? d.UtcDateTime.ToString(en ? "yyyy-MM-dd" : "dd/MM/yyyy", CultureInfo.InvariantCulture) : string.Empty;
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{date}</td><td><a href=\"{documents[i].Path}\">{WebUtility.HtmlEncode(r.Title ?? r.TypeDisplay ?? r.TypeCode)}</a></td><td>{WebUtility.HtmlEncode(r.TypeDisplay ?? r.TypeCode)}</td><td>{WebUtility.HtmlEncode(r.AuthorDisplay ?? string.Empty)}</td></tr>");
        }

        return sb.Append("</tbody></table></body></html>").ToString();
    }
}
