using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Records;

/// <summary>Identity traits of a new patient.</summary>
/// <summary>A patient to register. <paramref name="Evidence"/>: what establishes the identity's status; none means the registering party sends the INS of an identity it qualified itself (the RNIV lets only a qualified identity carry its INS).</summary>
public sealed record NewPatient(string Ins, string InsSystem, string Family, string Given, DateOnly BirthDate, string Sex, string? BirthPlace, string? Id = null, IdentityEvidence? Evidence = null);

/// <summary>
/// The patient's consent to open their record, as it was collected: where, the version of the
/// information notice shown, by whom (a professional's RPPS when the operator records it; the
/// professional actor otherwise; none online), and what the patient chose.
/// </summary>
public sealed record OpeningConsent(
    OpeningChannel Channel,
    string? NoticeVersion,
    bool ExpressConsent,
    string? CollectorRpps = null,
    string? TreatingPhysicianRpps = null,
    bool OpposeBreakGlass = false,
    bool OpposeCentre15 = false,
    string ActivationDelivery = "print");

/// <summary>Patients and their records: identity, opening, closing, reopening.</summary>
public sealed class RecordService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, PolicySettings policy, RecordGuard guard, OpenDmp.Core.Content.KeyRing keys)
{
    /// <summary>Registers a patient with strict identity traits. The INS key is verified for NIR/NIA/test/demo systems.</summary>
    public async Task<Patient> AddPatientAsync(NewPatient p, Actor actor, string channel, CancellationToken ct)
    {
        var kind = Ins.KindOf(p.InsSystem) ?? throw DmpException.Invalid($"unknown patient identifier system '{p.InsSystem}' (INS-NIR {Ins.NirSystem}, INS-NIA {Ins.NiaSystem}, test {Ins.TestSystem}, demo {Ins.DemoSystem})");
        var ins = kind == InsKind.Local ? p.Ins : Ins.Normalize(p.Ins);
        if (kind != InsKind.Local && Ins.Validate(ins) is { } insError)
        {
            throw DmpException.Invalid(insError, "Patient.identifier");
        }

        if (string.IsNullOrWhiteSpace(p.Family) || string.IsNullOrWhiteSpace(p.Given))
        {
            throw DmpException.Invalid("family name and given names (strict identity traits) are required", "Patient.name");
        }

        if (p.Sex is not ("M" or "F" or "U"))
        {
            throw DmpException.Invalid($"sex must be M or F, got '{p.Sex}'", "Patient.gender");
        }

        if (kind != InsKind.Local && p.Sex is "M" or "F" && Ins.SexOf(ins) is { } insSex && insSex != p.Sex)
        {
            throw DmpException.Invalid($"the INS begins with {ins[0]}, the digit of a {(insSex == "M" ? "man" : "woman")}, but the declared sex is {p.Sex}: check the INS and the sex", "Patient.gender");
        }

        if (p.BirthDate > DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime))
        {
            throw DmpException.Invalid("the birth date is in the future", "Patient.birthDate");
        }

        if (p.BirthPlace is { Length: > 0 } bp && (bp.Length != 5 || !(bp.All(char.IsAsciiDigit) || (bp.StartsWith("2A", StringComparison.Ordinal) || bp.StartsWith("2B", StringComparison.Ordinal)) && bp[2..].All(char.IsAsciiDigit))))
        {
            throw DmpException.Invalid($"the birth place is an INSEE code of 5 characters (commune, or 99xxx for a country), got '{bp}'", "Patient.extension:birthPlace");
        }

        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var evidence = p.Evidence ?? IdentityEvidence.AttestedQualified(today);
        IdentityVigilance.Check(evidence, today);
        var recordId = p.Id ?? Ids.New();
        await using var scope = await gate.EnterAsync(db, null, ct);
        if (await db.PatientIdentifiers.AnyAsync(x => x.System == p.InsSystem && x.Value == ins, ct))
        {
            throw new DmpException(ErrorKind.Conflict, "a patient with this INS already exists");
        }

        if (await db.Patients.AnyAsync(x => x.RecordId == recordId, ct))
        {
            throw new DmpException(ErrorKind.Conflict, $"a patient with id {recordId} already exists");
        }

