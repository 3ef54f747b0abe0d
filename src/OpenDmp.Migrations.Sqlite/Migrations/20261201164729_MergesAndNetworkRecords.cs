using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
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
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "network_documents",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    network_id = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", nullable: false),
                    title = table.Column<string>(type: "TEXT", nullable: false),
                    content_type = table.Column<string>(type: "TEXT", nullable: false),
                    size = table.Column<long>(type: "INTEGER", nullable: false),
                    author_id = table.Column<string>(type: "TEXT", nullable: false),
                    author_display = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    sealed_content = table.Column<byte[]>(type: "BLOB", nullable: false),
                    published_document_id = table.Column<string>(type: "TEXT", nullable: true),
                    published_submission_set_id = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_network_documents", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "network_enrolments",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    network_id = table.Column<string>(type: "TEXT", nullable: false),
                    enrolled_at = table.Column<long>(type: "INTEGER", nullable: false),
                    enrolled_by = table.Column<string>(type: "TEXT", nullable: false),
                    withdrawn_at = table.Column<long>(type: "INTEGER", nullable: true),
                    withdrawn_by = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_network_enrolments", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateTable(
                name: "record_merges",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    survivor_id = table.Column<string>(type: "TEXT", nullable: false),
                    pair_id = table.Column<string>(type: "TEXT", nullable: true),
                    previous_status = table.Column<string>(type: "TEXT", nullable: true),
                    merged_at = table.Column<long>(type: "INTEGER", nullable: false),
                    merged_by = table.Column<string>(type: "TEXT", nullable: false),
                    unmerged_at = table.Column<long>(type: "INTEGER", nullable: true),
                    unmerged_by = table.Column<string>(type: "TEXT", nullable: true),
                    moved = table.Column<string>(type: "TEXT", nullable: false)
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
