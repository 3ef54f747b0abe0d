using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Common;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Storage;

namespace OpenDmp.Core.Access;

/// <summary>A permit and the completed request it answered (to check each search hit with the same facts).</summary>
public sealed record GuardedAccess(AccessDecision Decision, AccessRequest Request)
{
    public string Mode => Decision.Mode;
    public DocumentScope Scope => Decision.Scope;

    /// <summary>Asks the policy again for one document (defence in depth on each search hit).</summary>
    public bool Admits(DocumentFacts document, AccessAction action = AccessAction.ReadDocument) =>
        AccessPolicy.Decide(Request with { Action = action, Document = document }).Permitted;
}

/// <summary>
/// The one way handlers ask the access policy about a record: gather the facts (record, grants,
/// oppositions, settings, the professional's groups and prior accesses, the time), decide, record
/// the decision in the record's audit chain, carry out the obligations (patient notification), and
/// refuse with a 403 that tells the professional what they can do without revealing anything of the
/// record's content. A document the actor may not see is answered as absent (404).
/// </summary>
public sealed class RecordGuard(DmpDbContext db, WriteGate gate, AuditTrail audit, TimeProvider time, PolicySettings settings, AuditOptions auditOptions, AuditGroupCommit groupCommit, SqliteStatements statements, DocumentFactsCache remembered)
{
    /// <summary>Professionals known to have accessed a record (saves a query on every request).</summary>
    private static readonly ConcurrentDictionary<(string Record, string Professional), bool> KnownAccessors = new();

    /// <summary>Obligations of this scope's permits, fulfilled once the request has succeeded (<see cref="FulfilPendingAsync"/>).</summary>
    private readonly List<(AccessRequest Request, AccessDecision Decision)> _pending = [];

    public PolicySettings Settings => settings;

    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>The record's facts, with its grants, blocked professionals and the patient's settings; null when there is no record.</summary>
    public async Task<RecordFacts?> FactsAsync(string recordId, CancellationToken ct) => (await FactsWithPatientAsync(recordId, ct))?.Facts;

    /// <summary>
    /// The record's facts and whether its patient carries a test identity (null: no patient row), in <b>one</b> query (one
    /// round trip: the record's row, its grants as rows, its blocked professionals aggregated). The
    /// same single query whether or not the record exists: answering "no such record" is not
    /// measurably faster than answering "not for you" (no timing-visible existence).
    /// </summary>
    public async Task<(RecordFacts Facts, bool? PatientIsTest, Identity.IdentityStatus? Identity)?> FactsWithPatientAsync(string recordId, CancellationToken ct)
    {
        var row = await FactsQuery.For(db)(db, recordId, ct);
        return row is null ? null : (ToFacts(row), row.IsTest, row.Identity);
    }

    /// <summary>
    /// The facts of several records in one query (a background job's lot: the alert dispatcher);
    /// records that do not exist are absent from the answer.
    /// </summary>
    public async Task<Dictionary<string, RecordFacts>> FactsManyAsync(IReadOnlyCollection<string> recordIds, CancellationToken ct)
    {
        var facts = new Dictionary<string, RecordFacts>(StringComparer.Ordinal);
        await foreach (var row in FactsManyQuery.For(db)(db, recordIds.ToList()).WithCancellation(ct))
        {
            facts[row.Record.RecordId] = ToFacts(row);
        }

        return facts;
    }

