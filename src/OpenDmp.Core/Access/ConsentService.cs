// The unit-of-work helpers take the change as their last argument (a lambda), after the token.
#pragma warning disable CA1068
using Microsoft.EntityFrameworkCore;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Identity;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Records;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Access;

/// <summary>A professional's declaration of access (FHIR operation $declare-access).</summary>
/// <summary>
/// A professional's declaration of access. For a group: <paramref name="MembersVersion"/> is the
/// version of the member list the patient was shown (GET Group/{id}, meta.versionId) and
/// <paramref name="Exclude"/> the members the patient excluded in the same step (RPPS or id).
/// </summary>
public sealed record AccessDeclaration(string? Mode, bool? Confirm, DateTimeOffset? End = null, string? Group = null, string? DelegatingGrant = null, string? MembersVersion = null, IReadOnlyList<string>? Exclude = null);

/// <summary>The grants of a record, its blocked professionals and the patient's emergency settings.</summary>
public sealed record ConsentOverview(IReadOnlyList<Grant> Grants, IReadOnlySet<string> Blocked, RecordSettings Settings);

/// <summary>The patient's emergency settings; null leaves a setting unchanged.</summary>
public sealed record EmergencyPreferences(bool? OpposeBreakGlass, bool? OpposeCentre15, bool? OpposeEmergencyUnmasking, bool? OpposeDispensingToPrescriber = null, bool? OpposeResearch = null);

/// <summary>
/// The consent regime's write side: professionals declare accesses (alleged consent, group practice,
/// delegation, care team, hospital admissions, emergencies); patients revoke, extend and make grants
/// permanent, block professionals, set their emergency oppositions, mask documents; authors release
/// documents to the patient. Every operation asks the access policy and is audited.
/// </summary>
public sealed class ConsentService(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, RecordGuard guard, PolicySettings settings, Alerts.AlertSignal alertSignal, Directory.DirectoryQueries directory)
{
    private const int MaxReasonLength = 500;

    /// <summary>The care settings an admission may declare (HL7 v3 ActEncounterCode).</summary>
    public static readonly IReadOnlyList<string> AdmissionSettings = ["EMER", "IMP", "ACUTE", "NONAC", "SS", "AMB", "HH", "VR"];

