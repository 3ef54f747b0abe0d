using System.Security.Cryptography;
using Hl7.Fhir.Model;
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Common;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;
using DirOrganization = OpenDmp.Core.Directory.Organization;
using DirProfessional = OpenDmp.Core.Directory.Professional;
using DmpPatient = OpenDmp.Core.Records.Patient;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Core.Import;

/// <summary>What an import did.</summary>
public sealed class ImportReport
{
    public int Organizations { get; set; }
    public int Practitioners { get; set; }
    public int Patients { get; set; }
    public int TestIdentities { get; set; }
    public int Documents { get; set; }
    public int Observations { get; set; }
    public int Reimbursements { get; set; }
    public int AlreadyPresent { get; set; }
    public Dictionary<string, int> Skipped { get; } = new(StringComparer.Ordinal);

    public override string ToString() =>
        $"{Organizations} organisations, {Practitioners} practitioners, {Patients} patients ({TestIdentities} with an attributed test identity), {Documents} documents, {Observations} observations, {Reimbursements} reimbursed cares, {AlreadyPresent} already present"
        + (Skipped.Count == 0 ? string.Empty : "; not imported: " + string.Join(", ", Skipped.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Value} {k.Key}")));
}

/// <summary>
/// Loads FHIR R4 batch/transaction bundles (Synthea and others) into OpenDMP: organisations,
/// practitioners, patients (an open record each; a patient without an INS gets a test identity
/// flagged as such), their DocumentReferences as documents and their Observations as results.
/// Resolves urn:uuid full URLs and conditional references (Type?identifier=system|value).
/// One bundle is one transaction: it loads completely or not at all.
/// </summary>
public sealed class FhirImporter(DmpDbContext db, WriteGate gate, AuditTrail audit, IContentStore store, TimeProvider time)
{
    private readonly Dictionary<string, string> _byFullUrl = new(StringComparer.Ordinal);

