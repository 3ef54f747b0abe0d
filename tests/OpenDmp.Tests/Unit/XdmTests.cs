using System.IO.Compression;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Hl7.Fhir.Model;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Messaging;

namespace OpenDmp.Tests.Unit;

/// <summary>XDM packages carry every piece of metadata ITI-65 needs, and refuse damaged archives.</summary>
public class XdmTests
{
    private const string Rpps = "10003456780";

    private static Bundle Sample(params DocumentToSubmit[] docs) =>
        SubmissionBuilder.Build("Patient/p1", Rpps, "Dr Paul Durand", docs.Length > 0 ? docs : [new DocumentToSubmit(SubmissionBuilder.MinimalPdf("CR"), "application/pdf", "Compte rendu")]);

    [Fact]
    public void Archive_HasTheXdmLayout()
    {
        var zip = Xdm.FromBundle(Sample(), "279035121518989", "1.2.250.1.213.1.4.8");
        using var archive = new ZipArchive(new MemoryStream(zip));
        var names = archive.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("INDEX.HTM", names);
        Assert.Contains("README.TXT", names);
        Assert.Contains("IHE_XDM/SUBSET01/METADATA.XML", names);
        Assert.Contains("IHE_XDM/SUBSET01/DOC0001.PDF", names);
        using var reader = new StreamReader(archive.GetEntry("IHE_XDM/SUBSET01/METADATA.XML")!.Open());
        var xml = reader.ReadToEnd();
        Assert.Contains("279035121518989^^^&amp;1.2.250.1.213.1.4.8&amp;ISO", xml, StringComparison.Ordinal);
        Assert.Contains("urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a", xml, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongHash_IsRefused()
    {
        var zip = Xdm.FromBundle(Sample(), "279035121518989", "1.2.250.1.213.1.4.8");
        var altered = Rewrite(zip, "IHE_XDM/SUBSET01/DOC0001.PDF", SubmissionBuilder.MinimalPdf("Autre"));
        var ex = Assert.Throws<XdmContentMismatchException>(() => Xdm.ToBundle(altered));
        Assert.Contains("does not match", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingMetadata_AndNotAZip_AreRefused()
    {
        var zip = Xdm.FromBundle(Sample(), "279035121518989", "1.2.250.1.213.1.4.8");
        Assert.Contains("METADATA.XML", Assert.Throws<XdmException>(() => Xdm.ToBundle(Rewrite(zip, "IHE_XDM/SUBSET01/METADATA.XML", null))).Message, StringComparison.Ordinal);
        Assert.Contains("ZIP", Assert.Throws<XdmException>(() => Xdm.ToBundle("not a zip"u8.ToArray())).Message, StringComparison.Ordinal);
    }

    public static Arbitrary<DocumentToSubmit> Documents() =>
        Arb.From(
            from content in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i)).Where(a => a.Length > 0)
            from title in Gen.Elements("Compte rendu", "Lettre de liaison", "Ordonnance é à ç", "Résultats <bio> & co")
            from type in Gen.Elements(Terminology.TypeCodes.Concepts.Select(c => c.Code).Take(20).ToArray())
            from cls in Gen.Elements(Terminology.ClassCodes.Concepts.Select(c => c.Code).ToArray())
            from format in Gen.Elements(Terminology.FormatCodes.Concepts.Select(c => c.Code).ToArray())
            from facility in Gen.Elements(Terminology.FacilityTypes.Concepts.Select(c => c.Code).ToArray())
            from practice in Gen.Elements(Terminology.PracticeSettings.Concepts.Select(c => c.Code).ToArray())
            from visibility in Gen.Elements<string?>(null, "MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")
            from draft in Gen.Elements(true, false)
            from mime in Gen.Elements("application/pdf", "text/plain", "image/jpeg", "application/hl7-v3+xml")
            select new DocumentToSubmit(content, mime, title, type, cls, format, facility, practice, "N", new DateTimeOffset(2026, 3, 4, 10, 11, 12, TimeSpan.Zero), null, visibility, draft));

    /// <summary>FromBundle then ToBundle gives back every field ITI-65 files (codes with their systems, labels, content, author, dates).</summary>
    [Property(MaxTest = 200, Arbitrary = [typeof(XdmTests)])]
    public void RoundTrip_KeepsTheMetadata(DocumentToSubmit[] docs)
    {
        if (docs.Length == 0)
        {
            return;
        }

        var original = Sample(docs);
        var back = Xdm.ToBundle(Xdm.FromBundle(original, "279035121518989", "1.2.250.1.213.1.4.8"));
        var a = original.Entry.Select(e => e.Resource).OfType<DocumentReference>().ToList();
        var b = back.Entry.Select(e => e.Resource).OfType<DocumentReference>().ToList();
        Assert.Equal(a.Count, b.Count);
        var binaries = back.Entry.Where(e => e.Resource is Binary).ToDictionary(e => e.FullUrl!, e => ((Binary)e.Resource).Data);
        var list = (List)back.Entry[0].Resource;
        Assert.Equal("urn:oid:1.2.250.1.213.1.4.8", list.Subject.Identifier.System);
        Assert.Equal(a.Count, list.Entry.Count);
        for (var i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].MasterIdentifier.Value, b[i].MasterIdentifier.Value);
            Assert.Equal(Key(a[i].Type.Coding[0]), Key(b[i].Type.Coding[0]));
            Assert.Equal(Key(a[i].Category[0].Coding[0]), Key(b[i].Category[0].Coding[0]));
            Assert.Equal(Key(a[i].Content[0].Format), Key(b[i].Content[0].Format));
            Assert.Equal(Key(a[i].Context.FacilityType.Coding[0]), Key(b[i].Context.FacilityType.Coding[0]));
            Assert.Equal(Key(a[i].Context.PracticeSetting.Coding[0]), Key(b[i].Context.PracticeSetting.Coding[0]));
            Assert.Equal(a[i].SecurityLabel.SelectMany(l => l.Coding).Select(Key), b[i].SecurityLabel.SelectMany(l => l.Coding).Select(Key));
            Assert.Equal(a[i].DocStatus, b[i].DocStatus);
            Assert.Equal(a[i].Description, b[i].Description);
            Assert.Equal(a[i].Content[0].Attachment.ContentType, b[i].Content[0].Attachment.ContentType);
            Assert.Equal(a[i].Content[0].Attachment.Hash, b[i].Content[0].Attachment.Hash);
            Assert.Equal(docs[i].Content, binaries[b[i].Content[0].Attachment.Url]);
            Assert.Equal(a[i].Date, b[i].Date);
            Assert.Equal(DateTimeOffset.Parse(a[i].Context.Period.Start, System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse(b[i].Context.Period.Start, System.Globalization.CultureInfo.InvariantCulture));
            var author = b[i].Contained.OfType<PractitionerRole>().Single();
            Assert.Equal(OpenDmp.Core.Identity.Rpps.ToIdNatPs(Rpps), author.Identifier[0].Value);
            Assert.Equal(OpenDmp.Core.Identity.Rpps.IdNatPsSystem, author.Identifier[0].System);
        }
    }

    private static string Key(Coding c) => Terminology.CanonicalSystem(c.System) + "|" + c.Code;

    private static byte[] Rewrite(byte[] zip, string name, byte[]? replacement)
    {
        using var src = new ZipArchive(new MemoryStream(zip));
        using var ms = new MemoryStream();
        using (var dst = new ZipArchive(ms, ZipArchiveMode.Create, true))
        {
            foreach (var e in src.Entries)
            {
                var content = e.FullName == name ? replacement : ReadAll(e);
                if (content is null)
                {
                    continue;
                }

                using var s = dst.CreateEntry(e.FullName).Open();
                s.Write(content);
            }
        }

        return ms.ToArray();
    }

    private static byte[] ReadAll(ZipArchiveEntry e)
    {
        using var s = e.Open();
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
