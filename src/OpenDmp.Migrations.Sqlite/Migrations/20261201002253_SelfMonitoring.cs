using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class SelfMonitoring : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "device_tokens",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 60, nullable: false),
                    token_hash = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    revoked_at = table.Column<long>(type: "INTEGER", nullable: true),
                    last_used_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_device_tokens", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "measurements",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    code = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    value = table.Column<double>(type: "REAL", nullable: false),
                    unit = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    effective = table.Column<long>(type: "INTEGER", nullable: false),
                    recorded_at = table.Column<long>(type: "INTEGER", nullable: false),
                    entered_by = table.Column<string>(type: "TEXT", maxLength: 80, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_measurements", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "monitoring_thresholds",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    code = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    low = table.Column<double>(type: "REAL", nullable: true),
                    high = table.Column<double>(type: "REAL", nullable: true),
                    advice = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    set_by = table.Column<string>(type: "TEXT", maxLength: 80, nullable: false),
                    alert_physician = table.Column<bool>(type: "INTEGER", nullable: false),
                    set_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_monitoring_thresholds", x => new { x.record_id, x.code });
                });

            migrationBuilder.CreateIndex(
                name: "IX_device_tokens_token_hash",
                table: "device_tokens",
                column: "token_hash");

            migrationBuilder.CreateIndex(
                name: "IX_measurements_record_id_code_effective",
                table: "measurements",
                columns: new[] { "record_id", "code", "effective" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "device_tokens");

            migrationBuilder.DropTable(
                name: "measurements");

            migrationBuilder.DropTable(
                name: "monitoring_thresholds");
        }
    }
}
