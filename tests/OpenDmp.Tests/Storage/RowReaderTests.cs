using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Access;
using OpenDmp.Core.Documents;
using Record = OpenDmp.Core.Records.Record;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Storage;

/// <summary>
/// <see cref="RowReader{T}"/> reads back what EF wrote, every mapped column with its conversion
/// (UTC ticks on SQLite, enums as text): each property of the entity is given a value other than its
/// default, so a column the reader skips or converts wrongly differs from EF's own read.
/// </summary>
public abstract class RowReaderTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    [Fact]
    public async Task EveryColumn_ReadsBackAsEfReadsIt()
    {
        var recordId = "rowreader-" + Guid.NewGuid().ToString("N")[..12];
        var record = EntityValues.Filled(new Record { RecordId = recordId }, 1);
        record.RecordId = recordId;
        var document = EntityValues.Filled(new DocumentEntry { RecordId = recordId, Id = "x", MasterIdentifier = "x", Status = "current", TypeCode = "x", ContentType = "x", Sha1 = "x", ContentKey = "x", ResourceJson = "{}" }, 2);
        document.RecordId = recordId;
        var grant = EntityValues.Filled(new Grant { RecordId = recordId, Id = "x", Mode = "x", HolderId = "x", DeclaredBy = "x" }, 3);
        grant.RecordId = recordId;

        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            db.Records.Add(record);
            db.Documents.Add(document);
            db.Grants.Add(grant);
            await db.SaveChangesAsync();
            return 0;
        });

        await Server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            Assert.Equal(Json(await db.Records.AsNoTracking().SingleAsync(x => x.RecordId == recordId)), Json(await ReadAsync<Record>(db, recordId)));
            Assert.Equal(Json(await db.Documents.AsNoTracking().SingleAsync(x => x.RecordId == recordId)), Json(await ReadAsync<DocumentEntry>(db, recordId)));
            Assert.Equal(Json(await db.Grants.AsNoTracking().SingleAsync(x => x.RecordId == recordId)), Json(await ReadAsync<Grant>(db, recordId)));

            // And the values are the ones written (not both reads losing the same column).
            Assert.Equal(Json(document), Json(await ReadAsync<DocumentEntry>(db, recordId)));
            return 0;
        });
    }

    private static async Task<T> ReadAsync<T>(DmpDbContext db, string recordId)
        where T : class
    {
        var reader = new RowReader<T>(db.Model);
        await db.Database.OpenConnectionAsync();
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.CommandText = $"SELECT {reader.SelectList("t")} FROM \"{reader.Table}\" AS t WHERE t.\"{reader.Column("RecordId")}\" = @r";
            var p = command.CreateParameter();
            p.ParameterName = "@r";
            p.Value = recordId;
            command.Parameters.Add(p);
            await using var rows = await command.ExecuteReaderAsync();
            Assert.True(await rows.ReadAsync());
            var entity = reader.Read(rows, 0);
            Assert.False(await rows.ReadAsync());
            return entity;
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    private static string Json<T>(T value) => JsonSerializer.Serialize(value);
}

/// <summary>Gives every settable property of an entity a value other than its type's default.</summary>
public static class EntityValues
{
    public static T Filled<T>(T entity, int seed)
        where T : class
    {
        var time = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.Zero).AddTicks(10 * (123_456 + seed)); // whole microseconds: PostgreSQL keeps no finer
        foreach (var property in typeof(T).GetProperties().Where(p => p.CanWrite))
        {
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            object? value = type switch
            {
                _ when type == typeof(string) => $"{property.Name}-{seed}-{Guid.NewGuid():N}"[..Math.Min(40, property.Name.Length + 34)],
                _ when type == typeof(bool) => true,
                _ when type == typeof(int) => 7 + seed,
                _ when type == typeof(long) => 123_456_789L + seed,
                _ when type == typeof(DateTimeOffset) => time,
                _ when type.IsEnum => Enum.GetValues(type).Cast<object>().Last(),
                _ => null,
            };
            if (value is not null)
            {
                property.SetValue(entity, value);
            }
        }

        return entity;
    }
}

public sealed class RowReaderTests_Sqlite() : RowReaderTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class RowReaderTests_Postgres(PostgresCluster pg) : RowReaderTests(new PostgresStorage(pg, "rowreader"));
