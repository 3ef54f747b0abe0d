using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class NotificationChannels : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "language",
                table: "patient_accounts",
                type: "character varying(5)",
                maxLength: 5,
                nullable: false,
                defaultValue: "fr");

            migrationBuilder.AddColumn<string>(
                name: "phone",
                table: "patient_accounts",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "due_at",
                table: "notifications",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "sms_status",
                table: "notifications",
                type: "text",
                nullable: false,
                defaultValue: "not-chosen");

            migrationBuilder.CreateTable(
                name: "notification_choices",
                columns: table => new
                {
                    record_id = table.Column<string>(type: "text", nullable: false),
                    @event = table.Column<string>(name: "event", type: "character varying(40)", maxLength: 40, nullable: false),
                    channel = table.Column<string>(type: "character varying(10)", maxLength: 10, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_notification_choices", x => new { x.record_id, x.@event, x.channel });
                });

            // The former single choice becomes rows; every account keeps its reminders by e-mail.
            migrationBuilder.Sql("INSERT INTO notification_choices (record_id, event, channel) SELECT record_id, 'first-access', 'email' FROM patient_accounts WHERE notify_first_access");
            migrationBuilder.Sql("INSERT INTO notification_choices (record_id, event, channel) SELECT record_id, 'reminder', 'email' FROM patient_accounts");

            migrationBuilder.DropColumn(
                name: "notify_first_access",
                table: "patient_accounts");

            migrationBuilder.CreateIndex(
                name: "IX_notifications_sms_status",
                table: "notifications",
                column: "sms_status");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "notification_choices");

            migrationBuilder.DropIndex(
                name: "IX_notifications_sms_status",
                table: "notifications");

            migrationBuilder.DropColumn(
                name: "language",
                table: "patient_accounts");

            migrationBuilder.DropColumn(
                name: "phone",
                table: "patient_accounts");

            migrationBuilder.DropColumn(
                name: "due_at",
                table: "notifications");

            migrationBuilder.DropColumn(
                name: "sms_status",
                table: "notifications");

            migrationBuilder.AddColumn<bool>(
                name: "notify_first_access",
                table: "patient_accounts",
                type: "boolean",
                nullable: false,
                defaultValue: false);
        }
    }
}
