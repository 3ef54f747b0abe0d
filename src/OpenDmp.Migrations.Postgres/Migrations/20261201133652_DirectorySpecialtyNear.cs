using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class DirectorySpecialtyNear : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_practitioner_activities_skill_code_postal_code",
                table: "practitioner_activities");

            migrationBuilder.CreateIndex(
                name: "IX_practitioner_activities_skill_code_latitude_longitude",
                table: "practitioner_activities",
                columns: new[] { "skill_code", "latitude", "longitude" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_practitioner_activities_skill_code_latitude_longitude",
                table: "practitioner_activities");

            migrationBuilder.CreateIndex(
                name: "IX_practitioner_activities_skill_code_postal_code",
                table: "practitioner_activities",
                columns: new[] { "skill_code", "postal_code" });
        }
    }
}
