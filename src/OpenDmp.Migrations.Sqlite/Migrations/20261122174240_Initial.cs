using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "audit_entries",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    seq = table.Column<long>(type: "INTEGER", nullable: false),
                    time = table.Column<long>(type: "INTEGER", nullable: false),
                    actor_kind = table.Column<string>(type: "TEXT", nullable: false),
                    actor_id = table.Column<string>(type: "TEXT", nullable: false),
                    action = table.Column<string>(type: "TEXT", nullable: false),
                    object_type = table.Column<string>(type: "TEXT", nullable: true),
                    object_id = table.Column<string>(type: "TEXT", nullable: true),
                    outcome = table.Column<string>(type: "TEXT", nullable: false),
                    mode = table.Column<string>(type: "TEXT", nullable: true),
                    channel = table.Column<string>(type: "TEXT", nullable: false),
                    detail = table.Column<string>(type: "TEXT", nullable: true),
                    prev_hash = table.Column<string>(type: "TEXT", nullable: false),
                    hash = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_audit_entries", x => new { x.record_id, x.seq });
                });

            migrationBuilder.CreateTable(
                name: "content_blobs",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    key = table.Column<string>(type: "TEXT", nullable: false),
                    data = table.Column<byte[]>(type: "BLOB", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_content_blobs", x => new { x.record_id, x.key });
                });

            migrationBuilder.CreateTable(
                name: "document_links",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    document_id = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", nullable: false),
                    target = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_document_links", x => new { x.record_id, x.document_id, x.kind, x.target });
                });

            migrationBuilder.CreateTable(
                name: "documents",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    master_identifier = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    erased = table.Column<bool>(type: "INTEGER", nullable: false),
                    erased_at = table.Column<long>(type: "INTEGER", nullable: true),
                    type_system = table.Column<string>(type: "TEXT", nullable: true),
                    type_code = table.Column<string>(type: "TEXT", nullable: false),
                    type_display = table.Column<string>(type: "TEXT", nullable: true),
                    class_system = table.Column<string>(type: "TEXT", nullable: true),
                    class_code = table.Column<string>(type: "TEXT", nullable: true),
                    class_display = table.Column<string>(type: "TEXT", nullable: true),
                    format_code = table.Column<string>(type: "TEXT", nullable: true),
                    facility_type_code = table.Column<string>(type: "TEXT", nullable: true),
                    practice_setting_code = table.Column<string>(type: "TEXT", nullable: true),
                    confidentiality_code = table.Column<string>(type: "TEXT", nullable: true),
                    title = table.Column<string>(type: "TEXT", nullable: true),
                    content_type = table.Column<string>(type: "TEXT", nullable: false),
                    size = table.Column<long>(type: "INTEGER", nullable: false),
                    sha1 = table.Column<string>(type: "TEXT", nullable: false),
                    date = table.Column<long>(type: "INTEGER", nullable: true),
                    period_start = table.Column<long>(type: "INTEGER", nullable: true),
                    period_end = table.Column<long>(type: "INTEGER", nullable: true),
                    author_professional_id = table.Column<string>(type: "TEXT", nullable: true),
                    author_identifier = table.Column<string>(type: "TEXT", nullable: true),
                    author_display = table.Column<string>(type: "TEXT", nullable: true),
                    submitter_id = table.Column<string>(type: "TEXT", nullable: true),
                    submission_set_id = table.Column<string>(type: "TEXT", nullable: true),
                    content_key = table.Column<string>(type: "TEXT", nullable: false),
                    is_test_identity = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    last_updated = table.Column<long>(type: "INTEGER", nullable: false),
                    version_id = table.Column<int>(type: "INTEGER", nullable: false),
                    resource_json = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_documents", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "observations",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    code_system = table.Column<string>(type: "TEXT", nullable: true),
                    code = table.Column<string>(type: "TEXT", nullable: false),
                    code_display = table.Column<string>(type: "TEXT", nullable: true),
                    category = table.Column<string>(type: "TEXT", nullable: true),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    value_number = table.Column<double>(type: "REAL", nullable: true),
                    unit = table.Column<string>(type: "TEXT", nullable: true),
                    value_text = table.Column<string>(type: "TEXT", nullable: true),
                    effective = table.Column<long>(type: "INTEGER", nullable: true),
                    resource_json = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_observations", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "organizations",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    finess = table.Column<string>(type: "TEXT", nullable: true),
                    identifier_system = table.Column<string>(type: "TEXT", nullable: true),
                    identifier_value = table.Column<string>(type: "TEXT", nullable: true),
                    name = table.Column<string>(type: "TEXT", nullable: false),
                    type_code = table.Column<string>(type: "TEXT", nullable: true),
                    city = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_organizations", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "patient_identifiers",
                columns: table => new
                {
                    system = table.Column<string>(type: "TEXT", nullable: false),
                    value = table.Column<string>(type: "TEXT", nullable: false),
                    record_id = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_patient_identifiers", x => new { x.system, x.value });
                });

            migrationBuilder.CreateTable(
                name: "patients",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    ins = table.Column<string>(type: "TEXT", nullable: false),
                    ins_system = table.Column<string>(type: "TEXT", nullable: false),
                    is_test_identity = table.Column<bool>(type: "INTEGER", nullable: false),
                    family = table.Column<string>(type: "TEXT", nullable: false),
                    given = table.Column<string>(type: "TEXT", nullable: false),
                    birth_date = table.Column<DateOnly>(type: "TEXT", nullable: false),
                    sex = table.Column<string>(type: "TEXT", nullable: false),
                    birth_place = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_patients", x => x.record_id);
                });

            migrationBuilder.CreateTable(
                name: "professionals",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    rpps = table.Column<string>(type: "TEXT", nullable: true),
                    identifier_system = table.Column<string>(type: "TEXT", nullable: true),
                    identifier_value = table.Column<string>(type: "TEXT", nullable: true),
                    family = table.Column<string>(type: "TEXT", nullable: false),
                    given = table.Column<string>(type: "TEXT", nullable: false),
                    prefix = table.Column<string>(type: "TEXT", nullable: true),
                    profession_code = table.Column<string>(type: "TEXT", nullable: true),
                    specialty_code = table.Column<string>(type: "TEXT", nullable: true),
                    specialty_display = table.Column<string>(type: "TEXT", nullable: true),
                    organization_id = table.Column<string>(type: "TEXT", nullable: true),
                    email = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_professionals", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "records",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    treating_physician_id = table.Column<string>(type: "TEXT", nullable: true),
                    consent_collected_by_id = table.Column<string>(type: "TEXT", nullable: true),
                    opening_channel = table.Column<string>(type: "TEXT", nullable: false),
                    opened_at = table.Column<long>(type: "INTEGER", nullable: false),
                    closed_at = table.Column<long>(type: "INTEGER", nullable: true),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_records", x => x.record_id);
                });

            migrationBuilder.CreateTable(
                name: "submission_sets",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    master_identifier = table.Column<string>(type: "TEXT", nullable: false),
                    source_id = table.Column<string>(type: "TEXT", nullable: true),
                    date = table.Column<long>(type: "INTEGER", nullable: false),
                    author_identifier = table.Column<string>(type: "TEXT", nullable: true),
                    submitter_id = table.Column<string>(type: "TEXT", nullable: true),
                    is_test_identity = table.Column<bool>(type: "INTEGER", nullable: false),
                    resource_json = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_submission_sets", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_document_links_record_id_target",
                table: "document_links",
                columns: new[] { "record_id", "target" });

            migrationBuilder.CreateIndex(
                name: "IX_documents_id",
                table: "documents",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "IX_documents_record_id_date",
                table: "documents",
                columns: new[] { "record_id", "date" });

            migrationBuilder.CreateIndex(
                name: "IX_documents_record_id_master_identifier",
                table: "documents",
                columns: new[] { "record_id", "master_identifier" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_observations_record_id_code_effective",
                table: "observations",
                columns: new[] { "record_id", "code", "effective" });

            migrationBuilder.CreateIndex(
                name: "IX_organizations_finess",
                table: "organizations",
                column: "finess");

            migrationBuilder.CreateIndex(
                name: "IX_organizations_identifier_system_identifier_value",
                table: "organizations",
                columns: new[] { "identifier_system", "identifier_value" });

            migrationBuilder.CreateIndex(
                name: "IX_patients_family_birth_date",
                table: "patients",
                columns: new[] { "family", "birth_date" });

            migrationBuilder.CreateIndex(
                name: "IX_professionals_family",
                table: "professionals",
                column: "family");

            migrationBuilder.CreateIndex(
                name: "IX_professionals_identifier_system_identifier_value",
                table: "professionals",
                columns: new[] { "identifier_system", "identifier_value" });

            migrationBuilder.CreateIndex(
                name: "IX_professionals_rpps",
                table: "professionals",
                column: "rpps",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_submission_sets_id",
                table: "submission_sets",
                column: "id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "audit_entries");

            migrationBuilder.DropTable(
                name: "content_blobs");

            migrationBuilder.DropTable(
                name: "document_links");

            migrationBuilder.DropTable(
                name: "documents");

            migrationBuilder.DropTable(
                name: "observations");

            migrationBuilder.DropTable(
                name: "organizations");

            migrationBuilder.DropTable(
                name: "patient_identifiers");

            migrationBuilder.DropTable(
                name: "patients");

            migrationBuilder.DropTable(
                name: "professionals");

            migrationBuilder.DropTable(
                name: "records");

            migrationBuilder.DropTable(
                name: "submission_sets");
        }
    }
}
