using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class AuditAnchorsAndRevocation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "certificates_revoked_before",
                table: "professionals",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "deactivated_at",
                table: "professionals",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "format",
                table: "audit_checkpoints",
                type: "integer",
                nullable: false,
                defaultValue: 1);

            migrationBuilder.AddColumn<string>(
                name: "previous",
                table: "audit_checkpoints",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "root",
                table: "audit_checkpoints",
                type: "text",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "audit_checkpoint_heads",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    checkpoint_id = table.Column<long>(type: "bigint", nullable: false),
                    seq = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_audit_checkpoint_heads", x => new { x.record_id, x.checkpoint_id });
                });

            migrationBuilder.CreateTable(
                name: "certificate_revocations",
                columns: table => new
                {
                    serial = table.Column<string>(type: "text", nullable: false),
                    rpps = table.Column<string>(type: "text", nullable: true),
                    revoked_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_certificate_revocations", x => x.serial);
                });

            migrationBuilder.CreateTable(
                name: "issued_certificates",
                columns: table => new
                {
                    serial = table.Column<string>(type: "text", nullable: false),
                    rpps = table.Column<string>(type: "text", nullable: true),
                    thumbprint = table.Column<string>(type: "text", nullable: false),
                    not_before = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    not_after = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    issued_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_issued_certificates", x => x.serial);
                });

            migrationBuilder.CreateIndex(
                name: "IX_issued_certificates_rpps",
                table: "issued_certificates",
                column: "rpps");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "audit_checkpoint_heads");

            migrationBuilder.DropTable(
                name: "certificate_revocations");

            migrationBuilder.DropTable(
                name: "issued_certificates");

            migrationBuilder.DropColumn(
                name: "certificates_revoked_before",
                table: "professionals");

            migrationBuilder.DropColumn(
                name: "deactivated_at",
                table: "professionals");

            migrationBuilder.DropColumn(
                name: "format",
                table: "audit_checkpoints");

            migrationBuilder.DropColumn(
                name: "previous",
                table: "audit_checkpoints");

            migrationBuilder.DropColumn(
                name: "root",
                table: "audit_checkpoints");
        }
    }
}
