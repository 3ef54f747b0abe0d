using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
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
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateTable(
                name: "research_extracts",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    study_id = table.Column<string>(type: "text", nullable: false),
                    status = table.Column<string>(type: "text", nullable: false),
                    requested_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    completed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    token_hash = table.Column<string>(type: "text", nullable: false),
                    considered = table.Column<int>(type: "integer", nullable: false),
                    included = table.Column<int>(type: "integer", nullable: false),
                    opted_out = table.Column<int>(type: "integer", nullable: false),
                    suppressed = table.Column<int>(type: "integer", nullable: false),
                    smallest_group = table.Column<int>(type: "integer", nullable: true),
                    files = table.Column<string>(type: "text", nullable: true),
                    error = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_research_extracts", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "research_studies",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: false),
                    purpose = table.Column<string>(type: "text", nullable: false),
                    authorised_by = table.Column<string>(type: "text", nullable: false),
                    authorisation = table.Column<string>(type: "text", nullable: false),
                    dataset = table.Column<string>(type: "text", nullable: false),
                    valid_from = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    valid_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    min_group_size = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    revoked_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
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
