using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class IdentityDuplicates : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "identity_duplicates",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    record_id_a = table.Column<string>(type: "TEXT", nullable: false),
                    record_id_b = table.Column<string>(type: "TEXT", nullable: false),
                    score = table.Column<double>(type: "REAL", nullable: false),
                    reasons = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    detected_at = table.Column<long>(type: "INTEGER", nullable: false),
                    reviewed_at = table.Column<long>(type: "INTEGER", nullable: true),
                    reviewed_by = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_identity_duplicates", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_identity_duplicates_record_id_a_record_id_b",
                table: "identity_duplicates",
                columns: new[] { "record_id_a", "record_id_b" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_identity_duplicates_status_score",
                table: "identity_duplicates",
                columns: new[] { "status", "score" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "identity_duplicates");
        }
    }
}
