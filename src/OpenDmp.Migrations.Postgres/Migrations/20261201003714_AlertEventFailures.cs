using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
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
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "failed_at",
                table: "record_events",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "failure",
                table: "record_events",
                type: "text",
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
