using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class IdentityStatus : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateOnly>(
                name: "identity_checked_on",
                table: "patients",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "identity_document",
                table: "patients",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "identity_doubtful",
                table: "patients",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<int>(
                name: "identity_status",
                table: "patients",
                type: "INTEGER",
                nullable: false,
                defaultValue: 4); // Qualified: the records opened before the statuses were recorded were opened under the INS, which only a qualified identity carries

            migrationBuilder.AddColumn<DateOnly>(
                name: "ins_recovered_on",
                table: "patients",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "identity_checked_on",
                table: "patients");

            migrationBuilder.DropColumn(
                name: "identity_document",
                table: "patients");

            migrationBuilder.DropColumn(
                name: "identity_doubtful",
                table: "patients");

            migrationBuilder.DropColumn(
                name: "identity_status",
                table: "patients");

            migrationBuilder.DropColumn(
                name: "ins_recovered_on",
                table: "patients");
        }
    }
}
