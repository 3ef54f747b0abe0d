using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Records;

/// <summary>
/// One entry of the patient's personal space (espace d'expression personnelle): an allergy, an
/// item of family history, a past operation, an emergency contact, the trusted person, the organ
/// donation wishes, a religious constraint. The category stays in clear (to list and count); the
/// fields are health data and are sealed under the record's key, like document content.
/// </summary>
public sealed class PersonalEntry
{
    public required string Id { get; set; }
    public required string RecordId { get; set; }
    public required string Category { get; set; }
    /// <summary>AES-256-GCM of the fields as JSON, associated data "personal:{record}:{id}".</summary>
    public required byte[] SealedFields { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>A field of a personal-space form: its name, whether it is required, its kind (text, date, phone, choice) and the choices.</summary>
public sealed record PersonalField(string Name, bool Required, string Kind = "text", IReadOnlyList<string>? Choices = null, int MaxLength = 500);

/// <summary>A category of the personal space and its structured form.</summary>
public sealed record PersonalCategory(string Code, bool OnePerRecord, IReadOnlyList<PersonalField> Fields);

/// <summary>An entry as read back: the category and the field values.</summary>
public sealed record PersonalItem(string Id, string Category, IReadOnlyDictionary<string, string> Fields, DateTimeOffset UpdatedAt);

/// <summary>
/// The personal space: written by the patient only (policy action EditPersonalSpace), read by the
/// patient, their legal representatives and the professionals the policy lets search the record
/// (it is shown on the professional's synthesis). Every read and write is decided by the policy and
/// audited in the record's trail.
/// </summary>
public sealed class PersonalSpaceService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RecordGuard guard, KeyRing keys)
{
    /// <summary>The structured forms, in the order the portals show them.</summary>
    public static readonly IReadOnlyList<PersonalCategory> Categories =
    [
        new("allergy", false, [new("substance", true), new("reaction", false), new("severity", false, "choice", ["mild", "moderate", "severe"]), new("since", false, "date")]),
        new("family-history", false, [new("condition", true), new("relative", true, "choice", ["mother", "father", "sibling", "child", "grandparent", "other"]), new("notes", false)]),
        new("surgery", false, [new("procedure", true), new("date", false, "date"), new("place", false), new("notes", false)]),
        new("emergency-contact", false, [new("name", true, MaxLength: 200), new("relationship", false, MaxLength: 100), new("phone", true, "phone", MaxLength: 30)]),
        new("trusted-person", true, [new("name", true, MaxLength: 200), new("relationship", false, MaxLength: 100), new("phone", true, "phone", MaxLength: 30), new("designated", false, "date")]),
        new("organ-donation", true, [new("wish", true, "choice", ["consent", "refusal", "partial-refusal"]), new("details", false)]),
        new("religious-constraint", false, [new("constraint", true), new("notes", false)]),
    ];

    public static PersonalCategory? Category(string? code) => Categories.FirstOrDefault(c => c.Code == code);

