using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <summary>
    /// records.facts_version: a number drawn anew, in the same transaction, with anything the
    /// access policy reads about a record's documents (the record's row, its grants, its blocked
    /// professionals, its documents' rows). A server that decided on facts it kept in memory checks,
    /// under the record's lock, that the number is still the one it read (ADR 0036). Kept by
    /// triggers, so that no writer — another instance, an admin command, SQL run by hand — can
    /// change the facts without changing the number. Not in the EF model: only the read path and the
    /// audit writer use it.
    /// </summary>
    public partial class RecordFactsVersion : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                -- A version is drawn at random (62 bits), never counted: a number counted up could
                -- come back with other facts after a restore or a failover that lost commits, or
                -- for a record deleted and created again; a random one does not (1 in 2^62).
                -- Existing rows start at 0 (no table rewrite); new rows draw theirs.
                ALTER TABLE records ADD COLUMN facts_version bigint NOT NULL DEFAULT 0;
                ALTER TABLE records ALTER COLUMN facts_version SET DEFAULT floor(random() * 4611686018427387904)::bigint;

                -- Any change to a record's row is a new version of its facts.
                CREATE FUNCTION dmp_records_facts_version() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    NEW.facts_version := floor(random() * 4611686018427387904)::bigint;
                    RETURN NEW;
                END
                $$;
                CREATE TRIGGER records_facts_version BEFORE UPDATE ON records
                    FOR EACH ROW EXECUTE FUNCTION dmp_records_facts_version();

                -- A grant or a blocked professional added, changed or removed. Updating the record's
                -- row is what draws its new version (records_facts_version overrides the 0).
                CREATE FUNCTION dmp_record_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP <> 'INSERT' THEN
                        UPDATE records SET facts_version = 0 WHERE record_id = OLD.record_id;
                    END IF;
                    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.record_id IS DISTINCT FROM OLD.record_id) THEN
                        UPDATE records SET facts_version = 0 WHERE record_id = NEW.record_id;
                    END IF;
                    RETURN NULL;
                END
                $$;
                CREATE TRIGGER grants_facts_version AFTER INSERT OR UPDATE OR DELETE ON grants
                    FOR EACH ROW EXECUTE FUNCTION dmp_record_facts_changed();
                CREATE TRIGGER blocked_professionals_facts_version AFTER INSERT OR UPDATE OR DELETE ON blocked_professionals
                    FOR EACH ROW EXECUTE FUNCTION dmp_record_facts_changed();

                -- A document changed or removed. A new document changes no other document's facts,
                -- except when another record holds a document with the same id: a read by that id
                -- answers the lowest record's, so those records' versions change too.
                CREATE FUNCTION dmp_document_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        UPDATE records SET facts_version = 0
                            WHERE record_id IN (SELECT d.record_id FROM documents AS d WHERE d.id = NEW.id AND d.record_id <> NEW.record_id);
                        RETURN NULL;
                    END IF;
                    UPDATE records SET facts_version = 0 WHERE record_id = OLD.record_id;
                    IF TG_OP = 'UPDATE' AND NEW.record_id IS DISTINCT FROM OLD.record_id THEN
                        UPDATE records SET facts_version = 0 WHERE record_id = NEW.record_id;
                    END IF;
                    RETURN NULL;
                END
                $$;
                CREATE TRIGGER documents_facts_version AFTER INSERT OR UPDATE OR DELETE ON documents
                    FOR EACH ROW EXECUTE FUNCTION dmp_document_facts_changed();
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TRIGGER documents_facts_version ON documents;
                DROP TRIGGER blocked_professionals_facts_version ON blocked_professionals;
                DROP TRIGGER grants_facts_version ON grants;
                DROP TRIGGER records_facts_version ON records;
                DROP FUNCTION dmp_document_facts_changed();
                DROP FUNCTION dmp_record_facts_changed();
                DROP FUNCTION dmp_records_facts_version();
                ALTER TABLE records DROP COLUMN facts_version;
                """);
        }
    }
}