    /// <summary>
    /// $declare-access: alleged | group | delegation | care-team, with the patient's consent confirmed.
    /// Renewed is true when the declaration extended the same grant already in force.
    /// </summary>
    public async Task<(Grant Grant, bool Renewed)> DeclareAccessAsync(string patientId, AccessDeclaration d, Actor actor, string channel, CancellationToken ct)
    {
        var mode = GrantModes.Parse(d.Mode);
        if (mode is not (GrantMode.Alleged or GrantMode.Group or GrantMode.Delegation or GrantMode.CareTeam))
        {
            throw DmpException.Invalid($"mode must be alleged, group, delegation or care-team, got '{d.Mode}' (emergencies use $emergency-access)", "Parameters.parameter:mode");
        }

        if (d.Confirm != true)
        {
            throw DmpException.Invalid("the patient's consent must be confirmed: ask the patient, then send confirm=true", "Parameters.parameter:confirm");
        }

        var facts = await RequireRecordAsync(patientId, actor, AuditAction.Grant, channel, ct);
        var group = mode == GrantMode.Group ? await RequireGroupAsync(d.Group, ct) : null;
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.DeclareAccess, facts, Declaration: new DeclarationFacts(mode.Value, group?.Id)), AuditAction.Grant, "Consent", null, channel, auditPermit: false, ct);
        var now = time.GetUtcNow();
        var grant = new Grant
        {
            RecordId = facts.RecordId,
            Id = Ids.New(),
            Mode = GrantModes.Code(mode.Value),
            HolderId = actor.Id,
            Start = now,
            DeclaredBy = actor.Id,
            CreatedAt = now,
        };
        DateTimeOffset max;
        switch (mode.Value)
        {
            case GrantMode.Alleged:
                max = now + settings.AllegedDuration;
                break;
            case GrantMode.Group:
                // Membership was decided by the policy (DeclarationFacts); the patient saw the members
                // and excluded some in the same step.
                grant.GroupId = group!.Id;
                grant.Excluded = await GroupExclusionsAsync(group.Id, d, actor, ct);
                max = now + settings.AllegedDuration;
                break;

            case GrantMode.Delegation:
                {
                    if (string.IsNullOrEmpty(d.DelegatingGrant))
                    {
                        throw DmpException.Invalid("mode delegation needs the prescriber's grant (parameter delegating-grant, a Consent id)", "Parameters.parameter:delegating-grant");
                    }

                    var delegating = d.DelegatingGrant.StartsWith("Consent/", StringComparison.Ordinal) ? d.DelegatingGrant[8..] : d.DelegatingGrant;
                    DateTimeOffset? delegatingEnd;
                    if (GrantModes.TreatingDelegator(delegating) is { } treating)
                    {
                        if (facts.TreatingPhysicianId != treating)
                        {
                            throw DmpException.Invalid("the delegating grant is not in force on this record", "Parameters.parameter:delegating-grant");
                        }

                        delegatingEnd = null;
                    }
                    else
                    {
                        var g = facts.Grants.FirstOrDefault(x => x.Id == delegating);
                        if (g is null || g.Mode is not (GrantMode.Alleged or GrantMode.Group or GrantMode.CareTeam) || !g.ActiveAt(now))
                        {
                            throw DmpException.Invalid("the delegating grant is not in force on this record", "Parameters.parameter:delegating-grant");
                        }

                        delegatingEnd = g.End;
                    }

                    if (delegating == GrantModes.TreatingGrantId(actor.Id) || facts.Grants.Any(x => x.Id == delegating && x.HolderId == actor.Id))
                    {
                        throw DmpException.Invalid("a delegation comes from another professional's grant", "Parameters.parameter:delegating-grant");
                    }

                    grant.DelegatingGrantId = delegating;
                    max = now + settings.DelegationDuration;
                    if (delegatingEnd is { } de && de < max)
                    {
                        max = de;
                    }

                    break;
                }

            default:
                {
                    // The policy checked that the professional's establishment holds an admission in force.
                    var organizationId = permit.Request.ActorFacts?.OrganizationId;
                    var admission = facts.Grants.First(x => x.Mode == GrantMode.Admission && x.HolderId == organizationId && x.ActiveAt(now));
                    grant.AdmissionId = admission.Id;
                    max = admission.End ?? now + settings.AdmissionDuration;
                    break;
                }
        }

        if (d.End is { } end)
        {
            if (end <= now)
            {
                throw DmpException.Invalid("end must be in the future", "Parameters.parameter:end");
            }

            if (end > max)
            {
                throw DmpException.Invalid($"end may not be later than {max:yyyy-MM-dd'T'HH:mm:ssK} for mode {d.Mode} (the patient may extend it)", "Parameters.parameter:end");
            }

            max = end;
        }

        // A repeated declaration extends the grant in force (restrictions the patient set on it
        // included) rather than adding a twin the patient would then see twice.
        var same = facts.Grants.FirstOrDefault(x => x.HolderId == actor.Id && x.Mode == mode.Value && x.ActiveAt(now)
            && x.GroupId == grant.GroupId && x.DelegatingGrantId == grant.DelegatingGrantId && x.AdmissionId == grant.AdmissionId);
        if (same is not null)
        {
            Grant? renewed = null;
            await WriteAsync(facts.RecordId, actor, AuditAction.Grant, "Consent", same.Id, grant.Mode, null, channel, ct, async () =>
            {
                renewed = await db.Grants.SingleAsync(x => x.RecordId == facts.RecordId && x.Id == same.Id, ct);
                if (grant.Excluded is { } excluded)
                {
                    // Exclusions add up: a renewal never lets back in a member the patient excluded.
                    renewed.Excluded = string.Join(' ', (Grant.SplitSet(renewed.Excluded) ?? []).Union(Grant.SplitSet(excluded) ?? []).Order(StringComparer.Ordinal));
                }

                if (renewed.End is { } current && current < max)
                {
                    renewed.End = max;
                }
            }, () => renewed!.End is { } e ? $"renewed until {e:O}" : "renewed (permanent)");
            return (renewed!, true);
        }

        grant.End = max;
        await WriteAsync(facts.RecordId, actor, AuditAction.Grant, "Consent", grant.Id, grant.Mode, $"until {max:O}", channel, ct, () => db.Grants.Add(grant));
        return (grant, false);
    }

    /// <summary>
    /// The exclusions of a group declaration, once the member list the patient was shown is the
    /// current one (its version): each excluded one must be a member, and not the declarer.
    /// </summary>
    private async Task<string?> GroupExclusionsAsync(string groupId, AccessDeclaration d, Actor actor, CancellationToken ct)
    {
        var members = await directory.GroupAsync(groupId, ct);
        if (string.IsNullOrWhiteSpace(d.MembersVersion))
        {
            throw DmpException.Invalid($"a group declaration needs the members shown to the patient: show the patient the current members (GET /fhir/Group/{groupId}), set their exclusions (exclude), and send the list's version (meta.versionId, now {members.Version}) as members-version", "Parameters.parameter:members-version");
        }

        if (d.MembersVersion.Trim() != members.Version)
        {
            throw new DmpException(ErrorKind.Conflict, $"the members of {members.Name} changed since the list was shown to the patient: show the patient the current members (GET /fhir/Group/{groupId}, version {members.Version})");
        }

        var excluded = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var value in d.Exclude ?? [])
        {
            var p = await ResolveProfessionalAsync(value, ct);
            if (!members.Members.Any(m => m.Id == p.Id))
            {
                throw DmpException.Invalid($"{value} is not a member of {members.Name}", "Parameters.parameter:exclude");
            }

            if (p.Id == actor.Id)
            {
                throw DmpException.Invalid("the declaring professional cannot be excluded from their own declaration", "Parameters.parameter:exclude");
            }

            excluded.Add(p.Id);
        }

        return excluded.Count == 0 ? null : string.Join(' ', excluded);
    }

    /// <summary>
    /// $declare-admission: a professional of an establishment — or the establishment's system, with its
    /// organisation certificate — declares the patient's admission, optionally attesting care-team
    /// members. The care setting (HL7 v3 ActEncounterCode: EMER for an emergency department, IMP, ACUTE,
    /// NONAC, SS, AMB, HH, VR) is optional; an emergency admission alerts the patient's treating physician.
    /// With <paramref name="admissionId"/>, the members are attested to that admission of the same
    /// establishment, in force, instead of a new admission.
    /// </summary>
    public async Task<Grant> DeclareAdmissionAsync(string patientId, DateTimeOffset? end, IReadOnlyList<string> members, Actor actor, string channel, CancellationToken ct, string? setting = null, string? admissionId = null)
    {
        if (setting is not null && !AdmissionSettings.Contains(setting))
        {
            throw DmpException.Invalid($"setting must be one of {string.Join(", ", AdmissionSettings)} (HL7 v3 ActEncounterCode; EMER = emergency), got '{setting}'", "Parameters.parameter:setting");
        }

        var facts = await RequireRecordAsync(patientId, actor, AuditAction.Grant, channel, ct);
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.DeclareAdmission, facts), AuditAction.Grant, "Consent", null, channel, auditPermit: false, ct);
        var organization = permit.Request.ActorFacts?.OrganizationId ?? throw new InvalidOperationException("the policy permitted an admission without an establishment");
        // A professional who declares is a member of the care team; an establishment's system attests the members it names.
        var self = actor.Kind == ActorKind.Professional ? (await db.Professionals.AsNoTracking().FirstAsync(x => x.Id == actor.Id, ct)).Rpps : null;
        var team = members.Append(self ?? string.Empty).Where(x => x.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (admissionId is not null)
        {
            return await AttestCareTeamAsync(facts, admissionId, organization, team, actor, channel, ct);
        }

        var now = time.GetUtcNow();
        var stop = end ?? now + settings.AdmissionDuration;
        if (stop <= now)
        {
            throw DmpException.Invalid("end must be in the future", "Parameters.parameter:end");
        }

        var admission = new Grant
        {
            RecordId = facts.RecordId,
            Id = Ids.New(),
            Mode = GrantModes.Code(GrantMode.Admission),
            HolderId = organization,
            Start = now,
            End = stop,
            DeclaredBy = actor.Id,
            CreatedAt = now,
        };
        var grants = new List<Grant> { admission };
        grants.AddRange(await CareTeamGrantsAsync(admission, organization, team, actor, now, ct));
        var emergency = setting == "EMER";
        await WriteAsync(facts.RecordId, actor, AuditAction.Grant, "Consent", admission.Id, "admission", $"{grants.Count - 1} care-team member(s) until {stop:O}{(setting is null ? string.Empty : ", setting " + setting)}", channel, ct, () =>
        {
            db.Grants.AddRange(grants);
            if (emergency)
            {
                db.RecordEvents.Add(new Alerts.RecordEvent { RecordId = facts.RecordId, Id = Ids.New(), Kind = Alerts.AlertService.EmergencyAdmission, SubjectId = admission.Id, OrganizationId = organization, CreatedAt = now });
            }
        });
        if (emergency)
        {
            alertSignal.Wake();
        }

        return admission;
    }

    private static readonly string AdmissionMode = GrantModes.Code(GrantMode.Admission);

    /// <summary>Attests care-team members to an admission in force of the same establishment (members already in the team are kept as they are).</summary>
    private async Task<Grant> AttestCareTeamAsync(RecordFacts facts, string admissionId, string organization, List<string> team, Actor actor, string channel, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var admission = await db.Grants.AsNoTracking().FirstOrDefaultAsync(g => g.RecordId == facts.RecordId && g.Id == admissionId && g.Mode == AdmissionMode, ct);
        if (admission is null || admission.HolderId != organization)
        {
            throw DmpException.NotFound($"no admission {admissionId} of your establishment for this patient");
        }

        if (admission.RevokedAt is not null || (admission.End is { } e && e <= now))
        {
            throw new DmpException(ErrorKind.Conflict, $"the admission {admissionId} has ended: declare a new admission");
        }

        if (team.Count == 0)
        {
            throw DmpException.Invalid("name the care-team members to attest (member = RPPS)", "Parameters.parameter:member");
        }

        var existing = (await db.Grants.AsNoTracking().Where(g => g.RecordId == facts.RecordId && g.AdmissionId == admissionId && g.RevokedAt == null).Select(g => g.HolderId).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        var added = (await CareTeamGrantsAsync(admission, organization, team, actor, now, ct)).Where(g => !existing.Contains(g.HolderId)).ToList();
        await WriteAsync(facts.RecordId, actor, AuditAction.Grant, "Consent", admission.Id, "care-team", $"{added.Count} care-team member(s) attested", channel, ct, () => db.Grants.AddRange(added));
        return admission;
    }

    /// <summary>One care-team grant per member, each a professional of the establishment, ending with the admission.</summary>
    private async Task<List<Grant>> CareTeamGrantsAsync(Grant admission, string organization, List<string> team, Actor actor, DateTimeOffset now, CancellationToken ct)
    {
        var grants = new List<Grant>();
        foreach (var m in team)
        {
            var member = await ResolveProfessionalAsync(m, ct);
            if (member.OrganizationId != organization)
            {
                throw DmpException.Invalid($"{m} does not belong to your establishment", "Parameters.parameter:member");
            }

            grants.Add(new Grant
            {
                RecordId = admission.RecordId,
                Id = Ids.New(),
                Mode = GrantModes.Code(GrantMode.CareTeam),
                HolderId = member.Id,
                Start = now,
                End = admission.End,
                AdmissionId = admission.Id,
                DeclaredBy = actor.Id,
                CreatedAt = now,
            });
        }

        return grants;
    }

    /// <summary>$emergency-access: break-glass or centre 15, with a reason; read-only and time-boxed; always notified.</summary>
    public async Task<Grant> EmergencyAccessAsync(string patientId, string? modeCode, string? reason, Actor actor, string channel, CancellationToken ct)
    {
        var mode = GrantModes.Parse(modeCode);
        if (mode is not (GrantMode.BreakGlass or GrantMode.Centre15))
        {
            throw DmpException.Invalid($"mode must be break-glass or centre-15, got '{modeCode}'", "Parameters.parameter:mode");
        }

        if (string.IsNullOrWhiteSpace(reason))
        {
            throw DmpException.Invalid("an emergency access needs a reason (parameter reason)", "Parameters.parameter:reason");
        }

        if (reason.Length > MaxReasonLength)
        {
            throw DmpException.Invalid($"the reason is limited to {MaxReasonLength} characters", "Parameters.parameter:reason");
        }

        var facts = await RequireRecordAsync(patientId, actor, AuditAction.Emergency, channel, ct);
        var permit = await guard.RequireAsync(new AccessRequest(actor, AccessAction.DeclareEmergency, facts, Emergency: mode), AuditAction.Emergency, "Consent", null, channel, auditPermit: false, ct);
        var now = time.GetUtcNow();
        var grant = new Grant
        {
            RecordId = facts.RecordId,
            Id = Ids.New(),
            Mode = GrantModes.Code(mode.Value),
            HolderId = actor.Id,
            Start = now,
            End = now + settings.EmergencyDuration,
            Reason = reason.Trim(),
            DeclaredBy = actor.Id,
            CreatedAt = now,
        };
        await WriteAsync(facts.RecordId, actor, AuditAction.Emergency, "Consent", grant.Id, permit.Mode, $"until {grant.End:O}", channel, ct, () =>
        {
            db.Grants.Add(grant);
            db.Notifications.Add(RecordGuard.EmergencyNotification(facts.RecordId, grant.Id, actor, permit.Mode, now));
        });
        return grant;
    }

    /// <summary>The professional's authorisation status on a record, readable before reading documents.</summary>
    public async Task<(AccessStatus Status, AccessPolicy.Standing? Standing)> StatusAsync(string patientId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await RequireRecordAsync(patientId, actor, AuditAction.AccessStatus, channel, ct);
        var actorFacts = await guard.ActorFactsAsync(actor, facts, ct);
        // A staff member reads the standing of the professional they act for.
        var (status, standing) = AccessPolicy.StatusOf(actor.ResponsibleProfessional?.Id ?? actor.Id, facts, actorFacts, time.GetUtcNow());
        await guard.AuditAsync(new AuditItem(facts.RecordId, actor, AuditAction.AccessStatus, "success", channel, "Patient", facts.RecordId, standing is null ? null : GrantModes.Code(standing.Mode), status.ToString().ToLowerInvariant()), ct);
        return (status, standing);
    }

    /// <summary>The grants of a record (the patient, or a professional for their own), with the treating physician first.</summary>
    public async Task<IReadOnlyList<Grant>> ListAsync(string patientId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await RequireRecordAsync(patientId, actor, AuditAction.Search, channel, ct);
        var all = actor.Kind == ActorKind.Professional;
        await guard.RequireAsync(new AccessRequest(actor, all ? AccessAction.SearchRecord : AccessAction.ManageConsent, facts), AuditAction.Search, "Consent", null, channel, auditPermit: true, ct);
        var grants = await db.Grants.AsNoTracking().Where(x => x.RecordId == facts.RecordId).OrderByDescending(x => x.CreatedAt).ToListAsync(ct);
        if (actor.Kind == ActorKind.Professional)
        {
            grants = grants.Where(g => g.HolderId == actor.Id).ToList();
        }

        if (facts.TreatingPhysicianId is { } tp && (actor.Kind != ActorKind.Professional || tp == actor.Id))
        {
            grants.Insert(0, TreatingGrant(facts.RecordId, tp));
        }

        return grants;
    }

    /// <summary>What the patient's authorisations page shows: the grants, the blocked professionals and the emergency settings (one audited read).</summary>
    public async Task<ConsentOverview> OverviewAsync(string patientId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await RequireRecordAsync(patientId, actor, AuditAction.Search, channel, ct);
        var grants = await ListAsync(patientId, actor, channel, ct);
        return new ConsentOverview(grants, actor.ActsForPatient ? facts.Blocked : new HashSet<string>(), actor.ActsForPatient ? facts.Settings : RecordSettings.Default);
    }

    /// <summary>The treating physician's standing shown as a grant (it lives on the record).</summary>
    public static Grant TreatingGrant(string recordId, string professionalId) => new()
    {
        RecordId = recordId,
        Id = GrantModes.TreatingGrantId(professionalId),
        Mode = GrantModes.Code(GrantMode.TreatingPhysician),
        HolderId = professionalId,
        DeclaredBy = "patient",
    };

    /// <summary>The patient revokes a grant (or the treating physician designation).</summary>
    public async Task RevokeAsync(string grantId, Actor actor, string channel, CancellationToken ct)
    {
        if (GrantModes.TreatingDelegator(grantId) is { } tp)
        {
            var facts = await RequirePatientConsentAsync(actor, AuditAction.Revoke, grantId, channel, ct);
            if (facts.TreatingPhysicianId != tp)
            {
                throw DmpException.NotFound($"Consent/{grantId} does not exist");
            }

            await WriteAsync(facts.RecordId, actor, AuditAction.Revoke, "Consent", grantId, "treating-physician", null, channel, ct, async () =>
            {
                var r = await db.Records.FirstAsync(x => x.RecordId == facts.RecordId, ct);
                r.TreatingPhysicianId = null;
                r.UpdatedAt = time.GetUtcNow();
            });
            return;
        }

        await ChangeGrantAsync(grantId, actor, AuditAction.Revoke, channel, ct, g =>
        {
            if (g.RevokedAt is not null)
            {
                throw new DmpException(ErrorKind.Conflict, "this grant is already revoked");
            }

            g.RevokedAt = time.GetUtcNow();
            g.RevokedBy = actor.Id;
            return null;
        });
    }

    /// <summary>The patient extends a grant to a new end, or makes it permanent (end null).</summary>
    public Task ExtendAsync(string grantId, DateTimeOffset? end, bool permanent, Actor actor, string channel, CancellationToken ct) =>
        ChangeGrantAsync(grantId, actor, AuditAction.Extend, channel, ct, g =>
        {
            if (g.RevokedAt is not null)
            {
                throw new DmpException(ErrorKind.Conflict, "a revoked grant cannot be extended: the professional declares access again");
            }

            var mode = GrantModes.Parse(g.Mode);
            if (mode is not (GrantMode.Alleged or GrantMode.Group or GrantMode.Delegation))
            {
                throw DmpException.Invalid($"a grant of mode {g.Mode} cannot be extended");
            }

            if (permanent)
            {
                g.End = null;
                return "permanent";
            }

            if (end is not { } e || e <= time.GetUtcNow() || (g.End is { } current && e <= current))
            {
                throw DmpException.Invalid("end must be in the future and later than the current end (or set permanent=true)", "Parameters.parameter:end");
            }

            g.End = e;
            return $"until {e:O}";
        });

    /// <summary>The patient excludes a member from a group grant.</summary>
    public async Task ExcludeFromGroupAsync(string grantId, string professional, Actor actor, string channel, CancellationToken ct)
    {
        var p = await ResolveProfessionalAsync(professional, ct);
        await ChangeGrantAsync(grantId, actor, AuditAction.Exclude, channel, ct, g =>
        {
            if (g.Mode != GrantModes.Code(GrantMode.Group))
            {
                throw DmpException.Invalid("only a group grant has members to exclude");
            }

            var set = Grant.SplitSet(g.Excluded) ?? [];
            set.Add(p.Id);
            g.Excluded = string.Join(' ', set.Order(StringComparer.Ordinal));
            return p.Id;
        });
    }

    /// <summary>The patient restricts an admission's care team to named doctors (empty list = nobody).</summary>
    public async Task RestrictAdmissionAsync(string admissionId, IReadOnlyList<string> professionals, Actor actor, string channel, CancellationToken ct)
    {
        var ids = new List<string>();
        foreach (var p in professionals)
        {
            ids.Add((await ResolveProfessionalAsync(p, ct)).Id);
        }

        await ChangeGrantAsync(admissionId, actor, AuditAction.Restrict, channel, ct, g =>
        {
            if (g.Mode != GrantModes.Code(GrantMode.Admission))
            {
                throw DmpException.Invalid("only an admission can be restricted to named doctors");
            }

            g.RestrictedTo = string.Join(' ', ids.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
            return $"{ids.Count} named";
        });
    }

    /// <summary>The patient blocks (opposes) a professional: beats every mode, emergencies included.</summary>
    public async Task BlockAsync(string patientId, string professional, bool block, Actor actor, string channel, CancellationToken ct)
    {
        var p = await ResolveProfessionalAsync(professional, ct);
        var facts = await RequirePatientConsentAsync(actor, block ? AuditAction.Block : AuditAction.Unblock, patientId, channel, ct, patientId);
        await WriteAsync(facts.RecordId, actor, block ? AuditAction.Block : AuditAction.Unblock, "Practitioner", p.Id, null, null, channel, ct, async () =>
        {
            var existing = await db.BlockedProfessionals.FirstOrDefaultAsync(x => x.RecordId == facts.RecordId && x.ProfessionalId == p.Id, ct);
            if (block && existing is null)
            {
                db.BlockedProfessionals.Add(new BlockedProfessional { RecordId = facts.RecordId, ProfessionalId = p.Id, CreatedAt = time.GetUtcNow() });
            }
            else if (!block && existing is not null)
            {
                db.BlockedProfessionals.Remove(existing);
            }
        });
    }

    /// <summary>The patient's oppositions to the two emergency modes and to emergency unmasking.</summary>
    public async Task<Record> SetPreferencesAsync(string patientId, EmergencyPreferences prefs, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await RequirePatientConsentAsync(actor, AuditAction.Preferences, patientId, channel, ct, patientId);
        Record? record = null;
        await WriteAsync(facts.RecordId, actor, AuditAction.Preferences, "Patient", facts.RecordId, null, $"break-glass={prefs.OpposeBreakGlass} centre-15={prefs.OpposeCentre15} unmasking={prefs.OpposeEmergencyUnmasking} dispensing-to-prescriber={prefs.OpposeDispensingToPrescriber} research={prefs.OpposeResearch}", channel, ct, async () =>
        {
            record = await db.Records.FirstAsync(x => x.RecordId == facts.RecordId, ct);
            record.OpposeBreakGlass = prefs.OpposeBreakGlass ?? record.OpposeBreakGlass;
            record.OpposeCentre15 = prefs.OpposeCentre15 ?? record.OpposeCentre15;
            record.OpposeEmergencyUnmasking = prefs.OpposeEmergencyUnmasking ?? record.OpposeEmergencyUnmasking;
            record.OpposeDispensingToPrescriber = prefs.OpposeDispensingToPrescriber ?? record.OpposeDispensingToPrescriber;
            record.OpposeResearch = prefs.OpposeResearch ?? record.OpposeResearch;
            record.UpdatedAt = time.GetUtcNow();
        });
        return record!;
    }

    /// <summary>The patient designates their treating physician (a physician of the directory).</summary>
    public async Task DesignateTreatingPhysicianAsync(string patientId, string professional, Actor actor, string channel, CancellationToken ct)
    {
        var p = await ResolveProfessionalAsync(professional, ct);
        if (p.ProfessionCode != "10")
        {
            throw DmpException.Invalid("the treating physician must be a physician (profession 10)");
        }

        var facts = await RequirePatientConsentAsync(actor, AuditAction.Grant, patientId, channel, ct, patientId);
        await WriteAsync(facts.RecordId, actor, AuditAction.Grant, "Consent", GrantModes.TreatingGrantId(p.Id), "treating-physician", null, channel, ct, async () =>
        {
            var r = await db.Records.FirstAsync(x => x.RecordId == facts.RecordId, ct);
            r.TreatingPhysicianId = p.Id;
            r.UpdatedAt = time.GetUtcNow();
        });
    }

    /// <summary>The patient masks or unmasks one of their documents.</summary>
    public Task MaskAsync(string documentId, bool mask, Actor actor, string channel, CancellationToken ct) =>
        ChangeDocumentAsync(documentId, actor, AccessAction.MaskDocument, mask ? AuditAction.Mask : AuditAction.Unmask, channel, ct, d =>
        {
            d.Masked = mask;
            DocumentResources.SetVisibility(d, "MASQUE_PS", mask, time.GetUtcNow());
        });

    /// <summary>The author (or treating physician) releases a document invisible to the patient, after the announcement consultation.</summary>
    public Task ReleaseAsync(string documentId, Actor actor, string channel, CancellationToken ct) =>
        ChangeDocumentAsync(documentId, actor, AccessAction.ReleaseDocument, AuditAction.Release, channel, ct, d =>
        {
            if (!d.HiddenFromPatient)
            {
                throw new DmpException(ErrorKind.Conflict, "the document is already visible to the patient");
            }

            d.HiddenFromPatient = false;
            DocumentResources.SetVisibility(d, "INVISIBLE_PATIENT", false, time.GetUtcNow());
        });

    /// <summary>The author (or treating physician) validates a draft.</summary>
    public Task FinalizeAsync(string documentId, Actor actor, string channel, CancellationToken ct) =>
        ChangeDocumentAsync(documentId, actor, AccessAction.ReleaseDocument, AuditAction.Validate, channel, ct, d =>
        {
            if (!d.Draft)
            {
                throw new DmpException(ErrorKind.Conflict, "the document is not a draft");
            }

            DocumentResources.SetFinal(d, time.GetUtcNow());
        });

    /// <summary>The patient's notifications (most recent first).</summary>
    public async Task<IReadOnlyList<PatientNotification>> NotificationsAsync(string patientId, Actor actor, string channel, CancellationToken ct)
    {
        var facts = await RequirePatientConsentAsync(actor, AuditAction.Search, patientId, channel, ct, patientId, "Communication", auditPermit: true);
        return await db.Notifications.AsNoTracking().Where(x => x.RecordId == facts.RecordId).OrderByDescending(x => x.CreatedAt).ToListAsync(ct);
    }

    private async Task ChangeDocumentAsync(string documentId, Actor actor, AccessAction action, AuditAction verb, string channel, CancellationToken ct, Action<DocumentEntry> change)
    {
        var doc = await db.Documents.AsNoTracking().FirstOrDefaultAsync(x => x.Id == documentId && !x.Erased, ct);
        var facts = doc is null ? null : await guard.FactsAsync(doc.RecordId, ct);
        if (doc is null || facts is null)
        {
            await guard.AuditAsync(new AuditItem(null, actor, verb, "not-found", channel, "DocumentReference", documentId), ct);
            throw DmpException.NotFound($"DocumentReference/{documentId} does not exist");
        }

        var permit = await guard.RequireAsync(new AccessRequest(actor, action, facts, DocumentResources.Facts(doc)), verb, "DocumentReference", documentId, channel, auditPermit: false, ct);
        await WriteAsync(doc.RecordId, actor, verb, "DocumentReference", documentId, permit.Mode, null, channel, ct, async () =>
        {
            var tracked = await db.Documents.FirstAsync(x => x.RecordId == doc.RecordId && x.Id == documentId, ct);
            change(tracked);
        });
    }

    private async Task ChangeGrantAsync(string grantId, Actor actor, AuditAction verb, string channel, CancellationToken ct, Func<Grant, string?> change)
    {
        var id = grantId.StartsWith("Consent/", StringComparison.Ordinal) ? grantId[8..] : grantId;
        var recordId = await db.Grants.AsNoTracking().Where(x => x.Id == id).Select(x => x.RecordId).FirstOrDefaultAsync(ct);
        if (recordId is null)
        {
            await guard.AuditAsync(new AuditItem(null, actor, verb, "not-found", channel, "Consent", id), ct);
            throw DmpException.NotFound($"Consent/{id} does not exist");
        }

        var facts = await RequirePatientConsentAsync(actor, verb, id, channel, ct, recordId, "Consent");
        string? detail = null;
        await WriteAsync(facts.RecordId, actor, verb, "Consent", id, null, null, channel, ct, async () =>
        {
            var g = await db.Grants.FirstAsync(x => x.RecordId == recordId && x.Id == id, ct);
            detail = change(g);
        }, () => detail);
    }

    private async Task<RecordFacts> RequirePatientConsentAsync(Actor actor, AuditAction verb, string objectId, string channel, CancellationToken ct, string? recordId = null, string objectType = "Consent", bool auditPermit = false)
    {
        recordId ??= actor.OwnRecordId ?? actor.Id;
        var facts = await RequireRecordAsync(recordId, actor, verb, channel, ct);
        await guard.RequireAsync(new AccessRequest(actor, AccessAction.ManageConsent, facts), verb, objectType, objectId, channel, auditPermit, ct, "only the patient may change who accesses their record");
        return facts;
    }

    /// <summary>The record's facts; an unknown record is traced (platform chain) and answered 404.</summary>
    private async Task<RecordFacts> RequireRecordAsync(string patientId, Actor actor, AuditAction verb, string channel, CancellationToken ct)
    {
        var id = patientId.StartsWith("Patient/", StringComparison.Ordinal) ? patientId[8..] : patientId;
        if (await guard.FactsAsync(id, ct) is { } facts)
        {
            return facts;
        }

        await guard.AuditNoRecordAsync(actor, verb, "Patient", id, channel, ct);
        throw DmpException.NotFound($"Patient/{id} has no record");
    }

    /// <summary>The group named by a group declaration (input: 422 when absent or unknown).</summary>
    private async Task<CareGroup> RequireGroupAsync(string? groupId, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(groupId))
        {
            throw DmpException.Invalid("mode group needs the group's id (parameter group)", "Parameters.parameter:group");
        }

        return await db.CareGroups.AsNoTracking().FirstOrDefaultAsync(x => x.Id == groupId, ct)
            ?? throw DmpException.Invalid($"no declared group '{groupId}'", "Parameters.parameter:group");
    }

    /// <summary>A professional by RPPS, "8"+RPPS, or directory id.</summary>
    public async Task<Professional> ResolveProfessionalAsync(string value, CancellationToken ct)
    {
        var v = value.Trim();
        if (v.Contains('|', StringComparison.Ordinal))
        {
            v = v[(v.IndexOf('|', StringComparison.Ordinal) + 1)..];
        }

        if (v.StartsWith("Practitioner/", StringComparison.Ordinal))
        {
            v = v[13..];
        }

        var rpps = v.Length == 12 && v[0] == '8' ? v[1..] : v;
        return await db.Professionals.AsNoTracking().FirstOrDefaultAsync(x => x.Rpps == rpps || x.Id == v, ct)
            ?? throw DmpException.Invalid(Rpps.Validate(rpps) is { } err ? $"professional '{value}': {err}" : $"no professional '{value}' in the directory");
    }

    private Task WriteAsync(string recordId, Actor actor, AuditAction verb, string objectType, string objectId, string? mode, string? detail, string channel, CancellationToken ct, Action change) =>
        WriteAsync(recordId, actor, verb, objectType, objectId, mode, detail, channel, ct, () =>
        {
            change();
            return Task.CompletedTask;
        });

    /// <summary>One unit of work under the record's write gate: the change and its audit entry, together or not at all.</summary>
    private async Task WriteAsync(string recordId, Actor actor, AuditAction verb, string objectType, string objectId, string? mode, string? detail, string channel, CancellationToken ct, Func<Task> change, Func<string?>? lateDetail = null)
    {
        db.ChangeTracker.Clear();
        await using var scope = await gate.EnterAsync(db, recordId, ct);
        if (scope.LockedRecordStatus is RecordStatus.Closed && actor.Kind == ActorKind.Professional)
        {
            throw new DmpException(ErrorKind.Conflict, "the record was closed meanwhile");
        }

        await change();
        await audit.AppendAsync(db, new AuditItem(recordId, actor, verb, "success", channel, objectType, objectId, mode, lateDetail?.Invoke() ?? detail), ct);
        await db.SaveChangesAsync(ct);
        await scope.CommitAsync(ct);
        db.ChangeTracker.Clear();
    }
}
