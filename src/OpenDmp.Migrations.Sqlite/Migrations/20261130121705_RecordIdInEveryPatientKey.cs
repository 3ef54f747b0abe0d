using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OpenDmp.Migrations.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class RecordIdInEveryPatientKey : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_representative_accounts",
                table: "representative_accounts");

            migrationBuilder.DropIndex(
                name: "IX_representative_accounts_record_id",
                table: "representative_accounts");

            migrationBuilder.DropPrimaryKey(
                name: "PK_patient_sessions",
                table: "patient_sessions");

            migrationBuilder.DropIndex(
                name: "IX_patient_sessions_record_id",
                table: "patient_sessions");

            migrationBuilder.DropPrimaryKey(
                name: "PK_outbound_recipients",
                table: "outbound_recipients");

            migrationBuilder.DropPrimaryKey(
                name: "PK_outbound_messages",
                table: "outbound_messages");

            migrationBuilder.DropIndex(
                name: "IX_outbound_messages_message_id",
                table: "outbound_messages");

            migrationBuilder.DropIndex(
                name: "IX_grants_id",
                table: "grants");

            migrationBuilder.AddColumn<string>(
                name: "record_id",
                table: "outbound_recipients",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AlterColumn<string>(
                name: "record_id",
                table: "outbound_messages",
                type: "TEXT",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "TEXT",
                oldNullable: true);

            // Each recipient row takes its message's record (the distribution key).
            migrationBuilder.Sql("UPDATE outbound_recipients SET record_id = (SELECT m.record_id FROM outbound_messages m WHERE m.id = outbound_recipients.outbound_id) WHERE EXISTS (SELECT 1 FROM outbound_messages m WHERE m.id = outbound_recipients.outbound_id)");

            migrationBuilder.AddPrimaryKey(
                name: "PK_representative_accounts",
                table: "representative_accounts",
                columns: new[] { "record_id", "id" });

            migrationBuilder.AddPrimaryKey(
                name: "PK_patient_sessions",
                table: "patient_sessions",
                columns: new[] { "record_id", "token_hash" });

            migrationBuilder.AddPrimaryKey(
                name: "PK_outbound_recipients",
                table: "outbound_recipients",
                columns: new[] { "record_id", "outbound_id", "address" });

            migrationBuilder.AddPrimaryKey(
                name: "PK_outbound_messages",
                table: "outbound_messages",
                columns: new[] { "record_id", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_representative_accounts_id",
                table: "representative_accounts",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "IX_patient_sessions_token_hash",
                table: "patient_sessions",
                column: "token_hash");

            migrationBuilder.CreateIndex(
                name: "IX_outbound_recipients_outbound_id",
                table: "outbound_recipients",
                column: "outbound_id");

            migrationBuilder.CreateIndex(
                name: "IX_outbound_messages_id",
                table: "outbound_messages",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "IX_outbound_messages_message_id",
                table: "outbound_messages",
                column: "message_id");

            migrationBuilder.CreateIndex(
                name: "IX_outbound_messages_record_id_message_id",
                table: "outbound_messages",
                columns: new[] { "record_id", "message_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_grants_id",
                table: "grants",
                column: "id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_representative_accounts",
                table: "representative_accounts");

            migrationBuilder.DropIndex(
                name: "IX_representative_accounts_id",
                table: "representative_accounts");

            migrationBuilder.DropPrimaryKey(
                name: "PK_patient_sessions",
                table: "patient_sessions");

            migrationBuilder.DropIndex(
                name: "IX_patient_sessions_token_hash",
                table: "patient_sessions");

            migrationBuilder.DropPrimaryKey(
                name: "PK_outbound_recipients",
                table: "outbound_recipients");

            migrationBuilder.DropIndex(
                name: "IX_outbound_recipients_outbound_id",
                table: "outbound_recipients");

            migrationBuilder.DropPrimaryKey(
                name: "PK_outbound_messages",
                table: "outbound_messages");

            migrationBuilder.DropIndex(
                name: "IX_outbound_messages_id",
                table: "outbound_messages");

            migrationBuilder.DropIndex(
                name: "IX_outbound_messages_message_id",
                table: "outbound_messages");

            migrationBuilder.DropIndex(
                name: "IX_outbound_messages_record_id_message_id",
                table: "outbound_messages");

            migrationBuilder.DropIndex(
                name: "IX_grants_id",
                table: "grants");

            migrationBuilder.DropColumn(
                name: "record_id",
                table: "outbound_recipients");

            migrationBuilder.AlterColumn<string>(
                name: "record_id",
                table: "outbound_messages",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "TEXT");

            migrationBuilder.AddPrimaryKey(
                name: "PK_representative_accounts",
                table: "representative_accounts",
                column: "id");

            migrationBuilder.AddPrimaryKey(
                name: "PK_patient_sessions",
                table: "patient_sessions",
                column: "token_hash");

            migrationBuilder.AddPrimaryKey(
                name: "PK_outbound_recipients",
                table: "outbound_recipients",
                columns: new[] { "outbound_id", "address" });

            migrationBuilder.AddPrimaryKey(
                name: "PK_outbound_messages",
                table: "outbound_messages",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "IX_representative_accounts_record_id",
                table: "representative_accounts",
                column: "record_id");

            migrationBuilder.CreateIndex(
                name: "IX_patient_sessions_record_id",
                table: "patient_sessions",
                column: "record_id");

            migrationBuilder.CreateIndex(
                name: "IX_outbound_messages_message_id",
                table: "outbound_messages",
                column: "message_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_grants_id",
                table: "grants",
                column: "id",
                unique: true);
        }
    }
}
