using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class Prescriptions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "oppose_dispensing_to_prescriber",
                table: "records",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "prescriber_id",
                table: "documents",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "clinical_entries",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "TEXT", nullable: false),
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    resource_type = table.Column<string>(type: "TEXT", maxLength: 40, nullable: false),
                    document_id = table.Column<string>(type: "TEXT", nullable: false),
                    code_system = table.Column<string>(type: "TEXT", nullable: true),
                    code = table.Column<string>(type: "TEXT", nullable: true),
                    code_display = table.Column<string>(type: "TEXT", nullable: true),
                    date = table.Column<long>(type: "INTEGER", nullable: true),
                    group_id = table.Column<string>(type: "TEXT", nullable: true),
                    request_id = table.Column<string>(type: "TEXT", nullable: true),
                    quantity = table.Column<double>(type: "REAL", nullable: true),
                    unit = table.Column<string>(type: "TEXT", nullable: true),
                    repeats = table.Column<int>(type: "INTEGER", nullable: true),
                    valid_until = table.Column<long>(type: "INTEGER", nullable: true),
                    author_id = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    resource_json = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_clinical_entries", x => new { x.record_id, x.id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_clinical_entries_group_id",
                table: "clinical_entries",
                column: "group_id");

            migrationBuilder.CreateIndex(
                name: "IX_clinical_entries_id",
                table: "clinical_entries",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "IX_clinical_entries_record_id_document_id",
                table: "clinical_entries",
                columns: new[] { "record_id", "document_id" });

            migrationBuilder.CreateIndex(
                name: "IX_clinical_entries_record_id_request_id",
                table: "clinical_entries",
                columns: new[] { "record_id", "request_id" });

            migrationBuilder.CreateIndex(
                name: "IX_clinical_entries_record_id_resource_type_date",
                table: "clinical_entries",
                columns: new[] { "record_id", "resource_type", "date" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "clinical_entries");

            migrationBuilder.DropColumn(
                name: "oppose_dispensing_to_prescriber",
                table: "records");

            migrationBuilder.DropColumn(
                name: "prescriber_id",
                table: "documents");
        }
    }
}
