using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class DirectorySearchKeyBackfillIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_professionals_search_name_missing",
                table: "professionals",
                column: "search_name",
                filter: "search_name = ''");

            migrationBuilder.CreateIndex(
                name: "ix_practitioner_activities_search_city_missing",
                table: "practitioner_activities",
                column: "search_city",
                filter: "search_city = ''");

            migrationBuilder.CreateIndex(
                name: "ix_organizations_search_name_missing",
                table: "organizations",
                column: "search_name",
                filter: "search_name = ''");

            migrationBuilder.CreateIndex(
                name: "ix_directory_places_search_city_missing",
                table: "directory_places",
                column: "search_city",
                filter: "search_city = ''");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_professionals_search_name_missing",
                table: "professionals");

            migrationBuilder.DropIndex(
                name: "ix_practitioner_activities_search_city_missing",
                table: "practitioner_activities");

            migrationBuilder.DropIndex(
                name: "ix_organizations_search_name_missing",
                table: "organizations");

            migrationBuilder.DropIndex(
                name: "ix_directory_places_search_city_missing",
                table: "directory_places");
        }
    }
}