    /// <summary>The entries of the record, by category order then date (patient, representative, professional with access).</summary>
    public async Task<IReadOnlyList<PersonalItem>> ListAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Read, "PersonalSpace", channel, ct);
        var decision = await guard.RequireAsync(new AccessRequest(actor, AccessAction.SearchRecord, facts), AuditAction.Read, "PersonalSpace", null, channel, auditPermit: true, ct);
        return await ItemsAsync(recordId, decision, ct);
    }

    /// <summary>The personal space under a search decision already taken and audited (the synthesis).</summary>
    public async Task<IReadOnlyList<PersonalItem>> ItemsAsync(string recordId, GuardedAccess decision, CancellationToken ct)
    {
        if (!decision.Decision.Permitted || decision.Request.Record?.RecordId != recordId)
        {
            throw new InvalidOperationException("the personal space is read under a permitted decision on the same record");
        }

        var rows = await db.PersonalEntries.AsNoTracking().Where(x => x.RecordId == recordId).OrderBy(x => x.CreatedAt).ThenBy(x => x.Id).ToListAsync(ct);
        if (rows.Count == 0)
        {
            return [];
        }

        var key = await keys.FindAsync(db, recordId, ct);
        if (key is null)
        {
            // Destroyed at the end of retention: the sealed entries are unreadable, as intended.
            return keys.IsShredded(recordId) ? [] : throw new InvalidOperationException("the record's data key is missing");
        }

        var order = Categories.Select((c, i) => (c.Code, i)).ToDictionary(x => x.Code, x => x.i, StringComparer.Ordinal);
        return rows
            .Select(r => new PersonalItem(r.Id, r.Category, Open(key, r), r.UpdatedAt))
            .OrderBy(x => order.GetValueOrDefault(x.Category, int.MaxValue))
            .ToList();
    }

    /// <summary>Adds an entry (or replaces the single entry of a one-per-record category: trusted person, organ donation).</summary>
    public async Task<string> SaveAsync(string recordId, string category, IReadOnlyDictionary<string, string?> values, Actor actor, string channel, CancellationToken ct)
    {
        var form = Category(category) ?? throw DmpException.Invalid($"unknown category '{category}' (one of {string.Join(", ", Categories.Select(c => c.Code))})", "category");
        var fields = Validate(form, values);
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Update, "PersonalSpace", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.EditPersonalSpace, facts), AuditAction.Update, "PersonalSpace", null, channel, auditPermit: false, ct, "only the patient writes their personal space");
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var now = time.GetUtcNow();
        var key = await keys.GetOrCreateAsync(db, recordId, ct);
        var entry = form.OnePerRecord ? await db.PersonalEntries.FirstOrDefaultAsync(x => x.RecordId == recordId && x.Category == category, ct) : null;
        if (entry is null)
        {
            var id = Ids.New();
            entry = new PersonalEntry { Id = id, RecordId = recordId, Category = category, SealedFields = Seal(key, recordId, id, fields), CreatedAt = now, UpdatedAt = now };
            db.PersonalEntries.Add(entry);
        }
        else
        {
            entry.SealedFields = Seal(key, recordId, entry.Id, fields);
            entry.UpdatedAt = now;
        }

        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Update, "success", channel, "PersonalSpace", entry.Id, Detail: category), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return entry.Id;
    }

    public async Task RemoveAsync(string recordId, string entryId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Delete, "PersonalSpace", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.EditPersonalSpace, facts), AuditAction.Delete, "PersonalSpace", entryId, channel, auditPermit: false, ct, "only the patient writes their personal space");
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var entry = await db.PersonalEntries.FirstOrDefaultAsync(x => x.RecordId == recordId && x.Id == entryId, ct)
            ?? throw new DmpException(ErrorKind.NotFound, "no such entry in the personal space");
        db.PersonalEntries.Remove(entry);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Delete, "success", channel, "PersonalSpace", entryId, Detail: entry.Category), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
    }

    /// <summary>Checks the values against the form: required fields, known choices, dates, phone numbers, lengths; unknown fields refused.</summary>
    public static Dictionary<string, string> Validate(PersonalCategory form, IReadOnlyDictionary<string, string?> values)
    {
        foreach (var name in values.Keys)
        {
            if (form.Fields.All(f => f.Name != name))
            {
                throw DmpException.Invalid($"'{name}' is not a field of {form.Code} ({string.Join(", ", form.Fields.Select(f => f.Name))})", name);
            }
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in form.Fields)
        {
            var v = values.TryGetValue(f.Name, out var raw) ? raw?.Trim() : null;
            if (string.IsNullOrEmpty(v))
            {
                if (f.Required)
                {
                    throw DmpException.Invalid($"{form.Code}: '{f.Name}' is required", f.Name);
                }

                continue;
            }

            if (v.Length > f.MaxLength)
            {
                throw DmpException.Invalid($"{form.Code}: '{f.Name}' is longer than {f.MaxLength} characters", f.Name);
            }

            switch (f.Kind)
            {
                case "choice" when !f.Choices!.Contains(v):
                    throw DmpException.Invalid($"{form.Code}: '{f.Name}' must be one of {string.Join(", ", f.Choices!)}", f.Name);
                case "date" when !DateOnly.TryParseExact(v, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out _):
                    throw DmpException.Invalid($"{form.Code}: '{f.Name}' must be a date (YYYY-MM-DD)", f.Name);
                case "phone" when !IsPhone(v):
                    throw DmpException.Invalid($"{form.Code}: '{f.Name}' must be a telephone number (digits, spaces, +, dots, dashes; 6 to 15 digits)", f.Name);
                default:
                    break;
            }

            result[f.Name] = v;
        }

        return result;
    }

    private static bool IsPhone(string v)
    {
        var digits = v.Count(char.IsAsciiDigit);
        return digits is >= 6 and <= 15 && v.All(c => char.IsAsciiDigit(c) || c is ' ' or '+' or '.' or '-' or '(' or ')');
    }

    private static byte[] Aad(string recordId, string id) => Encoding.UTF8.GetBytes($"personal:{recordId}:{id}");

    private static byte[] Seal(byte[] key, string recordId, string id, Dictionary<string, string> fields) =>
        KeyRing.Seal(key, JsonSerializer.SerializeToUtf8Bytes(fields), Aad(recordId, id));

    private static Dictionary<string, string> Open(byte[] key, PersonalEntry e) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(
            KeyRing.Open(key, e.SealedFields, Aad(e.RecordId, e.Id)) ?? throw new System.Security.Cryptography.CryptographicException("a personal-space entry does not authenticate (altered at rest)"))
        ?? [];
}
