using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class AccessSignals : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "access_reviewer",
                table: "professionals",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "access_signals",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    professional_id = table.Column<string>(type: "text", nullable: false),
                    rule_id = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    count = table.Column<int>(type: "integer", nullable: false),
                    window_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    window_end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    record_id = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    reviewed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    reviewed_by = table.Column<string>(type: "text", nullable: true),
                    outcome = table.Column<string>(type: "text", nullable: true),
                    note = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_access_signals", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_record_accessors_first_access_at",
                table: "record_accessors",
                column: "first_access_at");

            migrationBuilder.CreateIndex(
                name: "IX_grants_created_at",
                table: "grants",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "IX_blocked_professionals_created_at",
                table: "blocked_professionals",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "IX_access_signals_professional_id_rule_id",
                table: "access_signals",
                columns: new[] { "professional_id", "rule_id" });

            migrationBuilder.CreateIndex(
                name: "IX_access_signals_reviewed_at",
                table: "access_signals",
                column: "reviewed_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "access_signals");

            migrationBuilder.DropIndex(
                name: "IX_record_accessors_first_access_at",
                table: "record_accessors");

            migrationBuilder.DropIndex(
                name: "IX_grants_created_at",
                table: "grants");

            migrationBuilder.DropIndex(
                name: "IX_blocked_professionals_created_at",
                table: "blocked_professionals");

            migrationBuilder.DropColumn(
                name: "access_reviewer",
                table: "professionals");
        }
    }
}