        var now = time.GetUtcNow();
        var patient = new Patient
        {
            RecordId = recordId,
            Ins = ins,
            InsSystem = p.InsSystem,
            IsTestIdentity = Ins.IsTestKind(kind),
            Family = p.Family.Trim().ToUpperInvariant(),
            Given = p.Given.Trim(),
            BirthDate = p.BirthDate,
            Sex = p.Sex,
            BirthPlace = p.BirthPlace,
            IdentityStatus = IdentityVigilance.StatusOf(evidence),
            InsRecoveredOn = evidence.InsRecoveredOn,
            IdentityDocument = evidence.Document,
            IdentityCheckedOn = evidence.CheckedOn,
            IdentityDoubtful = evidence.Doubtful,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Patients.Add(patient);
        db.PatientIdentifiers.Add(new PatientIdentifier { System = p.InsSystem, Value = ins, RecordId = recordId });
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Create, "success", channel, "Patient", recordId, Detail: "identity " + IdentityVigilance.Code(patient.IdentityStatus)), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return patient;
    }

    /// <summary>
    /// Records what establishes a patient's identity (INSi recovery, document checked, doubt) and the
    /// status it derives (RNIV), on the record's audit chain with the status before and after.
    /// </summary>
    public async Task<Patient> SetIdentityAsync(string recordId, IdentityEvidence evidence, Actor actor, string channel, CancellationToken ct)
    {
        IdentityVigilance.Check(evidence, DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime));
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var patient = await db.Patients.FirstOrDefaultAsync(x => x.RecordId == recordId, ct) ?? throw DmpException.NotFound($"Patient/{recordId} does not exist");
        var before = patient.IdentityStatus;
        patient.InsRecoveredOn = evidence.InsRecoveredOn;
        patient.IdentityDocument = evidence.Document;
        patient.IdentityCheckedOn = evidence.CheckedOn;
        patient.IdentityDoubtful = evidence.Doubtful;
        patient.IdentityStatus = IdentityVigilance.StatusOf(evidence);
        patient.UpdatedAt = time.GetUtcNow();
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Update, AuditOutcomes.Success, channel, "Patient", recordId,
            Detail: $"identity {IdentityVigilance.Code(before)} → {IdentityVigilance.Code(patient.IdentityStatus)}"), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return patient;
    }

    /// <summary>
    /// The patient of an INS value, under the given system or any; a value registered under several
    /// systems (e.g. a NIR and a test identity) without a system to choose is refused, never guessed.
    /// </summary>
    public async Task<Patient?> FindByInsAsync(string ins, CancellationToken ct, string? system = null)
    {
        var normalized = Ins.Normalize(ins);
        var matches = await db.PatientIdentifiers.AsNoTracking().Where(x => x.Value == normalized && (system == null || x.System == system))
            .Select(x => new { x.System, x.RecordId }).Take(10).ToListAsync(ct);
        if (matches.Select(m => m.RecordId).Distinct().Count() > 1)
        {
            throw DmpException.Invalid($"the INS {normalized} is registered under several systems ({string.Join(", ", matches.Select(m => m.System).Order(StringComparer.Ordinal))}): say which one (--ins-system nir, nia, test or demo)");
        }

        var id = matches.FirstOrDefault()?.RecordId;
        return id is null ? null : await db.Patients.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == id, ct);
    }

    /// <summary>Finds a patient by INS (under <paramref name="system"/> when given, else any accepted system, unambiguously) or, failing that, by record id.</summary>
    public async Task<Patient> RequirePatientAsync(string insOrId, CancellationToken ct, string? system = null) =>
        await FindByInsAsync(insOrId, ct, system)
        ?? await db.Patients.AsNoTracking().FirstOrDefaultAsync(x => x.RecordId == insOrId, ct)
        ?? throw DmpException.NotFound($"no patient with INS or id '{insOrId}'{(system is null ? "" : " under " + system)}");

    /// <summary>
    /// Opens the record with the patient's express consent (decided by the policy: never without it,
    /// never over an existing record), recording who collected it, where, the information notice shown
    /// and the patient's choices (treating physician, emergency oppositions) in the record and in its
    /// openings; the professional who collected the consent is authorised as under alleged consent.
    /// </summary>
    public async Task<(Record Record, RecordOpening Opening)> OpenAsync(string recordId, OpeningConsent consent, Actor actor, string auditChannel, CancellationToken ct)
    {
        var (notice, collector, treating) = await CheckOpeningAsync(consent, actor, ct);
        var identity = await db.Patients.AsNoTracking().Where(x => x.RecordId == recordId).Select(x => (IdentityStatus?)x.IdentityStatus).FirstOrDefaultAsync(ct)
            ?? throw DmpException.NotFound("no such patient");
        IdentityVigilance.RequireQualified(identity, "open a record");

        // An open (or closed) record is a conflict; then the policy decides (and a refusal is audited) before anything is written.
        var facts = await guard.FactsAsync(recordId, ct);
        RecordStateMachine.Next(facts?.Status, RecordCommand.Open);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.OpenRecord, facts, Opening: new OpeningFacts(recordId, consent.ExpressConsent)), AuditAction.Open, "Record", recordId, auditChannel, auditPermit: false, ct, "the record cannot be opened");

        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var existing = await db.Records.FirstOrDefaultAsync(x => x.RecordId == recordId, ct);
        RecordStateMachine.Next(existing?.Status, RecordCommand.Open);
        var now = time.GetUtcNow();
        var record = new Record
        {
            RecordId = recordId,
            Status = RecordStatus.Open,
            TreatingPhysicianId = treating?.Id,
            ConsentCollectedById = collector?.Id,
            OpeningChannel = consent.Channel,
            OpenedAt = now,
            UpdatedAt = now,
            OpposeBreakGlass = consent.OpposeBreakGlass,
            OpposeCentre15 = consent.OpposeCentre15,
        };
        db.Records.Add(record);
        var opening = new RecordOpening
        {
            RecordId = recordId,
            Id = Ids.New(),
            OpenedAt = now,
            Channel = consent.Channel,
            OpenedBy = actor.Kind switch { ActorKind.Professional => "professional", ActorKind.Patient => "patient", _ => "operator" },
            CollectedById = collector?.Id,
            OrganizationId = consent.Channel == OpeningChannel.Hospital ? collector?.OrganizationId : null,
            NoticeVersion = notice,
            TreatingPhysicianId = treating?.Id,
            OpposeBreakGlass = consent.OpposeBreakGlass,
            OpposeCentre15 = consent.OpposeCentre15,
            ActivationDelivery = consent.ActivationDelivery,
        };
        db.RecordOpenings.Add(opening);
        var by = collector is null ? "the patient online" : collector.Id;
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Open, "success", auditChannel, "Record", recordId, Detail: $"express consent collected by {by} ({consent.Channel}), information notice {notice}"), ct);
        if (collector is not null && collector.Id != treating?.Id && collector.ProfessionCode is not null)
        {
            // The professional who collected the patient's consent to open the record is authorised
            // as under alleged consent (the patient is present and agreed), for the default period.
            var grant = new Grant
            {
                RecordId = recordId,
                Id = Ids.New(),
                Mode = GrantModes.Code(GrantMode.Alleged),
                HolderId = collector.Id,
                Start = now,
                End = now + policy.AllegedDuration,
                DeclaredBy = collector.Id,
                CreatedAt = now,
            };
            db.Grants.Add(grant);
            await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.Grant, "success", auditChannel, "Consent", grant.Id, grant.Mode, "consent collector at opening"), ct);
        }

        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
        return (record, opening);
    }

    /// <summary>
    /// What an opening needs, checked without writing anything: the notice version, the consent
    /// collector (and their establishment for a hospital opening), the treating physician.
    /// </summary>
    public async Task<(string Notice, Professional? Collector, Professional? Treating)> CheckOpeningAsync(OpeningConsent consent, Actor actor, CancellationToken ct)
    {
        var notice = InformationNotice.Current.Check(consent.NoticeVersion);
        var collector = consent.CollectorRpps is { } rpps ? await RequireProfessionalAsync(rpps, "consent collector", ct)
            : actor.Kind == ActorKind.Professional ? await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Id == actor.Id, ct) ?? throw DmpException.NotFound("the professional is not in the directory")
            : null;
        if (collector is null && consent.Channel != OpeningChannel.Online)
        {
            throw DmpException.Invalid("the professional who collected the patient's consent is required (consent collector)");
        }

        if (consent.Channel == OpeningChannel.Hospital && collector?.OrganizationId is null)
        {
            throw DmpException.Invalid("an opening at a hospital is collected by a professional attached to the establishment (the directory names none for this professional)", "channel");
        }

        var treating = consent.TreatingPhysicianRpps is null ? null : await RequireProfessionalAsync(consent.TreatingPhysicianRpps, "treating physician", ct);
        if (treating is not null && treating.ProfessionCode != "10")
        {
            throw DmpException.Invalid($"the treating physician must be a physician (profession 10); {treating.Rpps} has profession {treating.ProfessionCode}");
        }

        return (notice, collector, treating);
    }

    /// <summary>The operator records an opening whose consent a professional collected, on the current notice (command line, demo, benchmarks).</summary>
    public async Task<Record> OpenAsync(string recordId, string? treatingPhysicianRpps, string consentCollectedByRpps, OpeningChannel channel, Actor actor, string auditChannel, CancellationToken ct) =>
        (await OpenAsync(recordId, new OpeningConsent(channel, InformationNotice.Current.Version, ExpressConsent: true, consentCollectedByRpps, treatingPhysicianRpps, ActivationDelivery: "print"), actor, auditChannel, ct)).Record;

    /// <summary>The record's openings, newest first, as its patient sees them (with who collected the consent).</summary>
    public async Task<IReadOnlyList<(RecordOpening Opening, string? CollectorName, string? OrganizationName)>> OpeningsAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Read, "Record", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), AuditAction.Read, "Record", recordId, channel, auditPermit: true, ct);
        var rows = await (from o in db.RecordOpenings.AsNoTracking().Where(o => o.RecordId == recordId)
                          join p in db.Professionals.AsNoTracking() on o.CollectedById equals p.Id into pros
                          from p in pros.DefaultIfEmpty()
                          join g in db.Organizations.AsNoTracking() on o.OrganizationId equals g.Id into orgs
                          from g in orgs.DefaultIfEmpty()
                          select new { Opening = o, Given = p == null ? null : p.Given, Family = p == null ? null : p.Family, Organization = g == null ? null : g.Name })
            .ToListAsync(ct);
        return rows.OrderByDescending(r => r.Opening.OpenedAt)
            .Select(r => (r.Opening, r.Family is null ? null : $"{r.Given} {r.Family}", (string?)r.Organization))
            .ToList();
    }

    /// <summary>The record's state as its patient (or a legal representative) sees it: open or closed, and since when.</summary>
    public async Task<(RecordStatus Status, DateTimeOffset? ClosedAt)> StateAsync(string recordId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await guard.RequireFactsAsync(recordId, actor, AuditAction.Read, "Record", channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), AuditAction.Read, "Record", recordId, channel, auditPermit: true, ct);
        var closedAt = await db.Records.AsNoTracking().Where(x => x.RecordId == recordId).Select(x => x.ClosedAt).FirstOrDefaultAsync(ct);
        return (facts.Status, closedAt);
    }

    public Task<Record> CloseAsync(string recordId, Actor actor, string channel, CancellationToken ct) => TransitionAsync(recordId, RecordCommand.Close, actor, channel, ct);

    public Task<Record> ReopenAsync(string recordId, Actor actor, string channel, CancellationToken ct) => TransitionAsync(recordId, RecordCommand.Reopen, actor, channel, ct);

    /// <summary>Sets or changes the treating physician (médecin traitant) of an open record.</summary>
    public async Task<Record> SetTreatingPhysicianAsync(string recordId, string rpps, Actor actor, string channel, CancellationToken ct)
    {
        var treating = await RequireProfessionalAsync(rpps, "treating physician", ct);
        if (treating.ProfessionCode != "10")
        {
            throw DmpException.Invalid($"the treating physician must be a physician (profession 10); {rpps} has profession {treating.ProfessionCode}");
        }

        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var record = await db.Records.FirstOrDefaultAsync(x => x.RecordId == recordId, ct) ?? throw new DmpException(ErrorKind.Conflict, "this patient has no record: open one first");
        if (record.Status != RecordStatus.Open)
        {
            throw new DmpException(ErrorKind.Conflict, "the record is closed");
        }

        record.TreatingPhysicianId = treating.Id;
        record.UpdatedAt = time.GetUtcNow();
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditAction.SetTreatingPhysician, "success", channel, "Record", recordId, Detail: treating.Id), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return record;
    }

    private async Task<Record> TransitionAsync(string recordId, RecordCommand command, Actor actor, string channel, CancellationToken ct)
    {
        // The operator (admin tool) or the patient from their own space: asked to the policy like
        // every other action on a record, refusals audited.
        if (await guard.FactsAsync(recordId, ct) is { } facts)
        {
            await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageRecord, facts), AuditOf(command), "Record", recordId, channel, auditPermit: false, ct, "you may not close or reopen this record");
        }

        if (command == RecordCommand.Reopen && keys.IsShredded(recordId))
        {
            throw new DmpException(ErrorKind.Conflict, "this record's data was destroyed at the end of its retention: it cannot be reopened");
        }

        await using var scope = await gate.EnterAsync(db, recordId, ct);
        var record = await db.Records.FirstOrDefaultAsync(x => x.RecordId == recordId, ct);
        var next = RecordStateMachine.Next(record?.Status, command);
        var now = time.GetUtcNow();
        record!.Status = next;
        record.UpdatedAt = now;
        record.ClosedAt = next == RecordStatus.Closed ? now : null;
        await audit.AppendAsync(db, new AuditItem(recordId, actor, AuditOf(command), "success", channel, "Record", recordId), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        return record;
    }

    private static AuditAction AuditOf(RecordCommand command) => command switch
    {
        RecordCommand.Open => AuditAction.Open,
        RecordCommand.Close => AuditAction.Close,
        _ => AuditAction.Reopen,
    };

    private async Task<Professional> RequireProfessionalAsync(string rpps, string role, CancellationToken ct)
    {
        if (Rpps.Validate(rpps) is { } err)
        {
            throw DmpException.Invalid($"{role}: {err}");
        }

        return await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps, ct)
            ?? throw DmpException.Invalid($"{role}: no professional with RPPS {rpps} in the directory (add it with 'professional add')");
    }
}
