using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenDmp.Core.Content;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Storage;

namespace OpenDmp.Tests.Infrastructure;

/// <summary>Hostile inputs as an attacker builds them: deep XML, entity bombs, decompression bombs.</summary>
public static class Hostile
{
    /// <summary>A CDA R2 document whose narrative nests <paramref name="depth"/> content elements.</summary>
    public static byte[] DeepCda(int depth)
    {
        var sb = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>Compte rendu</title><component><structuredBody><component><section><title>Examen</title><text>");
        sb.Insert(sb.Length, "<content>", depth);
        sb.Append('x');
        sb.Insert(sb.Length, "</content>", depth);
        sb.Append("</text></section></component></structuredBody></component></ClinicalDocument>");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>The "billion laughs" entity expansion.</summary>
    public static byte[] BillionLaughs() => Encoding.UTF8.GetBytes(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        + "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\"><!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        + "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">]><ClinicalDocument xmlns=\"urn:hl7-org:v3\">&lol5;</ClinicalDocument>");

    /// <summary>
    /// A PDF of <paramref name="streams"/> Flate streams, each inflating to <paramref name="inflatedBytes"/>
    /// (zeros compress about a thousand times): about 2 MB on disk for 2,000 streams of 1 MB.
    /// </summary>
    public static byte[] FlateBombPdf(int streams = 2_000, int inflatedBytes = 1024 * 1024)
    {
        byte[] compressed;
        using (var ms = new MemoryStream())
        {
            using (var z = new ZLibStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                z.Write(new byte[inflatedBytes]);
            }

            compressed = ms.ToArray();
        }

        using var pdf = new MemoryStream();
        var header = Encoding.ASCII.GetBytes("%PDF-1.4\n");
        pdf.Write(header);
        for (var i = 0; i < streams; i++)
        {
            pdf.Write(Encoding.ASCII.GetBytes($"{i + 1} 0 obj\n<< /Length {compressed.Length} /Filter /FlateDecode >>\nstream\n"));
            pdf.Write(compressed);
            pdf.Write("\nendstream\nendobj\n"u8);
        }

        pdf.Write("trailer\n<< /Size 1 >>\n%%EOF\n"u8);
        return pdf.ToArray();
    }

    /// <summary>A ZIP whose one entry inflates to <paramref name="inflatedBytes"/> of zeros.</summary>
    public static byte[] ZipBomb(string entryName, long inflatedBytes)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            var entry = zip.CreateEntry(entryName, CompressionLevel.SmallestSize);
            using var s = entry.Open();
            var chunk = new byte[1024 * 1024];
            for (long written = 0; written < inflatedBytes; written += chunk.Length)
            {
                s.Write(chunk, 0, (int)Math.Min(chunk.Length, inflatedBytes - written));
            }
        }

        return ms.ToArray();
    }

    /// <summary>JSON nested <paramref name="depth"/> levels inside a resource.</summary>
    public static string DeepJson(int depth)
    {
        var sb = new StringBuilder("{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[{\"resource\":{\"resourceType\":\"Parameters\",\"parameter\":[");
        for (var i = 0; i < depth; i++)
        {
            sb.Append("{\"name\":\"p\",\"part\":[");
        }

        for (var i = 0; i < depth; i++)
        {
            sb.Append("]}");
        }

        sb.Append("]}}]}");
        return sb.ToString();
    }

    /// <summary>
    /// Stores a document as an earlier version of OpenDMP (or a restore) may have left it, without
    /// the ingest checks: what the readers and renderers must survive.
    /// </summary>
    public static async Task<string> StoreUncheckedAsync(RunningServer server, string recordId, byte[] content, string contentType, string title = "Document", string classCode = "11", string typeCode = "11488-4")
    {
        var id = OpenDmp.Core.Common.Ids.New();
        await server.WithScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<DmpDbContext>();
            var store = sp.GetRequiredService<IContentStore>();
            await store.PutAsync(db, recordId, id, content, CancellationToken.None);
            var doc = new Hl7.Fhir.Model.DocumentReference
            {
                Id = id,
                Status = Hl7.Fhir.Model.DocumentReferenceStatus.Current,
                Type = new Hl7.Fhir.Model.CodeableConcept(Terminology.Loinc, typeCode, "Document"),
                Subject = new Hl7.Fhir.Model.ResourceReference("Patient/" + recordId),
                Description = title,
                Content = [new Hl7.Fhir.Model.DocumentReference.ContentComponent { Attachment = new Hl7.Fhir.Model.Attachment { ContentType = contentType, Url = "Binary/" + id, Title = title } }],
            };
            db.Documents.Add(new DocumentEntry
            {
                RecordId = recordId,
                Id = id,
                MasterIdentifier = "urn:uuid:" + Guid.NewGuid(),
                Status = "current",
                TypeCode = typeCode,
                ClassCode = classCode,
                ContentType = contentType,
                Size = content.LongLength,
                Sha1 = string.Empty,
                ContentKey = id,
                Date = DateTimeOffset.UtcNow,
                CreatedAt = DateTimeOffset.UtcNow,
                LastUpdated = DateTimeOffset.UtcNow,
                VersionId = 1,
                Title = title,
                ResourceJson = OpenDmp.Core.Fhir.FhirJson.Serialize(doc),
            });
            await db.SaveChangesAsync();
            return 0;
        });
        return id;
    }
}
