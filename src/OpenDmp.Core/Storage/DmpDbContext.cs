using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using OpenDmp.Core.Access;
using OpenDmp.Core.Audit;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Content;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Notifications;
using OpenDmp.Core.Patients;
using OpenDmp.Core.Records;

namespace OpenDmp.Core.Storage;

/// <summary>
/// The single EF Core model, used with SQLite and PostgreSQL. Every table holding patient data
/// carries record_id in its primary key (design D16, ready for Citus distribution by record).
/// </summary>
public sealed class DmpDbContext(DbContextOptions<DmpDbContext> options) : DbContext(options)
{
    /// <summary>Set by the write gate (PostgreSQL) for the unit of work it opened; consumed by the first audit append.</summary>
    public ChainHead? LockedChainHead { get; set; }

    /// <summary>
    /// Whether this context runs on PostgreSQL (otherwise SQLite), asked once per context instance:
    /// EF's <c>IsNpgsql()</c> resolves the provider's services on every call, and the read path asks
    /// on every request. A pooled context keeps its provider, and the answer, for its whole life.
    /// </summary>
    public bool IsPostgres => _isPostgres ??= Database.IsNpgsql();

    private bool? _isPostgres;

    public DbSet<Professional> Professionals => Set<Professional>();
    public DbSet<Organization> Organizations => Set<Organization>();
    public DbSet<PractitionerActivity> PractitionerActivities => Set<PractitionerActivity>();
    public DbSet<DirectoryPlace> DirectoryPlaces => Set<DirectoryPlace>();
    public DbSet<Identity.IdentityDuplicate> IdentityDuplicates => Set<Identity.IdentityDuplicate>();
    public DbSet<Identity.RecordMerge> RecordMerges => Set<Identity.RecordMerge>();
    public DbSet<Networks.NetworkEnrolment> NetworkEnrolments => Set<Networks.NetworkEnrolment>();
    public DbSet<Research.ResearchStudy> ResearchStudies => Set<Research.ResearchStudy>();
    public DbSet<Research.ResearchExtract> ResearchExtracts => Set<Research.ResearchExtract>();
    public DbSet<Networks.NetworkDocument> NetworkDocuments => Set<Networks.NetworkDocument>();
    public DbSet<Pki.IssuedCertificate> IssuedCertificates => Set<Pki.IssuedCertificate>();
    public DbSet<Pki.CertificateRevocation> CertificateRevocations => Set<Pki.CertificateRevocation>();
    public DbSet<Patient> Patients => Set<Patient>();
    public DbSet<PatientIdentifier> PatientIdentifiers => Set<PatientIdentifier>();
    public DbSet<Record> Records => Set<Record>();
    public DbSet<RecordOpening> RecordOpenings => Set<RecordOpening>();
    public DbSet<AccessSignal> AccessSignals => Set<AccessSignal>();
    public DbSet<DocumentEntry> Documents => Set<DocumentEntry>();
    public DbSet<DocumentLink> DocumentLinks => Set<DocumentLink>();
    public DbSet<SubmissionSet> SubmissionSets => Set<SubmissionSet>();
    public DbSet<ObservationEntry> Observations => Set<ObservationEntry>();
    public DbSet<OpenDmp.Core.Alerts.RecordEvent> RecordEvents => Set<OpenDmp.Core.Alerts.RecordEvent>();
    public DbSet<OpenDmp.Core.Alerts.ProfessionalAlert> ProfessionalAlerts => Set<OpenDmp.Core.Alerts.ProfessionalAlert>();
    public DbSet<OpenDmp.Core.Subscriptions.FhirSubscription> Subscriptions => Set<OpenDmp.Core.Subscriptions.FhirSubscription>();
    public DbSet<OpenDmp.Core.Subscriptions.SubscriptionEvent> SubscriptionEvents => Set<OpenDmp.Core.Subscriptions.SubscriptionEvent>();
    public DbSet<ClinicalEntry> ClinicalEntries => Set<ClinicalEntry>();
    public DbSet<AuditEntry> AuditEntries => Set<AuditEntry>();
    public DbSet<StaffMember> StaffMembers => Set<StaffMember>();
    public DbSet<StaffAssignment> StaffAssignments => Set<StaffAssignment>();
    public DbSet<ContentBlob> ContentBlobs => Set<ContentBlob>();
    public DbSet<AuditCheckpoint> AuditCheckpoints => Set<AuditCheckpoint>();
    public DbSet<AuditCheckpointHead> AuditCheckpointHeads => Set<AuditCheckpointHead>();
    public DbSet<RecordKey> RecordKeys => Set<RecordKey>();
    public DbSet<Grant> Grants => Set<Grant>();
    public DbSet<BlockedProfessional> BlockedProfessionals => Set<BlockedProfessional>();
    public DbSet<CareGroup> CareGroups => Set<CareGroup>();
    public DbSet<CareGroupMember> CareGroupMembers => Set<CareGroupMember>();
    public DbSet<RecordAccessor> RecordAccessors => Set<RecordAccessor>();
    public DbSet<PatientNotification> Notifications => Set<PatientNotification>();
    public DbSet<PatientAccount> PatientAccounts => Set<PatientAccount>();
    public DbSet<OpeningLetter> OpeningLetters => Set<OpeningLetter>();
    public DbSet<NotificationChoice> NotificationChoices => Set<NotificationChoice>();
    public DbSet<OpenDmp.Core.Reminders.Reminder> Reminders => Set<OpenDmp.Core.Reminders.Reminder>();
    public DbSet<OpenDmp.Core.SelfMonitoring.Measurement> Measurements => Set<OpenDmp.Core.SelfMonitoring.Measurement>();
    public DbSet<OpenDmp.Core.SelfMonitoring.MonitoringThreshold> MonitoringThresholds => Set<OpenDmp.Core.SelfMonitoring.MonitoringThreshold>();
    public DbSet<OpenDmp.Core.SelfMonitoring.DeviceToken> DeviceTokens => Set<OpenDmp.Core.SelfMonitoring.DeviceToken>();
    public DbSet<PatientSession> PatientSessions => Set<PatientSession>();
    public DbSet<TrustedDevice> TrustedDevices => Set<TrustedDevice>();
    public DbSet<RepresentativeAccount> RepresentativeAccounts => Set<RepresentativeAccount>();
    public DbSet<OpenDmp.Core.Records.PersonalEntry> PersonalEntries => Set<OpenDmp.Core.Records.PersonalEntry>();
    public DbSet<SavedView> SavedViews => Set<SavedView>();
    public DbSet<OpenDmp.Core.Messaging.OutboundMessage> OutboundMessages => Set<OpenDmp.Core.Messaging.OutboundMessage>();
    public DbSet<OpenDmp.Core.Messaging.OutboundRecipient> OutboundRecipients => Set<OpenDmp.Core.Messaging.OutboundRecipient>();
    public DbSet<OpenDmp.Core.Messaging.InboundMessage> InboundMessages => Set<OpenDmp.Core.Messaging.InboundMessage>();
    public DbSet<OpenDmp.Core.Terminologies.TerminologyImport> TerminologyImports => Set<OpenDmp.Core.Terminologies.TerminologyImport>();
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();
    public DbSet<Pki.UsedVihfAssertion> UsedVihfAssertions => Set<Pki.UsedVihfAssertion>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Professional>(e =>
        {
            e.ToTable("professionals");
            // Empty only until the start-up back-fill: this index makes finding none a lookup, not a scan.
            e.HasIndex(x => x.SearchName).HasFilter("search_name = ''").HasDatabaseName("ix_professionals_search_name_missing");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.Rpps).IsUnique();
            e.HasIndex(x => new { x.IdentifierSystem, x.IdentifierValue });
            e.HasIndex(x => x.Family);
            e.Ignore(x => x.DisplayName);
        });
        modelBuilder.Entity<StaffMember>(e =>
        {
            e.ToTable("staff_members");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.Identifier).IsUnique();
            e.Ignore(x => x.DisplayName);
        });
        modelBuilder.Entity<StaffAssignment>(e =>
        {
            e.ToTable("staff_assignments");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.StaffId, x.ProfessionalId });
            e.HasIndex(x => x.ProfessionalId);
        });
        modelBuilder.Entity<Pki.UsedVihfAssertion>(e =>
        {
            e.ToTable("vihf_assertions");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(256);
            e.HasIndex(x => x.NotAfter);
        });
        modelBuilder.Entity<Pki.IssuedCertificate>(e =>
        {
            e.ToTable("issued_certificates");
            e.HasKey(x => x.Serial);
            e.HasIndex(x => x.Rpps);
        });
        modelBuilder.Entity<Pki.CertificateRevocation>(e =>
        {
            e.ToTable("certificate_revocations");
            e.HasKey(x => x.Serial);
        });
        modelBuilder.Entity<Organization>(e =>
        {
            e.ToTable("organizations");
            // Empty only until the start-up back-fill: this index makes finding none a lookup, not a scan.
            e.HasIndex(x => x.SearchName).HasFilter("search_name = ''").HasDatabaseName("ix_organizations_search_name_missing");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.Finess);
            e.HasIndex(x => new { x.IdentifierSystem, x.IdentifierValue });
            e.HasIndex(x => x.PostalCode);
            e.HasIndex(x => new { x.Latitude, x.Longitude });
        });
        modelBuilder.Entity<PractitionerActivity>(e =>
        {
            e.ToTable("practitioner_activities");
            // Empty only until the start-up back-fill: this index makes finding none a lookup, not a scan.
            e.HasIndex(x => x.SearchCity).HasFilter("search_city = ''").HasDatabaseName("ix_practitioner_activities_search_city_missing");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.ProfessionalId);
            // A specialty around a place: the specialty, then the latitude range.
            e.HasIndex(x => new { x.SkillCode, x.Latitude, x.Longitude });
            e.HasIndex(x => x.PostalCode);
            e.HasIndex(x => new { x.Latitude, x.Longitude });
        });
        modelBuilder.Entity<Identity.IdentityDuplicate>(e =>
        {
            e.ToTable("identity_duplicates");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.RecordIdA, x.RecordIdB }).IsUnique();
            e.HasIndex(x => new { x.Status, x.Score });
        });
        modelBuilder.Entity<Identity.RecordMerge>(e =>
        {
            e.ToTable("record_merges");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => x.Id);
            e.HasIndex(x => x.SurvivorId);
            e.HasIndex(x => x.MergedAt);
            e.Property(x => x.PreviousStatus).HasConversion<string>();
        });
        modelBuilder.Entity<Research.ResearchStudy>(e =>
        {
            e.ToTable("research_studies");
            e.HasKey(x => x.Id);
        });
        modelBuilder.Entity<Research.ResearchExtract>(e =>
        {
            e.ToTable("research_extracts");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.Status, x.RequestedAt });
        });
        modelBuilder.Entity<Networks.NetworkEnrolment>(e =>
        {
            e.ToTable("network_enrolments");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => new { x.RecordId, x.NetworkId });
        });
        modelBuilder.Entity<Networks.NetworkDocument>(e =>
        {
            e.ToTable("network_documents");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => new { x.RecordId, x.NetworkId, x.CreatedAt });
        });
        modelBuilder.Entity<DirectoryPlace>(e =>
        {
            e.ToTable("directory_places");
            // Empty only until the start-up back-fill: this index makes finding none a lookup, not a scan.
            e.HasIndex(x => x.SearchCity).HasFilter("search_city = ''").HasDatabaseName("ix_directory_places_search_city_missing");
            e.HasKey(x => x.CommuneCode);
            e.HasIndex(x => x.PostalCode);
        });
        modelBuilder.Entity<Patient>(e =>
        {
            e.ToTable("patients");
            e.HasKey(x => x.RecordId);
            e.HasIndex(x => new { x.Family, x.BirthDate });
        });
        modelBuilder.Entity<PatientIdentifier>(e =>
        {
            e.ToTable("patient_identifiers");
            e.HasKey(x => new { x.System, x.Value });
        });
        modelBuilder.Entity<Record>(e =>
        {
            e.ToTable("records");
            e.HasKey(x => x.RecordId);
            e.HasIndex(x => x.MergedInto);
            e.Property(x => x.Status).HasConversion<string>();
            e.Property(x => x.OpeningChannel).HasConversion<string>();
        });
        modelBuilder.Entity<AccessSignal>(e =>
        {
            e.ToTable("access_signals");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.ProfessionalId, x.RuleId });
            e.HasIndex(x => x.ReviewedAt);
        });
        modelBuilder.Entity<RecordOpening>(e =>
        {
            e.ToTable("record_openings");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.Property(x => x.Channel).HasConversion<string>();
        });
        modelBuilder.Entity<DocumentEntry>(e =>
        {
            e.ToTable("documents");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => x.Id);
            e.HasIndex(x => new { x.RecordId, x.Date });
            e.HasIndex(x => new { x.RecordId, x.MasterIdentifier }).IsUnique();
            // XDS.b names a document by its uniqueId alone (ITI-43, GetDocuments).
            e.HasIndex(x => x.MasterIdentifier);
        });
        modelBuilder.Entity<DocumentLink>(e =>
        {
            e.ToTable("document_links");
            e.HasKey(x => new { x.RecordId, x.DocumentId, x.Kind, x.Target });
            e.HasIndex(x => new { x.RecordId, x.Target });
        });
        modelBuilder.Entity<SubmissionSet>(e =>
        {
            e.ToTable("submission_sets");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => x.Id);
        });
        modelBuilder.Entity<ObservationEntry>(e =>
        {
            e.Ignore(x => x.Interpretation);
            e.ToTable("observations");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => new { x.RecordId, x.Code, x.Effective });
            e.HasIndex(x => new { x.RecordId, x.DocumentId });
        });
        modelBuilder.Entity<ClinicalEntry>(e =>
        {
            e.ToTable("clinical_entries");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.Property(x => x.ResourceType).HasMaxLength(40);
            e.HasIndex(x => new { x.RecordId, x.ResourceType, x.Date });
            e.HasIndex(x => new { x.RecordId, x.DocumentId });
            e.HasIndex(x => new { x.RecordId, x.RequestId });
            e.HasIndex(x => x.GroupId);
            e.HasIndex(x => x.Id);
        });
        modelBuilder.Entity<AuditEntry>(e =>
        {
            e.ToTable("audit_entries");
            e.HasKey(x => new { x.RecordId, x.Seq });
        });
        modelBuilder.Entity<RecordKey>(e =>
        {
            e.ToTable("record_keys");
            e.HasKey(x => x.RecordId);
        });
        modelBuilder.Entity<AuditCheckpoint>(e =>
        {
            e.ToTable("audit_checkpoints");
            e.HasKey(x => x.Id);
            e.Property(x => x.Format).HasDefaultValue(1);
        });
        modelBuilder.Entity<AuditCheckpointHead>(e =>
        {
            e.ToTable("audit_checkpoint_heads");
            e.HasKey(x => new { x.RecordId, x.CheckpointId });
        });
        modelBuilder.Entity<Grant>(e =>
        {
            e.ToTable("grants");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => x.Id);
            e.HasIndex(x => x.CreatedAt);
        });
        modelBuilder.Entity<BlockedProfessional>(e =>
        {
            e.ToTable("blocked_professionals");
            e.HasKey(x => new { x.RecordId, x.ProfessionalId });
            e.HasIndex(x => x.CreatedAt);
        });
        modelBuilder.Entity<CareGroup>(e =>
        {
            e.ToTable("care_groups");
            e.HasKey(x => x.Id);
        });
        modelBuilder.Entity<CareGroupMember>(e =>
        {
            e.ToTable("care_group_members");
            e.HasKey(x => new { x.GroupId, x.ProfessionalId });
            e.HasIndex(x => x.ProfessionalId);
        });
        modelBuilder.Entity<RecordAccessor>(e =>
        {
            e.ToTable("record_accessors");
            e.HasKey(x => new { x.RecordId, x.ProfessionalId });
            e.HasIndex(x => x.FirstAccessAt);
        });
        modelBuilder.Entity<OpenDmp.Core.Alerts.RecordEvent>(e =>
        {
            e.ToTable("record_events");
            e.HasKey(x => new { x.RecordId, x.Id });
            // The dispatcher's queue: what is not processed yet.
            e.HasIndex(x => x.ProcessedAt);
        });
        modelBuilder.Entity<OpenDmp.Core.Alerts.ProfessionalAlert>(e =>
        {
            e.ToTable("professional_alerts");
            e.HasKey(x => new { x.RecordId, x.Id });
            // One alert per event and recipient, however often the dispatcher retries.
            e.HasIndex(x => new { x.RecordId, x.EventId, x.RecipientId }).IsUnique();
            // A professional's inbox (a lookup across records: routed by recipient, see SCALING.md).
            e.HasIndex(x => new { x.RecipientId, x.AcknowledgedAt });
            e.HasIndex(x => x.EmailStatus);
        });
        modelBuilder.Entity<OpenDmp.Core.Subscriptions.FhirSubscription>(e =>
        {
            e.ToTable("subscriptions");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.OwnerId);
            // The fan-out's lookups (active subscriptions of a topic) and the delivery's (what is due).
            e.HasIndex(x => new { x.Status, x.Topic });
            e.HasIndex(x => x.RecordFilter);
        });
        modelBuilder.Entity<OpenDmp.Core.Subscriptions.SubscriptionEvent>(e =>
        {
            e.ToTable("subscription_events");
            // Distributed by record like every table naming one; numbers are unique per subscription by
            // construction (the counter's row lock), read through the (subscription, number) index.
            e.HasKey(x => new { x.RecordId, x.SubscriptionId, x.Number });
            // One event per record event and subscription, however often the dispatcher retries.
            e.HasIndex(x => new { x.RecordId, x.SubscriptionId, x.SourceId, x.Focus }).IsUnique();
            e.HasIndex(x => new { x.SubscriptionId, x.Number });
            // The retention's purge (oldest first).
            e.HasIndex(x => x.CreatedAt);
        });
        modelBuilder.Entity<PatientNotification>(e =>
        {
            e.ToTable("notifications");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => new { x.RecordId, x.DedupKey }).IsUnique();
            e.HasIndex(x => x.Status);
            e.HasIndex(x => x.SmsStatus);
        });
        modelBuilder.Entity<OpenDmp.Core.SelfMonitoring.Measurement>(e =>
        {
            e.ToTable("measurements");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.Property(x => x.Code).HasMaxLength(20);
            e.Property(x => x.Unit).HasMaxLength(20);
            e.Property(x => x.EnteredBy).HasMaxLength(80);
            // A series: one record's values of one quantity, latest first.
            e.HasIndex(x => new { x.RecordId, x.Code, x.Effective });
        });
        modelBuilder.Entity<OpenDmp.Core.SelfMonitoring.MonitoringThreshold>(e =>
        {
            e.ToTable("monitoring_thresholds");
            e.HasKey(x => new { x.RecordId, x.Code });
            e.Property(x => x.Code).HasMaxLength(20);
            e.Property(x => x.Advice).HasMaxLength(500);
            e.Property(x => x.SetBy).HasMaxLength(80);
        });
        modelBuilder.Entity<OpenDmp.Core.SelfMonitoring.DeviceToken>(e =>
        {
            e.ToTable("device_tokens");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.Property(x => x.Name).HasMaxLength(60);
            // A request's token is looked up by its hash (256 random bits: no collision to guard against with a
            // unique key, which would not be distributed by record).
            e.HasIndex(x => x.TokenHash);
        });
        modelBuilder.Entity<OpenDmp.Core.Reminders.Reminder>(e =>
        {
            e.ToTable("reminders");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.Property(x => x.Kind).HasMaxLength(20);
            e.Property(x => x.Title).HasMaxLength(120);
            e.Property(x => x.Place).HasMaxLength(200);
            e.Property(x => x.Details).HasMaxLength(500);
            e.Property(x => x.Repeat).HasMaxLength(10);
            e.Property(x => x.Source).HasMaxLength(40);
            // The dispatcher's scan: the reminders due first.
            e.HasIndex(x => x.NextNotifyAt);
        });
        modelBuilder.Entity<NotificationChoice>(e =>
        {
            e.ToTable("notification_choices");
            e.HasKey(x => new { x.RecordId, x.Event, x.Channel });
            e.Property(x => x.Event).HasMaxLength(40);
            e.Property(x => x.Channel).HasMaxLength(10);
        });
        modelBuilder.Entity<OpeningLetter>(e =>
        {
            e.ToTable("opening_letters");
            e.HasKey(x => x.RecordId);
            e.Property(x => x.CodeHash).HasMaxLength(64);
        });
        modelBuilder.Entity<PatientAccount>(e =>
        {
            e.ToTable("patient_accounts");
            e.HasKey(x => x.RecordId);
            e.Property(x => x.Phone).HasMaxLength(16);
            e.Property(x => x.Language).HasMaxLength(5);
        });
        modelBuilder.Entity<RepresentativeAccount>(e =>
        {
            e.ToTable("representative_accounts");
            // record_id first (design D16: the distribution key); the sign-in identifier is a random id, looked up by its index.
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => x.Id);
        });
        modelBuilder.Entity<OpenDmp.Core.Records.PersonalEntry>(e =>
        {
            e.ToTable("personal_entries");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.Property(x => x.Category).HasMaxLength(40);
        });
        modelBuilder.Entity<SavedView>(e =>
        {
            e.ToTable("saved_views");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => new { x.RecordId, x.OwnerId, x.Name }).IsUnique();
            e.Property(x => x.Name).HasMaxLength(80);
        });
        modelBuilder.Entity<TrustedDevice>(e =>
        {
            e.ToTable("trusted_devices");
            e.HasKey(x => new { x.RecordId, x.TokenHash });
        });
        modelBuilder.Entity<PatientSession>(e =>
        {
            e.ToTable("patient_sessions");
            e.HasKey(x => new { x.RecordId, x.TokenHash });
            e.HasIndex(x => x.TokenHash);
        });
        modelBuilder.Entity<OpenDmp.Core.Messaging.OutboundMessage>(e =>
        {
            e.ToTable("outbound_messages");
            e.HasKey(x => new { x.RecordId, x.Id });
            e.HasIndex(x => new { x.RecordId, x.MessageId }).IsUnique();
            // Notifications (MDN, DSN) name the Message-ID only; the id is random: both looked up by index.
            e.HasIndex(x => x.MessageId);
            e.HasIndex(x => x.Id);
            e.HasIndex(x => x.SenderProfessionalId);
        });
        modelBuilder.Entity<OpenDmp.Core.Messaging.OutboundRecipient>(e =>
        {
            e.ToTable("outbound_recipients");
            e.HasKey(x => new { x.RecordId, x.OutboundId, x.Address });
            e.HasIndex(x => x.OutboundId);
        });
        modelBuilder.Entity<OpenDmp.Core.Messaging.InboundMessage>(e =>
        {
            e.ToTable("inbound_messages");
            e.HasKey(x => x.Key);
            e.HasIndex(x => x.ProcessedAt);
        });
        modelBuilder.Entity<OpenDmp.Core.Terminologies.TerminologyImport>(e =>
        {
            e.ToTable("terminology_imports");
            e.HasKey(x => x.Sequence);
            e.Property(x => x.Sequence).ValueGeneratedOnAdd();
            e.HasIndex(x => new { x.Url, x.Version }).IsUnique();
        });
        modelBuilder.Entity<DataProtectionKey>(e =>
        {
            e.ToTable("data_protection_keys");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).ValueGeneratedOnAdd();
        });
        modelBuilder.Entity<ContentBlob>(e =>
        {
            e.ToTable("content_blobs");
            e.HasKey(x => new { x.RecordId, x.Key });
        });

        // SQLite cannot order or compare DateTimeOffset natively: store it as UTC ticks there.
        if (Database.IsSqlite())
        {
            foreach (var entity in modelBuilder.Model.GetEntityTypes())
            {
                foreach (var p in entity.GetProperties())
                {
                    if (p.ClrType == typeof(DateTimeOffset) || p.ClrType == typeof(DateTimeOffset?))
                    {
                        p.SetValueConverter(UtcTicksConverter);
                    }
                }
            }
        }

        // snake_case column names: readable raw SQL on both providers.
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var p in entity.GetProperties())
            {
                p.SetColumnName(ToSnake(p.Name));
            }
        }
    }

    private static readonly ValueConverter<DateTimeOffset, long> UtcTicksConverter =
        new(v => v.UtcTicks, v => new DateTimeOffset(v, TimeSpan.Zero));

    internal static string ToSnake(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0)
                {
                    sb.Append('_');
                }

                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
