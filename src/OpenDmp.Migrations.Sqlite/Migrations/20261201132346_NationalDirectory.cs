using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class NationalDirectory : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "content_hash",
                table: "professionals",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "deactivated_by_import",
                table: "professionals",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "source",
                table: "professionals",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "updated_at",
                table: "professionals",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "address_line",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "commune_code",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "content_hash",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "deactivated_at",
                table: "organizations",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "department_code",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "finess_legal_entity",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "latitude",
                table: "organizations",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "longitude",
                table: "organizations",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "phone",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "position_exact",
                table: "organizations",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "postal_code",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "source",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "type_label",
                table: "organizations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "updated_at",
                table: "organizations",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "directory_places",
                columns: table => new
                {
                    commune_code = table.Column<string>(type: "TEXT", nullable: false),
                    postal_code = table.Column<string>(type: "TEXT", nullable: false),
                    city = table.Column<string>(type: "TEXT", nullable: false),
                    department_code = table.Column<string>(type: "TEXT", nullable: true),
                    latitude = table.Column<double>(type: "REAL", nullable: false),
                    longitude = table.Column<double>(type: "REAL", nullable: false),
                    sources = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_directory_places", x => x.commune_code);
                });

            migrationBuilder.CreateTable(
                name: "practitioner_activities",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    professional_id = table.Column<string>(type: "TEXT", nullable: false),
                    profession_code = table.Column<string>(type: "TEXT", nullable: true),
                    profession_label = table.Column<string>(type: "TEXT", nullable: true),
                    skill_type = table.Column<string>(type: "TEXT", nullable: true),
                    skill_code = table.Column<string>(type: "TEXT", nullable: true),
                    skill_label = table.Column<string>(type: "TEXT", nullable: true),
                    practice_mode = table.Column<string>(type: "TEXT", nullable: true),
                    sector_code = table.Column<string>(type: "TEXT", nullable: true),
                    site_name = table.Column<string>(type: "TEXT", nullable: true),
                    site_finess = table.Column<string>(type: "TEXT", nullable: true),
                    site_structure_id = table.Column<string>(type: "TEXT", nullable: true),
                    address_line = table.Column<string>(type: "TEXT", nullable: true),
                    postal_code = table.Column<string>(type: "TEXT", nullable: true),
                    commune_code = table.Column<string>(type: "TEXT", nullable: true),
                    city = table.Column<string>(type: "TEXT", nullable: true),
                    department_code = table.Column<string>(type: "TEXT", nullable: true),
                    phone = table.Column<string>(type: "TEXT", nullable: true),
                    latitude = table.Column<double>(type: "REAL", nullable: true),
                    longitude = table.Column<double>(type: "REAL", nullable: true),
                    position_exact = table.Column<bool>(type: "INTEGER", nullable: false),
                    content_hash = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: true),
                    ended_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_practitioner_activities", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_organizations_latitude_longitude",
                table: "organizations",
                columns: new[] { "latitude", "longitude" });

            migrationBuilder.CreateIndex(
                name: "IX_organizations_postal_code",
                table: "organizations",
                column: "postal_code");

            migrationBuilder.CreateIndex(
                name: "IX_directory_places_postal_code",
                table: "directory_places",
                column: "postal_code");

            migrationBuilder.CreateIndex(
                name: "IX_practitioner_activities_latitude_longitude",
                table: "practitioner_activities",
                columns: new[] { "latitude", "longitude" });

            migrationBuilder.CreateIndex(
                name: "IX_practitioner_activities_postal_code",
                table: "practitioner_activities",
                column: "postal_code");

            migrationBuilder.CreateIndex(
                name: "IX_practitioner_activities_professional_id",
                table: "practitioner_activities",
                column: "professional_id");

            migrationBuilder.CreateIndex(
                name: "IX_practitioner_activities_skill_code_postal_code",
                table: "practitioner_activities",
                columns: new[] { "skill_code", "postal_code" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "directory_places");

            migrationBuilder.DropTable(
                name: "practitioner_activities");

            migrationBuilder.DropIndex(
                name: "IX_organizations_latitude_longitude",
                table: "organizations");

            migrationBuilder.DropIndex(
                name: "IX_organizations_postal_code",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "content_hash",
                table: "professionals");

            migrationBuilder.DropColumn(
                name: "deactivated_by_import",
                table: "professionals");

            migrationBuilder.DropColumn(
                name: "source",
                table: "professionals");

            migrationBuilder.DropColumn(
                name: "updated_at",
                table: "professionals");

            migrationBuilder.DropColumn(
                name: "address_line",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "commune_code",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "content_hash",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "deactivated_at",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "department_code",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "finess_legal_entity",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "latitude",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "longitude",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "phone",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "position_exact",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "postal_code",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "source",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "type_label",
                table: "organizations");

            migrationBuilder.DropColumn(
                name: "updated_at",
                table: "organizations");
        }
    }
}