    private static RecordFacts ToFacts(FactsRow row) => new(
        row.Record.RecordId,
        row.Record.Status,
        row.Record.TreatingPhysicianId,
        new RecordSettings(row.Record.OpposeBreakGlass, row.Record.OpposeCentre15, row.Record.OpposeEmergencyUnmasking, row.Record.OpposeDispensingToPrescriber, row.Record.OpposeResearch),
        row.Grants.Select(g => g.ToFacts()).ToList(),
        (row.Blocked ?? string.Empty).Split(BlockedSeparator, StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
        row.Record.MergedInto);

    /// <summary>
    /// A document and its record's facts in <b>one</b> query (every read, retrieval or change of a
    /// document by id: one round trip instead of two); null for an unknown id. One query either
    /// way, so an absent document costs what a hidden one costs.
    /// </summary>
    public async Task<(Documents.DocumentEntry Document, RecordFacts Facts)?> DocumentWithFactsAsync(string documentId, CancellationToken ct)
    {
        // The same hand-written query on both providers, EF's pipeline left out (it cost more than
        // the query): on SQLite outside a transaction, on a kept connection that keeps it compiled;
        // on PostgreSQL, on the context's connection (within its transaction, if any), where the
        // driver's automatic preparation keeps it planned. SQLite within a transaction: EF's query,
        // on the context's own connection (which sees what the transaction wrote).
        var row = statements.Enabled && db.Database.CurrentTransaction is null
            ? DocumentFactsStatements.For(db).ReadOnSqlite(statements, documentId)
            : db.IsPostgres
                ? await DocumentFactsStatements.For(db).ReadOnPostgresAsync(db, documentId, ct)
                : await DocumentFactsQuery.For(db)(db, documentId, ct);
        if (row?.Document is not { } document)
        {
            return null;
        }

        var facts = ToFacts(row);
        if (row.FactsVersion is { } version && db.Database.CurrentTransaction is null && remembered.EnabledFor(db))
        {
            // Committed facts only (a transaction's own changes may yet be rolled back).
            remembered.Set(new DocumentFactsCache.Entry(document, facts, version));
        }

        return (document, facts);
    }

    /// <summary>
    /// A document and its record's facts kept in memory (PostgreSQL, ADR 0036), with the facts
    /// version they were read at; null when not kept. Only for a permit whose audit entry carries
    /// that version (<see cref="AuditItem.FactsVersion"/>): the audit writer refuses it if the
    /// record's facts changed since, and the caller then decides again from the database.
    /// </summary>
    public DocumentFactsCache.Entry? RememberedDocument(string documentId)
    {
        if (!remembered.EnabledFor(db) || remembered.Get(documentId) is not { } entry)
        {
            return null;
        }

        // As the database read would have: the request touched patient data.
        RequestAuditLog.Current?.Touched();
        return entry;
    }

    /// <summary>
    /// A permit decided on remembered facts that turned out stale: the document is forgotten and the
    /// permit's obligation withdrawn (the request is decided again from the database).
    /// </summary>
    public void Withdraw(string documentId, GuardedAccess access)
    {
        remembered.Forget(documentId);
        _pending.RemoveAll(p => ReferenceEquals(p.Request, access.Request));
    }

    /// <summary>EF's form of the read above (the reference the hand-written statements are tested against).</summary>
    internal async Task<(Documents.DocumentEntry Document, RecordFacts Facts)?> DocumentWithFactsThroughEfAsync(string documentId, CancellationToken ct)
    {
        var row = await DocumentFactsQuery.For(db)(db, documentId, ct);
        return row?.Document is { } document ? (document, ToFacts(row)) : null;
    }

    /// <summary>The lot form of <see cref="FactsQuery"/> (the patient's test flag is not needed there).</summary>
    private static readonly PerModel<Func<DmpDbContext, List<string>, IAsyncEnumerable<FactsRow>>> FactsManyQuery = new(() => EF.CompileAsyncQuery(
        (DmpDbContext db, List<string> recordIds) => db.Records.AsNoTracking().Where(x => recordIds.Contains(x.RecordId))
            .Select(x => new FactsRow
            {
                Record = x,
                Blocked = db.BlockedProfessionals.Where(b => b.RecordId == x.RecordId).GroupBy(b => b.RecordId).Select(g => string.Join(BlockedSeparator, g.Select(b => b.ProfessionalId))).FirstOrDefault(),
                Grants = db.Grants.Where(g => g.RecordId == x.RecordId).ToList(),
            })));

    private static readonly PerModel<Func<DmpDbContext, string, CancellationToken, Task<FactsRow?>>> FactsQuery = new(() => EF.CompileAsyncQuery(
        (DmpDbContext db, string recordId, CancellationToken ct) => db.Records.AsNoTracking().Where(x => x.RecordId == recordId)
            .Select(x => new FactsRow
            {
                Record = x,
                IsTest = db.Patients.Where(p => p.RecordId == x.RecordId).Select(p => (bool?)p.IsTestIdentity).FirstOrDefault(),
                Identity = db.Patients.Where(p => p.RecordId == x.RecordId).Select(p => (Identity.IdentityStatus?)p.IdentityStatus).FirstOrDefault(),
                // Aggregated rather than joined, so the grants are not multiplied by the blocked rows.
                Blocked = db.BlockedProfessionals.Where(b => b.RecordId == x.RecordId).GroupBy(b => b.RecordId).Select(g => string.Join(BlockedSeparator, g.Select(b => b.ProfessionalId))).FirstOrDefault(),
                Grants = db.Grants.Where(g => g.RecordId == x.RecordId).ToList(),
            })
            .FirstOrDefault()));

    /// <summary>The document form of <see cref="FactsQuery"/>: the document's row joined to its record's.</summary>
    private static readonly PerModel<Func<DmpDbContext, string, CancellationToken, Task<FactsRow?>>> DocumentFactsQuery = new(() => EF.CompileAsyncQuery(
        (DmpDbContext db, string documentId, CancellationToken ct) => db.Documents.AsNoTracking().Where(d => d.Id == documentId)
            .Join(db.Records.AsNoTracking(), d => d.RecordId, r => r.RecordId, (d, r) => new { Document = d, Record = r })
            .Select(x => new FactsRow
            {
                Document = x.Document,
                Record = x.Record,
                Blocked = db.BlockedProfessionals.Where(b => b.RecordId == x.Record.RecordId).GroupBy(b => b.RecordId).Select(g => string.Join(BlockedSeparator, g.Select(b => b.ProfessionalId))).FirstOrDefault(),
                Grants = db.Grants.Where(g => g.RecordId == x.Record.RecordId).ToList(),
            })
            .FirstOrDefault()));

    private static readonly PerModel<DocumentFactsStatement> DocumentFactsStatements = new(model => new DocumentFactsStatement(model));

    /// <summary>
    /// <see cref="DocumentFactsQuery"/> written by hand, for SQLite (<see cref="SqliteStatements"/>)
    /// and PostgreSQL: the same rows (the document joined to its record, one row per grant of the
    /// record, the blocked professionals aggregated), read back through the model's mapping.
    /// </summary>
    private sealed class DocumentFactsStatement
    {
        private readonly RowReader<Documents.DocumentEntry> _document;
        private readonly RowReader<Records.Record> _record;
        private readonly RowReader<Grant> _grant;
        private readonly string _sqlite;
        private readonly string _postgres;

        // Where each part of a row starts (the document's columns, the record's, the aggregated blocked professionals, a grant's).
        private readonly int _recordAt;
        private readonly int _blockedAt;
        private readonly int _versionAt;
        private readonly int _grantAt;
        private readonly int _documentRecordId;
        private readonly int _grantId;

        public DocumentFactsStatement(Microsoft.EntityFrameworkCore.Metadata.IModel model)
        {
            _document = new RowReader<Documents.DocumentEntry>(model);
            _record = new RowReader<Records.Record>(model);
            _grant = new RowReader<Grant>(model);
            var blocked = new RowReader<BlockedProfessional>(model);
            _recordAt = _document.Columns.Count;
            _blockedAt = _recordAt + _record.Columns.Count;
            _versionAt = _blockedAt + 1;
            _grantAt = _versionAt + 1;
            _documentRecordId = _document.Ordinal(nameof(Documents.DocumentEntry.RecordId));
            _grantId = _grantAt + _grant.Ordinal(nameof(Grant.Id));
            var recordKey = $"r.\"{_record.Column(nameof(Records.Record.RecordId))}\"";
            // The record's facts version (PostgreSQL only, kept by triggers: ADR 0036), read in the
            // same statement — the same snapshot — as the facts it numbers.
            string Sql(string aggregate, string parameter, string version) => $"""
                SELECT {_document.SelectList("d")}, {_record.SelectList("r")},
                  (SELECT {aggregate}(b."{blocked.Column(nameof(BlockedProfessional.ProfessionalId))}", {(aggregate == "string_agg" ? "chr(31)" : "char(31)")}) FROM "{blocked.Table}" AS b WHERE b."{blocked.Column(nameof(BlockedProfessional.RecordId))}" = {recordKey}),
                  {version},
                  {_grant.SelectList("g")}
                FROM "{_document.Table}" AS d
                INNER JOIN "{_record.Table}" AS r ON {recordKey} = d."{_document.Column(nameof(Documents.DocumentEntry.RecordId))}"
                LEFT JOIN "{_grant.Table}" AS g ON g."{_grant.Column(nameof(Grant.RecordId))}" = {recordKey}
                WHERE d."{_document.Column(nameof(Documents.DocumentEntry.Id))}" = {parameter}
                """;
            _sqlite = Sql("group_concat", "$p", "NULL");

            // No ORDER BY: on PostgreSQL a sort is one more plan node set up on every execution; the
            // rows are few and <see cref="Rows"/> does not depend on their order.
            _postgres = Sql("string_agg", "$1", "r.facts_version");
        }

        public FactsRow? ReadOnSqlite(SqliteStatements statements, string documentId)
        {
            PatientDataInterceptor.Observe(_sqlite);
            return statements.Read(_sqlite, documentId, reader =>
            {
                var rows = new Rows(this);
                while (reader.Read())
                {
                    rows.Add(reader);
                }

                return rows.Result;
            });
        }

        public async Task<FactsRow?> ReadOnPostgresAsync(DmpDbContext db, string documentId, CancellationToken ct)
        {
            PatientDataInterceptor.Observe(_postgres);
            await db.Database.OpenConnectionAsync(ct);
            try
            {
                await using var command = db.Database.GetDbConnection().CreateCommand();
                command.CommandText = _postgres;
                command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
                var parameter = command.CreateParameter();
                parameter.Value = documentId;
                command.Parameters.Add(parameter);
                await using var reader = await command.ExecuteReaderAsync(ct);
                var rows = new Rows(this);
                while (await reader.ReadAsync(ct))
                {
                    rows.Add(reader);
                }

                return rows.Result;
            }
            finally
            {
                await db.Database.CloseConnectionAsync();
            }
        }

        /// <summary>
        /// The rows of one read, in any order: the document of the lowest record id (ordinal) when
        /// the same id exists in several records (whatever order the plan gives), its record's grants by id.
        /// </summary>
        private sealed class Rows(DocumentFactsStatement s)
        {
            private FactsRow? _row;

            public void Add(System.Data.Common.DbDataReader reader)
            {
                var recordId = reader.GetString(s._documentRecordId);
                if (_row is null || string.CompareOrdinal(recordId, _row.Document!.RecordId) < 0)
                {
                    _row = new FactsRow
                    {
                        Document = s._document.Read(reader, 0),
                        Record = s._record.Read(reader, s._recordAt),
                        Blocked = reader.IsDBNull(s._blockedAt) ? null : reader.GetString(s._blockedAt),
                        FactsVersion = reader.IsDBNull(s._versionAt) ? null : reader.GetInt64(s._versionAt),
                        Grants = [],
                    };
                }
                else if (recordId != _row.Document.RecordId)
                {
                    // A row of another document with the same id, in another record: not this one's.
                    return;
                }

                if (!reader.IsDBNull(s._grantId))
                {
                    _row.Grants.Add(s._grant.Read(reader, s._grantAt));
                }
            }

            public FactsRow? Result
            {
                get
                {
                    _row?.Grants.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
                    return _row;
                }
            }
        }
    }

    /// <summary>A record's row and what its facts add to it (the patient's flags, grants, blocked professionals); with the document asked about, when asked by document.</summary>
    private sealed class FactsRow
    {
        public required Records.Record Record { get; init; }
        public Documents.DocumentEntry? Document { get; init; }
        public bool? IsTest { get; init; }
        public Identity.IdentityStatus? Identity { get; init; }
        public string? Blocked { get; init; }

        /// <summary>The record's facts version (PostgreSQL's hand-written read only).</summary>
        public long? FactsVersion { get; init; }
        public required List<Grant> Grants { get; init; }
    }

    /// <summary>Separates the aggregated blocked professional ids (a control character no id holds).</summary>
    private const string BlockedSeparator = "\u001f";

    /// <summary>Groups, prior accesses and establishment of a professional, as far as the record's grants and the request need them.</summary>
    public async Task<ActorFacts> ActorFactsAsync(Actor actor, RecordFacts? record, CancellationToken ct, AccessRequest? request = null)
    {
        if (actor.Kind == ActorKind.Organization)
        {
            // An establishment's system is the establishment.
            return new ActorFacts(new HashSet<string>(), false, actor.Id);
        }

        // A staff member's standing is the professional's they work for.
        if (actor.ResponsibleProfessional is not { } professional || record is null || string.IsNullOrEmpty(professional.Id))
        {
            return ActorFacts.Unknown;
        }

        actor = professional;
        IReadOnlySet<string> groups = new HashSet<string>();
        if (record.Grants.Any(g => g.Mode == GrantMode.Group) || request?.Declaration?.Mode == GrantMode.Group)
        {
            groups = (await db.CareGroupMembers.AsNoTracking().Where(x => x.ProfessionalId == actor.Id).Select(x => x.GroupId).ToListAsync(ct)).ToHashSet(StringComparer.Ordinal);
        }

        string? organization = null;
        if (request?.Action == AccessAction.DeclareAdmission || request?.Declaration?.Mode == GrantMode.CareTeam)
        {
            organization = await db.Professionals.AsNoTracking().Where(x => x.Id == actor.Id).Select(x => x.OrganizationId).FirstOrDefaultAsync(ct);
        }

        // "Accessed before" only matters for a permit's notification obligation, and the fulfilment
        // re-checks record_accessors under the record's gate: so no query here, which keeps a refusal
        // as cheap as the answer for an absent document (no timing-visible existence).
        return new ActorFacts(groups, KnownAccessors.ContainsKey((record.RecordId, actor.Id)), organization);
    }

    /// <summary>Fills in what the caller did not give: the actor's facts, the time, the settings.</summary>
    public async Task<AccessRequest> CompleteAsync(AccessRequest request, CancellationToken ct) => request with
    {
        ActorFacts = request.ActorFacts ?? await ActorFactsAsync(request.Actor, request.Record, ct, request),
        Now = request.Now == default ? time.GetUtcNow() : request.Now,
        Settings = request.Settings ?? settings,
    };

    /// <summary>
    /// Decides; a denial is always audited then refused; a permit is audited here when
    /// <paramref name="auditPermit"/> (otherwise the caller audits it with its outcome details). Its
    /// notification obligation waits until the request has succeeded: the host calls
    /// <see cref="FulfilPendingAsync"/> when the response starts with a success (a request refused
    /// later for bad input notifies no one); non-HTTP callers call it after their commit.
    /// </summary>
    public async Task<GuardedAccess> RequireAsync(AccessRequest request, AuditAction verb, string objectType, string? objectId, string channel, bool auditPermit, CancellationToken ct, string refusal = "you are not authorised to access this patient's record")
    {
        request = await CompleteAsync(request, ct);
        var decision = AccessPolicy.Decide(request);
        if (!decision.Permitted)
        {
            await AuditAsync(new AuditItem(request.Record?.RecordId, request.Actor, verb, "denied", channel, objectType, objectId, Detail: decision.Reason), ct);
            throw Refusal(request, decision, objectType, objectId, refusal);
        }

        if (auditPermit)
        {
            await AuditAsync(new AuditItem(request.Record?.RecordId, request.Actor, verb, "success", channel, objectType, objectId, decision.Mode), ct);
        }

        return Permit(request, decision);
    }

    /// <summary>
    /// Decides on facts kept in memory (ADR 0036): a permit, its obligation pending as with
    /// <see cref="RequireAsync"/>, or null — nothing audited — and the caller decides on the database's facts.
    /// </summary>
    public async Task<GuardedAccess?> PermitOrNullAsync(AccessRequest request, CancellationToken ct)
    {
        request = await CompleteAsync(request, ct);
        var decision = AccessPolicy.Decide(request);
        return decision.Permitted ? Permit(request, decision) : null;
    }

    /// <summary>A permit; its notification obligation waits until the request has succeeded (<see cref="FulfilPendingAsync"/>).</summary>
    private GuardedAccess Permit(AccessRequest request, AccessDecision decision)
    {
        if (decision.Obligations.HasFlag(Obligations.NotifyPatient))
        {
            _pending.Add((request, decision));
            RequestAuditLog.Current?.ObligationPending();
        }

        return new GuardedAccess(decision, request);
    }

    /// <summary>Carries out the obligations of this scope's permits (once the request has succeeded).</summary>
    public async Task FulfilPendingAsync(CancellationToken ct)
    {
        var pending = _pending.DistinctBy(p => (p.Request.Record?.RecordId, p.Request.Actor.Id, p.Decision.GrantId)).ToList();
        _pending.Clear();
        foreach (var (request, decision) in pending)
        {
            await FulfilAsync(request, decision, ct);
        }
    }

    /// <summary>
    /// The request's only effect is hidden from the patient (documents filed invisible to them): a
    /// first-access notification would reveal it, so none is sent now and the professional's next
    /// access the patient can see notifies instead. Emergency accesses are still notified.
    /// </summary>
    public void WithholdFirstAccessNotice() => _pending.RemoveAll(p => p.Decision.Mode is not ("break-glass" or "centre-15"));

    /// <summary>Forgets the pending obligations (the request failed).</summary>
    public void DiscardPending() => _pending.Clear();

    /// <summary>The notification obligation: first access by a professional, every emergency grant (once each).</summary>
    private async Task FulfilAsync(AccessRequest request, AccessDecision decision, CancellationToken ct)
    {
        if (!decision.Obligations.HasFlag(Obligations.NotifyPatient) || request.Record is null || request.Actor.ResponsibleProfessional is not { } actor)
        {
            return;
        }

        var recordId = request.Record.RecordId;
        // The patient learns who acted, and for whom when a staff member acted for a professional.
        var display = request.Actor.Kind == ActorKind.Staff ? $"{request.Actor.Display} (pour {actor.Display})" : actor.Display;
        var emergency = decision.Mode is "break-glass" or "centre-15";
        var firstTime = request.ActorFacts is { HasAccessedBefore: false };
        db.ChangeTracker.Clear();
        await using (var scope = await gate.EnterAsync(db, recordId, ct))
        {
            var now = time.GetUtcNow();
            var added = false;
            if (firstTime && !await db.RecordAccessors.AnyAsync(x => x.RecordId == recordId && x.ProfessionalId == actor.Id, ct))
            {
                db.RecordAccessors.Add(new RecordAccessor { RecordId = recordId, ProfessionalId = actor.Id, FirstAccessAt = now });
                added = true;
                if (!emergency)
                {
                    // An emergency is notified as such (below, or with the grant it creates), not twice.
                    await NotificationOutbox.AddOnceAsync(db, new PatientNotification
                    {
                        RecordId = recordId,
                        Id = Ids.New(),
                        Kind = "first-access",
                        DedupKey = "first:" + actor.Id,
                        Text = $"{display} a accédé pour la première fois à votre dossier.",
                        ActorDisplay = display,
                        Mode = decision.Mode,
                        ProfessionalId = actor.Id,
                        CreatedAt = now,
                        Status = "pending",
                    }, ct);
                }
            }

            if (emergency && decision.GrantId is not null)
            {
                added |= await NotificationOutbox.AddOnceAsync(db, EmergencyNotification(recordId, decision.GrantId, actor, decision.Mode, now), ct);
            }

            if (added)
            {
                await audit.AppendAsync(db, new AuditItem(recordId, Actor.Operator, AuditAction.Notify, "success", Channels.Api, "Communication", null, Detail: firstTime ? "first access of " + actor.Id : "emergency access of " + actor.Id), ct);
                await db.SaveChangesAsync(ct);
                await scope.CommitAsync(ct);
            }
        }

        db.ChangeTracker.Clear();
        if (KnownAccessors.Count > 1_000_000)
        {
            // A cache only: the record_accessors table is the truth.
            KnownAccessors.Clear();
        }

        KnownAccessors.TryAdd((recordId, actor.Id), true);
    }

    /// <summary>The notification of an emergency access (created with the grant and, at the latest, at its first use).</summary>
    public static PatientNotification EmergencyNotification(string recordId, string grantId, Actor actor, string mode, DateTimeOffset now) => new()
    {
        RecordId = recordId,
        Id = Ids.New(),
        Kind = "emergency-access",
        DedupKey = "emergency:" + grantId,
        Text = mode == "centre-15"
            ? $"{actor.Display} (régulation SAMU, centre 15) a accédé à votre dossier."
            : $"{actor.Display} a accédé à votre dossier en urgence (bris de glace).",
        ActorDisplay = actor.Display,
        Mode = mode,
        ProfessionalId = actor.Id,
        CreatedAt = now,
        Status = "pending",
    };

    private DmpException Refusal(AccessRequest request, AccessDecision decision, string objectType, string? objectId, string refusal)
    {
        // Asked by the id of a document (or another object): the answer must not tell whose record it
        // belongs to. The patient's id is named only to who asked about that patient.
        var byPatient = objectId is null || objectId == request.Record?.RecordId;
        var patient = request.Record is null || !byPatient ? "[patient id]" : request.Record.RecordId;
        var advice = $"With the patient's consent, declare your access: POST /fhir/Patient/{patient}/$declare-access (mode=alleged, confirm=true); in a vital emergency: POST /fhir/Patient/{patient}/$emergency-access (mode=break-glass, reason).";
        return decision.Denial switch
        {
            Denial.Hidden when request.Document is not null && request.Document.Masked && request.Actor.Kind == ActorKind.Professional && settings.ProfessionalsSeeMaskedExistence
                => new DmpException(ErrorKind.Forbidden, $"{objectType}/{objectId} is masked by the patient"),
            Denial.Hidden => new DmpException(ErrorKind.NotFound, $"{objectType}/{objectId} does not exist"),
            Denial.NoGrant or Denial.Expired or Denial.Blocked when request.Actor.Kind == ActorKind.Staff
                => new DmpException(ErrorKind.Forbidden, $"{refusal}: {request.Actor.Mandate?.ProfessionalDisplay}, for whom you act, holds no valid authorisation on this record ({decision.Reason}); only they can declare one, with the patient's consent"),
            Denial.NoGrant when request.Actor.Kind == ActorKind.Professional => new DmpException(ErrorKind.Forbidden, $"{refusal}: you have no authorisation on this record. {advice}"),
            Denial.Expired => new DmpException(ErrorKind.Forbidden, $"{refusal}: your authorisation has expired or was revoked. {advice}"),
            Denial.Blocked => new DmpException(ErrorKind.Forbidden, $"{refusal}: the patient has not authorised you to access their record"),
            _ => new DmpException(ErrorKind.Forbidden, $"{refusal} ({decision.Reason})"),
        };
    }

    /// <summary>
    /// Records a request about a record that does not exist (on the platform's chain: probing for
    /// record ids is traced like any refusal) and returns nothing; the caller answers empty or 404.
    /// </summary>
    public Task AuditNoRecordAsync(Actor actor, AuditAction action, string objectType, string recordId, string channel, CancellationToken ct) =>
        AuditAsync(new AuditItem(null, actor, action, AuditOutcomes.NotFound, channel, objectType, recordId.Length > 64 ? recordId[..64] : recordId, Detail: "no such record"), ct);

    /// <summary>The facts of a record that must exist; an unknown one is traced and answered 404.</summary>
    public async Task<RecordFacts> RequireFactsAsync(string recordId, Actor actor, AuditAction action, string objectType, string channel, CancellationToken ct)
    {
        if (await FactsAsync(recordId, ct) is { } facts)
        {
            return facts;
        }

        await AuditNoRecordAsync(actor, action, objectType, recordId, channel, ct);
        throw DmpException.NotFound($"Patient/{recordId} has no record");
    }

    /// <summary>Appends one entry in its own unit of work, under the record's write gate.</summary>
    public async Task AuditAsync(AuditItem item, CancellationToken ct)
    {
        if (auditOptions.GroupCommit)
        {
            // Durable when this returns; written with the other requests' entries of the moment
            // (an absent document's refusal too, on the system chain: it costs what a hidden one's does).
            await groupCommit.AppendAsync(item);
            RequestAuditLog.Current?.Appended(item.Action, item.Outcome);
            return;
        }

        db.ChangeTracker.Clear();
        await using (var scope = await gate.EnterAsync(db, item.RecordId, ct))
        {
            await audit.AppendAsync(db, item, ct);
            await db.SaveChangesAsync(ct);
            await scope.CommitAsync(ct);
        }

        db.ChangeTracker.Clear();
    }
}
