using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class ProfessionalAlerts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "professional_alerts",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    recipient_id = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    event_id = table.Column<string>(type: "text", nullable: false),
                    organization_id = table.Column<string>(type: "text", nullable: true),
                    document_id = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    acknowledged_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    email_status = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_professional_alerts", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "record_events",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    subject_id = table.Column<string>(type: "text", nullable: false),
                    document_id = table.Column<string>(type: "text", nullable: true),
                    organization_id = table.Column<string>(type: "text", nullable: true),
                    rule_id = table.Column<string>(type: "text", nullable: true),
                    prescriber_rpps = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    processed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_record_events", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_professional_alerts_email_status",
                table: "professional_alerts",
                column: "email_status");

            migrationBuilder.CreateIndex(
                name: "IX_professional_alerts_recipient_id_acknowledged_at",
                table: "professional_alerts",
                columns: new[] { "recipient_id", "acknowledged_at" });

            migrationBuilder.CreateIndex(
                name: "IX_professional_alerts_record_id_event_id_recipient_id",
                table: "professional_alerts",
                columns: new[] { "record_id", "event_id", "recipient_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_record_events_processed_at",
                table: "record_events",
                column: "processed_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "professional_alerts");

            migrationBuilder.DropTable(
                name: "record_events");
        }
    }
}
