using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
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
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    recipient_id = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", nullable: false),
                    event_id = table.Column<string>(type: "TEXT", nullable: false),
                    organization_id = table.Column<string>(type: "TEXT", nullable: true),
                    document_id = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    acknowledged_at = table.Column<long>(type: "INTEGER", nullable: true),
                    email_status = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_professional_alerts", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "record_events",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", nullable: false),
                    subject_id = table.Column<string>(type: "TEXT", nullable: false),
                    document_id = table.Column<string>(type: "TEXT", nullable: true),
                    organization_id = table.Column<string>(type: "TEXT", nullable: true),
                    rule_id = table.Column<string>(type: "TEXT", nullable: true),
                    prescriber_rpps = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    processed_at = table.Column<long>(type: "INTEGER", nullable: true)
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
