using System.Net;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;
using OpenDmp.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace OpenDmp.Tests.Integration;

/// <summary>Content is encrypted at rest under a per-record key; destroying the key makes it unreadable (crypto-shredding).</summary>
public abstract class EncryptionAtRestTests(IStorageUnderTest storage) : ServerTestBase(storage)
{
    [Fact]
    public async Task Content_IsEncryptedAtRest_AndShreddedWithItsRecordKey()
    {
        var gp = await Server.AddProfessionalAsync();
        var patient = await Server.AddPatientAsync(gp);
        var http = Server.Http(gp.Certificate);
        const string Secret = "Diagnostic confidentiel: marqueur-7f3a9c";
        var bundle = SubmissionBuilder.Build(patient.Reference, gp.Rpps, gp.Display, [new DocumentToSubmit(Encoding.UTF8.GetBytes(Secret), "text/plain", "Note", FormatCode: "urn:ihe:iti:xds-sd:text:2008")]);
        using var created = await http.PostAsync("/fhir", FhirAssert.Json(bundle));
        var docId = (await FhirAssert.BundleAsync(created)).Entry[1].Response.Location.Split('/')[1];

        // What is stored, file or database row, is not the plaintext.
        byte[] stored;
        if (Server.Config.TryGetValue("Database:Provider", out var provider) && provider == "Postgres")
        {
            stored = await Server.WithScopeAsync(sp => sp.GetRequiredService<DmpDbContext>().ContentBlobs.Where(b => b.RecordId == patient.Id && b.Key == docId).Select(b => b.Data).SingleAsync());
        }
        else
        {
            stored = await File.ReadAllBytesAsync(Path.Combine(Server.Data.Content, patient.Id, docId));
        }

        Assert.DoesNotContain("marqueur-7f3a9c", Encoding.UTF8.GetString(stored), StringComparison.Ordinal);
        Assert.Equal(Secret.Length + 28, stored.Length);
        Assert.Equal(Secret, await FhirAssert.RetrieveTextAsync(http, $"{Server.FhirBase}/Binary/{docId}"));

        // Destroying the record's key makes the content unreadable; the metadata remains.
        await Server.WithScopeAsync(async sp =>
        {
            await sp.GetRequiredService<KeyRing>().DestroyAsync(sp.GetRequiredService<DmpDbContext>(), patient.Id, CancellationToken.None);
            return 0;
        });
        using var gone = await http.GetAsync($"/fhir/Binary/{docId}");
        await FhirAssert.OutcomeAsync(gone, HttpStatusCode.Gone, "no longer available");
        using var meta = await http.GetAsync($"/fhir/DocumentReference/{docId}");
        Assert.Equal(HttpStatusCode.OK, meta.StatusCode);
    }

    [Fact]
    public void SealedBox_DetectsTampering()
    {
        var key = new byte[32];
        var box = KeyRing.Seal(key, "abc"u8, "r/k"u8);
        Assert.Equal("abc", Encoding.UTF8.GetString(KeyRing.Open(key, box, "r/k"u8)!));
        Assert.Null(KeyRing.Open(key, box, "r/other"u8));
        box[^1] ^= 1;
        Assert.Null(KeyRing.Open(key, box, "r/k"u8));
    }
}

public sealed class EncryptionAtRestTests_Sqlite() : EncryptionAtRestTests(new SqliteStorage());

[Collection(PostgresCollection.Name)]
public sealed class EncryptionAtRestTests_Postgres(PostgresCluster pg) : EncryptionAtRestTests(new PostgresStorage(pg, "crypt"));
