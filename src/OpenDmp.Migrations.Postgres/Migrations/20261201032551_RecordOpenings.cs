using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class RecordOpenings : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "opening_letters",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    code_hash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    issued_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    failed_attempts = table.Column<int>(type: "integer", nullable: false),
                    used_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_opening_letters", x => x.record_id);
                });

            migrationBuilder.CreateTable(
                name: "record_openings",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    opened_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    channel = table.Column<string>(type: "text", nullable: false),
                    opened_by = table.Column<string>(type: "text", nullable: false),
                    collected_by_id = table.Column<string>(type: "text", nullable: true),
                    organization_id = table.Column<string>(type: "text", nullable: true),
                    notice_version = table.Column<string>(type: "text", nullable: false),
                    treating_physician_id = table.Column<string>(type: "text", nullable: true),
                    oppose_break_glass = table.Column<bool>(type: "boolean", nullable: false),
                    oppose_centre15 = table.Column<bool>(type: "boolean", nullable: false),
                    activation_delivery = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_record_openings", x => new { x.record_id, x.id });
                });

            // The records opened before this table kept who collected the consent and where, not the
            // notice shown: one opening each, its notice and delivery marked as not recorded.
            migrationBuilder.Sql("INSERT INTO record_openings (record_id, id, opened_at, channel, opened_by, collected_by_id, notice_version, treating_physician_id, oppose_break_glass, oppose_centre15, activation_delivery) SELECT record_id, 'opening-' || record_id, opened_at, opening_channel, 'operator', consent_collected_by_id, 'not recorded', treating_physician_id, oppose_break_glass, oppose_centre15, 'not recorded' FROM records;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "opening_letters");

            migrationBuilder.DropTable(
                name: "record_openings");
        }
    }
}