    public async Task<ImportReport> ImportAsync(Bundle bundle, Actor actor, IProgress<int>? progress, CancellationToken ct)
    {
        if (bundle.Type is not (Bundle.BundleType.Batch or Bundle.BundleType.Transaction or Bundle.BundleType.Collection))
        {
            throw DmpException.Invalid("import expects a batch, transaction or collection Bundle");
        }

        var report = new ImportReport();
        var written = new List<(string RecordId, string Key)>();
        var binaries = new Dictionary<string, Binary>(StringComparer.Ordinal);
        foreach (var be in bundle.Entry)
        {
            if (be.Resource is Binary bin && be.FullUrl is { } fu)
            {
                binaries[fu] = bin;
            }
        }

        var now = time.GetUtcNow();
        try
        {
            await using var scope = await gate.EnterAsync(db, null, ct);
            // Order: directory first, then patients, then their data, whatever the bundle order.
            var claims = new List<ExplanationOfBenefit>();
            var ordered = bundle.Entry.Select((e, i) => (e, i)).OrderBy(x => Rank(x.e.Resource)).ThenBy(x => x.i).Select(x => x.e).ToList();
            var done = 0;
            foreach (var e in ordered)
            {
                switch (e.Resource)
                {
                    case Organization o:
                        await ImportOrganizationAsync(e.FullUrl, o, report, now, ct);
                        break;
                    case Practitioner p:
                        await ImportPractitionerAsync(e.FullUrl, p, report, now, ct);
                        break;
                    case PractitionerRole role:
                        await ImportRoleAsync(role, ct);
                        break;
                    case Hl7.Fhir.Model.Patient p:
                        await ImportPatientAsync(e.FullUrl, p, actor, report, now, ct);
                        break;
                    case DocumentReference d:
                        await ImportDocumentAsync(d, binaries, actor, report, written, now, ct);
                        break;
                    case Observation o:
                        await ImportObservationAsync(o, report, ct);
                        break;
                    case ExplanationOfBenefit eob:
                        claims.Add(eob);
                        break;
                    case Claim:
                        // Represented by its ExplanationOfBenefit (the adjudicated claim).
                        report.Skipped["Claim (its ExplanationOfBenefit is imported)"] = report.Skipped.GetValueOrDefault("Claim (its ExplanationOfBenefit is imported)") + 1;
                        break;
                    case Binary:
                        break;
                    case null:
                        break;
                    default:
                        report.Skipped[e.Resource.TypeName] = report.Skipped.GetValueOrDefault(e.Resource.TypeName) + 1;
                        break;
                }

                done++;
                if (done % 25 == 0 || done == ordered.Count)
                {
                    progress?.Report(done);
                }
            }

            await ImportReimbursementsAsync(claims, binaries, actor, report, written, now, ct);
            await audit.AppendAsync(db, new AuditItem(null, actor, AuditAction.Import, "success", Channels.Admin, "Bundle", bundle.Id, Detail: report.ToString()), ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }
        catch
        {
            db.ChangeTracker.Clear();
            foreach (var (rid, key) in written)
            {
                await store.DiscardAsync(rid, key);
            }

            throw;
        }

        db.ChangeTracker.Clear();
        return report;
    }

    private static int Rank(Resource? r) => r switch
    {
        Organization => 0,
        Practitioner => 1,
        PractitionerRole => 2,
        Hl7.Fhir.Model.Patient => 3,
        _ => 4,
    };

    private static async Task<string> FreeIdAsync(string? wanted, Func<string, Task<bool>> exists) =>
        Ids.IsValidFhirId(wanted) && !await exists(wanted!) ? wanted! : Ids.New();

    private async Task ImportOrganizationAsync(string? fullUrl, Organization o, ImportReport report, DateTimeOffset now, CancellationToken ct)
    {
        var ident = o.Identifier.FirstOrDefault();
        var finess = o.Identifier.FirstOrDefault(i => i.System == "urn:oid:1.2.250.1.71.4.2.2")?.Value;
        DirOrganization? existing = null;
        if (ident?.Value is { } v)
        {
            existing = db.Organizations.Local.FirstOrDefault(x => x.IdentifierSystem == ident.System && x.IdentifierValue == v)
                ?? await db.Organizations.FirstOrDefaultAsync(x => x.IdentifierSystem == ident.System && x.IdentifierValue == v, ct);
        }

        if (existing is null)
        {
            var id = await FreeIdAsync(o.Id, async x => db.Organizations.Local.Any(y => y.Id == x) || await db.Organizations.AnyAsync(y => y.Id == x, ct));
            existing = new DirOrganization
            {
                Id = id,
                Finess = finess,
                IdentifierSystem = ident?.System,
                IdentifierValue = ident?.Value,
                Name = o.Name ?? "(sans nom)",
                TypeCode = o.Type.FirstOrDefault()?.Coding.FirstOrDefault()?.Code,
                City = o.Address.FirstOrDefault()?.City,
                CreatedAt = now,
            };
            db.Organizations.Add(existing);
            report.Organizations++;
        }
        else
        {
            report.AlreadyPresent++;
        }

        Remember(fullUrl, "Organization", existing.Id, o.Identifier);
    }

    private async Task ImportPractitionerAsync(string? fullUrl, Practitioner p, ImportReport report, DateTimeOffset now, CancellationToken ct)
    {
        string? rpps = null;
        Identifier? other = null;
        foreach (var i in p.Identifier)
        {
            var candidate = Rpps.FromIdentifier(i.System, i.Value);
            if (candidate is not null && Rpps.Validate(candidate) is null)
            {
                rpps = candidate;
            }
            else
            {
                other ??= i;
            }
        }

        DirProfessional? existing = null;
        if (rpps is not null)
        {
            existing = db.Professionals.Local.FirstOrDefault(x => x.Rpps == rpps) ?? await db.Professionals.FirstOrDefaultAsync(x => x.Rpps == rpps, ct);
        }
        else if (other?.Value is { } v)
        {
            existing = db.Professionals.Local.FirstOrDefault(x => x.IdentifierSystem == other.System && x.IdentifierValue == v)
                ?? await db.Professionals.FirstOrDefaultAsync(x => x.IdentifierSystem == other.System && x.IdentifierValue == v, ct);
        }

        if (existing is null)
        {
            var name = p.Name.FirstOrDefault();
            var id = await FreeIdAsync(p.Id, async x => db.Professionals.Local.Any(y => y.Id == x) || await db.Professionals.AnyAsync(y => y.Id == x, ct));
            existing = new DirProfessional
            {
                Id = id,
                Rpps = rpps,
                IdentifierSystem = rpps is null ? other?.System : null,
                IdentifierValue = rpps is null ? other?.Value : null,
                Family = name?.Family ?? "(inconnu)",
                Given = string.Join(' ', name?.Given ?? []),
                Prefix = name?.Prefix.FirstOrDefault(),
                Email = p.Telecom.FirstOrDefault(t => t.System == ContactPoint.ContactPointSystem.Email)?.Value,
                CreatedAt = now,
            };
            db.Professionals.Add(existing);
            report.Practitioners++;
        }
        else
        {
            report.AlreadyPresent++;
        }

        Remember(fullUrl, "Practitioner", existing.Id, p.Identifier);
    }

    private async Task ImportRoleAsync(PractitionerRole role, CancellationToken ct)
    {
        var pid = await ResolveAsync(role.Practitioner, "Practitioner", ct);
        if (pid is null)
        {
            return;
        }

        var p = db.Professionals.Local.FirstOrDefault(x => x.Id == pid) ?? await db.Professionals.FirstOrDefaultAsync(x => x.Id == pid, ct);
        if (p is null)
        {
            return;
        }

        p.OrganizationId ??= await ResolveAsync(role.Organization, "Organization", ct);
        var specialty = role.Specialty.FirstOrDefault();
        p.SpecialtyDisplay ??= specialty?.Text ?? specialty?.Coding.FirstOrDefault()?.Display;
    }

    private async Task ImportPatientAsync(string? fullUrl, Hl7.Fhir.Model.Patient p, Actor actor, ImportReport report, DateTimeOffset now, CancellationToken ct)
    {
        Identifier? ins = p.Identifier.FirstOrDefault(i => Ins.KindOf(i.System) is { } k && k != InsKind.Local && Ins.Validate(i.Value) is null);
        var system = ins?.System ?? Ins.LocalTestSystem;
        var value = ins?.Value is { } iv ? Ins.Normalize(iv) : null;
        if (value is not null)
        {
            var known = await db.PatientIdentifiers.FirstOrDefaultAsync(x => x.System == system && x.Value == value, ct);
            if (known is not null)
            {
                report.AlreadyPresent++;
                Remember(fullUrl, "Patient", known.RecordId, p.Identifier);
                return;
            }
        }
        else
        {
            // Re-import of the same source patient: recognised by its source identifiers.
            foreach (var i in p.Identifier.Where(i => i.Value is not null && i.System is not null))
            {
                var key = $"{i.System}|{i.Value}";
                var known = await db.PatientIdentifiers.FirstOrDefaultAsync(x => x.System == Ins.LocalTestSystem + ":source" && x.Value == key, ct);
                if (known is not null)
                {
                    report.AlreadyPresent++;
                    Remember(fullUrl, "Patient", known.RecordId, p.Identifier);
                    return;
                }
            }
        }

        var recordId = await FreeIdAsync(p.Id, async x => db.Patients.Local.Any(y => y.RecordId == x) || await db.Patients.AnyAsync(y => y.RecordId == x, ct));
        var isTest = ins is null || Ins.IsTestKind(Ins.KindOf(system)!.Value);
        value ??= "TEST-" + recordId;
        var name = p.Name.FirstOrDefault(n => n.Use == HumanName.NameUse.Official) ?? p.Name.FirstOrDefault();
        var birth = DateOnly.TryParse(p.BirthDate, System.Globalization.CultureInfo.InvariantCulture, out var b) ? b : new DateOnly(1900, 1, 1);
        db.Patients.Add(new DmpPatient
        {
            RecordId = recordId,
            Ins = value,
            InsSystem = system,
            IsTestIdentity = isTest,
            Family = (name?.Family ?? "INCONNU").ToUpperInvariant(),
            Given = string.Join(' ', name?.Given ?? ["Inconnu"]),
            BirthDate = birth,
            Sex = p.Gender switch { AdministrativeGender.Male => "M", AdministrativeGender.Female => "F", _ => "U" },
            CreatedAt = now,
            UpdatedAt = now,
        });
        db.PatientIdentifiers.Add(new PatientIdentifier { System = system, Value = value, RecordId = recordId });
        if (ins is null)
        {
            foreach (var i in p.Identifier.Where(i => i.Value is not null && i.System is not null).Take(1))
            {
                db.PatientIdentifiers.Add(new PatientIdentifier { System = Ins.LocalTestSystem + ":source", Value = $"{i.System}|{i.Value}", RecordId = recordId });
            }
        }

        string? treating = null;
        foreach (var gp in p.GeneralPractitioner)
        {
            treating ??= await ResolveAsync(gp, "Practitioner", ct);
        }

        db.Records.Add(new Record
        {
            RecordId = recordId,
            Status = RecordStatus.Open,
            TreatingPhysicianId = treating,
            OpeningChannel = OpeningChannel.Import,
            OpenedAt = now,
            UpdatedAt = now,
        });
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Open, "success", Channels.Admin, "Record", recordId, Detail: isTest ? "import with test identity" : "import"), ct);
        report.Patients++;
        if (isTest)
        {
            report.TestIdentities++;
        }

