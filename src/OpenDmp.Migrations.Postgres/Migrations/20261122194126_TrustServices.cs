using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class TrustServices : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "oppose_break_glass",
                table: "records",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "oppose_centre15",
                table: "records",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "oppose_emergency_unmasking",
                table: "records",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "draft",
                table: "documents",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "hidden_from_patient",
                table: "documents",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "hidden_from_representatives",
                table: "documents",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<bool>(
                name: "masked",
                table: "documents",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "blocked_professionals",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    professional_id = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_blocked_professionals", x => new { x.record_id, x.professional_id });
                });

            migrationBuilder.CreateTable(
                name: "care_group_members",
                columns: table => new
                {
                    group_id = table.Column<string>(type: "text", nullable: false),
                    professional_id = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_care_group_members", x => new { x.group_id, x.professional_id });
                });

            migrationBuilder.CreateTable(
                name: "care_groups",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_care_groups", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "grants",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    mode = table.Column<string>(type: "text", nullable: false),
                    holder_id = table.Column<string>(type: "text", nullable: false),
                    start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    revoked_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    revoked_by = table.Column<string>(type: "text", nullable: true),
                    group_id = table.Column<string>(type: "text", nullable: true),
                    delegating_grant_id = table.Column<string>(type: "text", nullable: true),
                    admission_id = table.Column<string>(type: "text", nullable: true),
                    excluded = table.Column<string>(type: "text", nullable: true),
                    restricted_to = table.Column<string>(type: "text", nullable: true),
                    reason = table.Column<string>(type: "text", nullable: true),
                    declared_by = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_grants", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "notifications",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    dedup_key = table.Column<string>(type: "text", nullable: false),
                    text = table.Column<string>(type: "text", nullable: false),
                    professional_id = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    status = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_notifications", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "patient_accounts",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    email = table.Column<string>(type: "text", nullable: true),
                    password_hash = table.Column<string>(type: "text", nullable: true),
                    totp_secret = table.Column<byte[]>(type: "bytea", nullable: true),
                    last_totp_step = table.Column<long>(type: "bigint", nullable: false),
                    activation_code_hash = table.Column<string>(type: "text", nullable: true),
                    activation_expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    activated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    failed_attempts = table.Column<int>(type: "integer", nullable: false),
                    locked_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_patient_accounts", x => x.record_id);
                });

            migrationBuilder.CreateTable(
                name: "patient_sessions",
                columns: table => new
                {
                    token_hash = table.Column<string>(type: "text", nullable: false),
                    record_id = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_patient_sessions", x => x.token_hash);
                });

            migrationBuilder.CreateTable(
                name: "record_accessors",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    professional_id = table.Column<string>(type: "text", nullable: false),
                    first_access_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_record_accessors", x => new { x.record_id, x.professional_id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_care_group_members_professional_id",
                table: "care_group_members",
                column: "professional_id");

            migrationBuilder.CreateIndex(
                name: "IX_grants_id",
                table: "grants",
                column: "id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_notifications_record_id_dedup_key",
                table: "notifications",
                columns: new[] { "record_id", "dedup_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_notifications_status",
                table: "notifications",
                column: "status");

            migrationBuilder.CreateIndex(
                name: "IX_patient_sessions_record_id",
                table: "patient_sessions",
                column: "record_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "blocked_professionals");

            migrationBuilder.DropTable(
                name: "care_group_members");

            migrationBuilder.DropTable(
                name: "care_groups");

            migrationBuilder.DropTable(
                name: "grants");

            migrationBuilder.DropTable(
                name: "notifications");

            migrationBuilder.DropTable(
                name: "patient_accounts");

            migrationBuilder.DropTable(
                name: "patient_sessions");

            migrationBuilder.DropTable(
                name: "record_accessors");

            migrationBuilder.DropColumn(
                name: "oppose_break_glass",
                table: "records");

            migrationBuilder.DropColumn(
                name: "oppose_centre15",
                table: "records");

            migrationBuilder.DropColumn(
                name: "oppose_emergency_unmasking",
                table: "records");

            migrationBuilder.DropColumn(
                name: "draft",
                table: "documents");

            migrationBuilder.DropColumn(
                name: "hidden_from_patient",
                table: "documents");

            migrationBuilder.DropColumn(
                name: "hidden_from_representatives",
                table: "documents");

            migrationBuilder.DropColumn(
                name: "masked",
                table: "documents");
        }
    }
}
