using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class ResearchStudies : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "oppose_research",
                table: "records",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "research_extracts",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    study_id = table.Column<string>(type: "TEXT", nullable: false),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    requested_at = table.Column<long>(type: "INTEGER", nullable: false),
                    completed_at = table.Column<long>(type: "INTEGER", nullable: true),
                    token_hash = table.Column<string>(type: "TEXT", nullable: false),
                    considered = table.Column<int>(type: "INTEGER", nullable: false),
                    included = table.Column<int>(type: "INTEGER", nullable: false),
                    opted_out = table.Column<int>(type: "INTEGER", nullable: false),
                    suppressed = table.Column<int>(type: "INTEGER", nullable: false),
                    smallest_group = table.Column<int>(type: "INTEGER", nullable: true),
                    files = table.Column<string>(type: "TEXT", nullable: true),
                    error = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_research_extracts", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "research_studies",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", nullable: false),
                    purpose = table.Column<string>(type: "TEXT", nullable: false),
                    authorised_by = table.Column<string>(type: "TEXT", nullable: false),
                    authorisation = table.Column<string>(type: "TEXT", nullable: false),
                    dataset = table.Column<string>(type: "TEXT", nullable: false),
                    valid_from = table.Column<long>(type: "INTEGER", nullable: false),
                    valid_until = table.Column<long>(type: "INTEGER", nullable: false),
                    min_group_size = table.Column<int>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    revoked_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_research_studies", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_research_extracts_status_requested_at",
                table: "research_extracts",
                columns: new[] { "status", "requested_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "research_extracts");

            migrationBuilder.DropTable(
                name: "research_studies");

            migrationBuilder.DropColumn(
                name: "oppose_research",
                table: "records");
        }
    }
}
