using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Subscriptions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "subscription_events",
                columns: table => new
                {
                    subscription_id = table.Column<string>(type: "text", nullable: false),
                    number = table.Column<long>(type: "bigint", nullable: false),
                    record_id = table.Column<string>(type: "text", nullable: false),
                    focus = table.Column<string>(type: "text", nullable: false),
                    source_id = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_subscription_events", x => new { x.record_id, x.subscription_id, x.number });
                });

            migrationBuilder.CreateTable(
                name: "subscriptions",
                columns: table => new
                {
                    id = table.Column<string>(type: "text", nullable: false),
                    owner_id = table.Column<string>(type: "text", nullable: false),
                    topic = table.Column<string>(type: "text", nullable: false),
                    record_filter = table.Column<string>(type: "text", nullable: true),
                    endpoint = table.Column<string>(type: "text", nullable: false),
                    secret = table.Column<byte[]>(type: "bytea", nullable: false),
                    status = table.Column<string>(type: "text", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: true),
                    event_count = table.Column<long>(type: "bigint", nullable: false),
                    delivered_through = table.Column<long>(type: "bigint", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    next_attempt_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_error = table.Column<string>(type: "text", nullable: true),
                    failing_since = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    max_count = table.Column<int>(type: "integer", nullable: false),
                    timeout_seconds = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_subscriptions", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_subscription_events_record_id_subscription_id_source_id_foc~",
                table: "subscription_events",
                columns: new[] { "record_id", "subscription_id", "source_id", "focus" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_subscription_events_subscription_id_number",
                table: "subscription_events",
                columns: new[] { "subscription_id", "number" });

            migrationBuilder.CreateIndex(
                name: "IX_subscriptions_owner_id",
                table: "subscriptions",
                column: "owner_id");

            migrationBuilder.CreateIndex(
                name: "IX_subscriptions_record_filter",
                table: "subscriptions",
                column: "record_filter");

            migrationBuilder.CreateIndex(
                name: "IX_subscriptions_status_topic",
                table: "subscriptions",
                columns: new[] { "status", "topic" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "subscription_events");

            migrationBuilder.DropTable(
                name: "subscriptions");
        }
    }
}