        Remember(fullUrl, "Patient", recordId, p.Identifier);
    }

    /// <summary>
    /// The reimbursement history of each patient of the bundle: the twelve months of claims up to the
    /// most recent one, as one history document with an entry per care (ADR 0018). Imported once
    /// (the document's masterIdentifier is derived from the patient and the period).
    /// </summary>
    private async System.Threading.Tasks.Task ImportReimbursementsAsync(List<ExplanationOfBenefit> claims, Dictionary<string, Binary> binaries, Actor actor, ImportReport report, List<(string, string)> written, DateTimeOffset now, CancellationToken ct)
    {
        var byPatient = new Dictionary<string, List<ExplanationOfBenefit>>(StringComparer.Ordinal);
        foreach (var eob in claims)
        {
            var recordId = await ResolveAsync(eob.Patient, "Patient", ct);
            if (recordId is null)
            {
                report.Skipped["ExplanationOfBenefit without patient"] = report.Skipped.GetValueOrDefault("ExplanationOfBenefit without patient") + 1;
                continue;
            }

            // The professional by name when the directory knows them (the claim names them by identifier).
            if (eob.Provider is { Display: null } provider && await ResolveAsync(provider, "Practitioner", ct) is { } proId)
            {
                provider.Display = db.Professionals.Local.FirstOrDefault(x => x.Id == proId)?.DisplayName
                    ?? (await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == proId, ct))?.DisplayName;
            }

            (byPatient.TryGetValue(recordId, out var list) ? list : byPatient[recordId] = []).Add(eob);
        }

