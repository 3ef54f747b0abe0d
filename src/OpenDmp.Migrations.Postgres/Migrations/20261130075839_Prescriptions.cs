using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
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
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "prescriber_id",
                table: "documents",
                type: "text",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "clinical_entries",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    id = table.Column<string>(type: "text", nullable: false),
                    resource_type = table.Column<string>(type: "character varying(40)", maxLength: 40, nullable: false),
                    document_id = table.Column<string>(type: "text", nullable: false),
                    code_system = table.Column<string>(type: "text", nullable: true),
                    code = table.Column<string>(type: "text", nullable: true),
                    code_display = table.Column<string>(type: "text", nullable: true),
                    date = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    group_id = table.Column<string>(type: "text", nullable: true),
                    request_id = table.Column<string>(type: "text", nullable: true),
                    quantity = table.Column<double>(type: "double precision", nullable: true),
                    unit = table.Column<string>(type: "text", nullable: true),
                    repeats = table.Column<int>(type: "integer", nullable: true),
                    valid_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    author_id = table.Column<string>(type: "text", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    resource_json = table.Column<string>(type: "text", nullable: false)
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
