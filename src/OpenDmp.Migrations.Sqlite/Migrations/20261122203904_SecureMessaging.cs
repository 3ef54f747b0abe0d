using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class SecureMessaging : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "messaging_certificate",
                table: "professionals",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "inbound_messages",
                columns: table => new
                {
                    key = table.Column<string>(type: "TEXT", nullable: false),
                    message_id = table.Column<string>(type: "TEXT", nullable: false),
                    kind = table.Column<string>(type: "TEXT", nullable: false),
                    outcome = table.Column<string>(type: "TEXT", nullable: false),
                    sender_professional_id = table.Column<string>(type: "TEXT", nullable: true),
                    sender_address = table.Column<string>(type: "TEXT", nullable: true),
                    record_id = table.Column<string>(type: "TEXT", nullable: true),
                    submission_set_id = table.Column<string>(type: "TEXT", nullable: true),
                    detail = table.Column<string>(type: "TEXT", nullable: true),
                    processed_at = table.Column<long>(type: "INTEGER", nullable: false),
                    reply_sent_at = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_inbound_messages", x => x.key);
                });

            migrationBuilder.CreateTable(
                name: "outbound_messages",
                columns: table => new
                {
                    id = table.Column<string>(type: "TEXT", nullable: false),
                    message_id = table.Column<string>(type: "TEXT", nullable: false),
                    sender_professional_id = table.Column<string>(type: "TEXT", nullable: false),
                    record_id = table.Column<string>(type: "TEXT", nullable: true),
                    document_count = table.Column<int>(type: "INTEGER", nullable: false),
                    deposit = table.Column<bool>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_outbound_messages", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "outbound_recipients",
                columns: table => new
                {
                    outbound_id = table.Column<string>(type: "TEXT", nullable: false),
                    address = table.Column<string>(type: "TEXT", nullable: false),
                    professional_id = table.Column<string>(type: "TEXT", nullable: true),
                    status = table.Column<string>(type: "TEXT", nullable: false),
                    status_at = table.Column<long>(type: "INTEGER", nullable: false),
                    detail = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_outbound_recipients", x => new { x.outbound_id, x.address });
                });

            migrationBuilder.CreateIndex(
                name: "IX_inbound_messages_processed_at",
                table: "inbound_messages",
                column: "processed_at");

            migrationBuilder.CreateIndex(
                name: "IX_outbound_messages_message_id",
                table: "outbound_messages",
                column: "message_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_outbound_messages_sender_professional_id",
                table: "outbound_messages",
                column: "sender_professional_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "inbound_messages");

            migrationBuilder.DropTable(
                name: "outbound_messages");

            migrationBuilder.DropTable(
                name: "outbound_recipients");

            migrationBuilder.DropColumn(
                name: "messaging_certificate",
                table: "professionals");
        }
    }
}