        foreach (var (recordId, eobs) in byPatient)
        {
            if (OpenDmp.Core.Clinical.ReimbursementHistory.Build("Patient/" + recordId, eobs, null) is not { } history)
            {
                continue;
            }

            var documentId = await ImportDocumentAsync(history.Document, binaries, actor, report, written, now, ct);
            if (documentId is null)
            {
                continue;
            }

            foreach (var eob in history.Claims)
            {
                db.ClinicalEntries.Add(OpenDmp.Core.Clinical.ReimbursementHistory.Entry(eob, recordId, documentId, now));
                report.Reimbursements++;
            }
        }
    }

    private async Task<string?> ImportDocumentAsync(DocumentReference d, Dictionary<string, Binary> binaries, Actor actor, ImportReport report, List<(string, string)> written, DateTimeOffset now, CancellationToken ct)
    {
        var recordId = await ResolveAsync(d.Subject, "Patient", ct) ?? throw DmpException.Invalid($"DocumentReference {d.Id}: its subject is not a patient of the import");
        var patient = db.Patients.Local.FirstOrDefault(x => x.RecordId == recordId) ?? await db.Patients.FirstAsync(x => x.RecordId == recordId, ct);
        var master = d.MasterIdentifier?.Value ?? d.Identifier.FirstOrDefault()?.Value ?? "urn:uuid:" + (d.Id ?? Guid.NewGuid().ToString());
        if (db.Documents.Local.Any(x => x.RecordId == recordId && x.MasterIdentifier == master) || await db.Documents.AnyAsync(x => x.RecordId == recordId && x.MasterIdentifier == master, ct))
        {
            report.AlreadyPresent++;
            return null;
        }

        var att = d.Content.FirstOrDefault()?.Attachment ?? throw DmpException.Invalid($"DocumentReference {d.Id} has no content");
        var bytes = att.Data ?? (att.Url is not null && binaries.TryGetValue(att.Url, out var bin) ? bin.Data : null)
            ?? throw DmpException.Invalid($"DocumentReference {d.Id}: its content is neither inline nor in a Binary of the bundle");
        DocumentMapping.CheckContent(att.ContentType ?? string.Empty, bytes, $"DocumentReference {d.Id}");
        FhirNarrative.Check(d, $"DocumentReference {d.Id}");
        var id = await FreeIdAsync(d.Id, async x => db.Documents.Local.Any(y => y.Id == x) || await db.Documents.AnyAsync(y => y.Id == x, ct));
        string? authorId = null;
        string? authorDisplay = null;
        string? authorIdentifier = null;
        if (d.Author.FirstOrDefault() is { } a)
        {
            authorId = await ResolveAsync(a, "Practitioner", ct);
            authorDisplay = a.Display;
            authorIdentifier = References.ConditionalIdentifier(a.Reference, "Practitioner")?.Value ?? a.Identifier?.Value;
        }

#pragma warning disable CA5350 // FHIR R4 Attachment.hash is SHA-1 by definition (integrity check).
        var sha1 = Convert.ToBase64String(SHA1.HashData(bytes));
#pragma warning restore CA5350
        var type = d.Type?.Coding.FirstOrDefault();
        var cls = d.Category.FirstOrDefault()?.Coding.FirstOrDefault();
        var status = d.Status switch { DocumentReferenceStatus.Superseded => "superseded", DocumentReferenceStatus.EnteredInError => "entered-in-error", _ => "current" };
        d.Id = id;
        d.Meta = DocumentResources.NewMeta(d.Meta, now);
        d.Subject = new ResourceReference("Patient/" + recordId);
        if (authorId is not null)
        {
            d.Author[0] = new ResourceReference("Practitioner/" + authorId) { Display = authorDisplay };
        }

        if (d.Custodian?.Reference is { } custodian && await ResolveAsync(d.Custodian, "Organization", ct) is { } orgId)
        {
            d.Custodian = new ResourceReference("Organization/" + orgId) { Display = d.Custodian.Display };
        }
        else if (d.Custodian?.Reference?.Contains('?', StringComparison.Ordinal) == true)
        {
            d.Custodian = new ResourceReference { Display = d.Custodian.Display };
        }

        if (d.Context is not null)
        {
            d.Context.Encounter.Clear();
        }

        att.Data = null;
        att.Url = "Binary/" + id;
        att.Size = bytes.LongLength;
        att.Hash = Convert.FromBase64String(sha1);
        DocumentResources.MarkTest(d.Meta, patient.IsTestIdentity);
        await store.PutAsync(db, recordId, id, bytes, ct);
        written.Add((recordId, id));
        // The same mapping as ITI-65: visibility statuses and drafts are kept, codes as given.
        var entry = DocumentMapping.ToEntry(d, new DocumentCodes(type?.System, type?.Code ?? "unknown", type?.Display, cls?.System, cls?.Code, cls?.Display,
                d.Content[0].Format?.Code, d.Context?.FacilityType?.Coding.FirstOrDefault()?.Code, d.Context?.PracticeSetting?.Coding.FirstOrDefault()?.Code, d.SecurityLabel.FirstOrDefault()?.Coding.FirstOrDefault()?.Code),
            new References.Author(authorId, authorIdentifier, authorDisplay), att.ContentType ?? "application/octet-stream", bytes, sha1, recordId, id, master, status, null, null, patient.IsTestIdentity, now);
        entry.Title ??= type?.Display;
        entry.ResourceJson = FhirJson.Serialize(d);
        db.Documents.Add(entry);
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", Channels.Admin, "DocumentReference", id, Mode: "import"), ct);
        report.Documents++;
        return id;
    }

    private async Task ImportObservationAsync(Observation o, ImportReport report, CancellationToken ct)
    {
        var recordId = await ResolveAsync(o.Subject, "Patient", ct);
        if (recordId is null)
        {
            report.Skipped["Observation without patient"] = report.Skipped.GetValueOrDefault("Observation without patient") + 1;
            return;
        }

        var code = o.Code?.Coding.FirstOrDefault();
        var qty = o.Value as Quantity;
        var value = qty?.Value is { } v ? (double?)(double)v : null;
        var effective = o.Effective is FhirDateTime dt && dt.TryToDateTimeOffset(out var eff) ? eff.ToUniversalTime() : (DateTimeOffset?)null;
        var codeValue = code?.Code ?? "unknown";

        // Re-importing the same bundle adds nothing: the same source id in this record, or the same
        // result (code, time and value) already there, is already present.
        var sameId = Ids.IsValidFhirId(o.Id) && (db.Observations.Local.Any(y => y.RecordId == recordId && y.Id == o.Id) || await db.Observations.AnyAsync(y => y.RecordId == recordId && y.Id == o.Id, ct));
        var sameResult = db.Observations.Local.Any(y => y.RecordId == recordId && y.Code == codeValue && y.Effective == effective && y.ValueNumber == value)
            || await db.Observations.AnyAsync(y => y.RecordId == recordId && y.Code == codeValue && y.Effective == effective && y.ValueNumber == value, ct);
        if (sameId || sameResult)
        {
            report.AlreadyPresent++;
            return;
        }

        var id = await FreeIdAsync(o.Id, async x => db.Observations.Local.Any(y => y.Id == x) || await db.Observations.AnyAsync(y => y.RecordId == recordId && y.Id == x, ct));
        o.Id = id;
        o.Subject = new ResourceReference("Patient/" + recordId);
        o.Encounter = null;
        db.Observations.Add(new ObservationEntry
        {
            RecordId = recordId,
            Id = id,
            CodeSystem = code?.System,
            Code = codeValue,
            CodeDisplay = code?.Display ?? o.Code?.Text,
            Category = o.Category.FirstOrDefault()?.Coding.FirstOrDefault()?.Code,
            Status = o.Status?.ToString().ToLowerInvariant() ?? "unknown",
            ValueNumber = value,
            Unit = qty?.Unit ?? qty?.Code,
            ValueText = o.Value is CodeableConcept cc ? cc.Text ?? cc.Coding.FirstOrDefault()?.Display : (o.Value as FhirString)?.Value,
            Effective = effective,
            ResourceJson = FhirJson.Serialize(o),
        });
        report.Observations++;
    }

    private void Remember(string? fullUrl, string type, string id, IEnumerable<Identifier> identifiers)
    {
        if (fullUrl is not null)
        {
            _byFullUrl[fullUrl] = id;
        }

        _byFullUrl[$"{type}/{id}"] = id;
        foreach (var i in identifiers.Where(i => i.Value is not null))
        {
            _byFullUrl[$"{type}?identifier={i.System}|{i.Value}"] = id;
        }
    }

    /// <summary>Resolves a reference of the bundle (urn:uuid, Type/id, Type?identifier=…, logical identifier) to an OpenDMP id.</summary>
    private async Task<string?> ResolveAsync(ResourceReference? r, string type, CancellationToken ct)
    {
        if (r is null)
        {
            return null;
        }

        if (r.Reference is { } s)
        {
            if (_byFullUrl.TryGetValue(s, out var id))
            {
                return id;
            }

            if (References.ConditionalIdentifier(s, type) is { } cond)
            {
                return await ByIdentifierAsync(type, cond.System, cond.Value, ct);
            }

            if (References.LogicalId(s, type) is { } logical)
            {
                return type switch
                {
                    "Patient" => await db.Patients.AnyAsync(x => x.RecordId == logical, ct) ? logical : null,
                    "Practitioner" => await db.Professionals.AnyAsync(x => x.Id == logical, ct) ? logical : null,
                    _ => await db.Organizations.AnyAsync(x => x.Id == logical, ct) ? logical : null,
                };
            }
        }

        return r.Identifier?.Value is { } v ? await ByIdentifierAsync(type, r.Identifier.System, v, ct) : null;
    }

    private async Task<string?> ByIdentifierAsync(string type, string? system, string value, CancellationToken ct)
    {
        if (_byFullUrl.TryGetValue($"{type}?identifier={system}|{value}", out var id))
        {
            return id;
        }

        switch (type)
        {
            case "Practitioner":
                var rpps = Rpps.FromIdentifier(system, value);
                return rpps is not null
                    ? await db.Professionals.Where(x => x.Rpps == rpps).Select(x => x.Id).FirstOrDefaultAsync(ct)
                    : await db.Professionals.Where(x => x.IdentifierSystem == system && x.IdentifierValue == value).Select(x => x.Id).FirstOrDefaultAsync(ct);
            case "Organization":
                return await db.Organizations.Where(x => (x.IdentifierSystem == system && x.IdentifierValue == value) || x.Finess == value).Select(x => x.Id).FirstOrDefaultAsync(ct);
            default:
                return await db.PatientIdentifiers.Where(x => x.System == system && x.Value == value).Select(x => x.RecordId).FirstOrDefaultAsync(ct);
        }
    }
}
