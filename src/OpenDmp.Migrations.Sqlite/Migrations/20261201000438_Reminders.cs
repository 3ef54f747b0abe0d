using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class Reminders : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "reminders",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    title = table.Column<string>(type: "TEXT", maxLength: 120, nullable: false),
                    place = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    details = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true),
                    starts_at = table.Column<long>(type: "INTEGER", nullable: false),
                    repeat = table.Column<string>(type: "TEXT", maxLength: 10, nullable: false),
                    interval = table.Column<int>(type: "INTEGER", nullable: false),
                    until = table.Column<long>(type: "INTEGER", nullable: true),
                    lead_minutes = table.Column<int>(type: "INTEGER", nullable: false),
                    next_occurrence = table.Column<long>(type: "INTEGER", nullable: true),
                    next_notify_at = table.Column<long>(type: "INTEGER", nullable: true),
                    source = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false),
                    created_by = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_reminders", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_reminders_next_notify_at",
                table: "reminders",
                column: "next_notify_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "reminders");
        }
    }
}
