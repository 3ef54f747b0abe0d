using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class AlertEventFailures : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "attempts",
                table: "record_events",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<long>(
                name: "failed_at",
                table: "record_events",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "failure",
                table: "record_events",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "attempts",
                table: "record_events");

            migrationBuilder.DropColumn(
                name: "failed_at",
                table: "record_events");

            migrationBuilder.DropColumn(
                name: "failure",
                table: "record_events");
        }
    }
}
