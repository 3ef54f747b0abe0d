using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class ObservationDocument : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "document_id",
                table: "observations",
                type: "text",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_observations_record_id_document_id",
                table: "observations",
                columns: new[] { "record_id", "document_id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_observations_record_id_document_id",
                table: "observations");

            migrationBuilder.DropColumn(
                name: "document_id",
                table: "observations");
        }
    }
}
