using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class MergesAndNetworkRecords : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "merged_into",
                table: "records",
                type: "text",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "network_documents",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    network_id = table.Column<string>(type: "text", nullable: false),
                    kind = table.Column<string>(type: "text", nullable: false),
                    title = table.Column<string>(type: "text", nullable: false),
                    content_type = table.Column<string>(type: "text", nullable: false),
                    size = table.Column<long>(type: "bigint", nullable: false),
                    author_id = table.Column<string>(type: "text", nullable: false),
                    author_display = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    sealed_content = table.Column<byte[]>(type: "bytea", nullable: false),
                    published_document_id = table.Column<string>(type: "text", nullable: true),
                    published_submission_set_id = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_network_documents", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "network_enrolments",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    network_id = table.Column<string>(type: "text", nullable: false),
                    enrolled_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    enrolled_by = table.Column<string>(type: "text", nullable: false),
                    withdrawn_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    withdrawn_by = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_network_enrolments", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "record_merges",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    survivor_id = table.Column<string>(type: "text", nullable: false),
                    pair_id = table.Column<string>(type: "text", nullable: true),
                    previous_status = table.Column<string>(type: "text", nullable: true),
                    merged_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    merged_by = table.Column<string>(type: "text", nullable: false),
                    unmerged_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    unmerged_by = table.Column<string>(type: "text", nullable: true),
                    moved = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_record_merges", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_records_merged_into",
                table: "records",
                column: "merged_into");

            migrationBuilder.CreateIndex(
                name: "IX_network_documents_record_id_network_id_created_at",
                table: "network_documents",
                columns: new[] { "record_id", "network_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "IX_network_enrolments_record_id_network_id",
                table: "network_enrolments",
                columns: new[] { "record_id", "network_id" });

            migrationBuilder.CreateIndex(
                name: "IX_record_merges_id",
                table: "record_merges",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "IX_record_merges_merged_at",
                table: "record_merges",
                column: "merged_at");

            migrationBuilder.CreateIndex(
                name: "IX_record_merges_survivor_id",
                table: "record_merges",
                column: "survivor_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "network_documents");

            migrationBuilder.DropTable(
                name: "network_enrolments");

            migrationBuilder.DropTable(
                name: "record_merges");

            migrationBuilder.DropIndex(
                name: "IX_records_merged_into",
                table: "records");

            migrationBuilder.DropColumn(
                name: "merged_into",
                table: "records");
        }
    }
}
