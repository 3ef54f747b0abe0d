using System.Xml;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Fhir;
using OpenDmp.Core.Messaging;
using OpenDmp.Server.Portal;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Common;

/// <summary>
/// Every parser and renderer of untrusted input has bounded depth, size, count and expansion, and
/// fails with a sentence instead of dying (stack overflow) or spinning (decompression bombs).
/// </summary>
public class UntrustedInputTests
{
    [Fact]
    public void SafeXml_RefusesDeepNesting_DtdsAndEntityBombs_ButReadsNormalDocuments()
    {
        var deep = Assert.Throws<InputLimitException>(() => SafeXml.Check(Hostile.DeepCda(50_000)));
        Assert.Contains("deeper than 256", deep.Message, StringComparison.Ordinal);
        Assert.Throws<XmlException>(() => SafeXml.Check(Hostile.BillionLaughs()));
        Assert.Throws<XmlException>(() => SafeXml.Check("<a><b></a>"u8.ToArray()));
        var tooMany = Assert.Throws<InputLimitException>(() => SafeXml.Check(System.Text.Encoding.UTF8.GetBytes("<a>" + string.Concat(Enumerable.Repeat("<b/>", 20)) + "</a>"), new XmlLimits(MaxElements: 10)));
        Assert.Contains("more than 10 elements", tooMany.Message, StringComparison.Ordinal);
        var doc = SafeXml.Load(Hostile.DeepCda(30));
        Assert.Equal("ClinicalDocument", doc.Root!.Name.LocalName);
    }

    /// <summary>Regression: a CDA nesting 50,000 content elements killed the process (stack overflow) when rendered.</summary>
    [Fact]
    public void CdaRenderer_DeeplyNestedDocument_GivesACannotDisplayReason()
    {
        var rendering = CdaRenderer.Render(Hostile.DeepCda(50_000));
        Assert.Null(rendering.Html);
        Assert.Contains("deeper than", rendering.Problem, StringComparison.Ordinal);
        Assert.Null(CdaRenderer.Render(Hostile.BillionLaughs()).Html);
        Assert.NotNull(CdaRenderer.Render(Hostile.DeepCda(40)).Html);
    }

    /// <summary>Regression: a 2 MB PDF of 2,000 Flate streams cost 12–20 s of decompression per search.</summary>
    [Fact]
    public void DocumentText_FlateBomb_StopsAtThePerDocumentBudget()
    {
        var bomb = Hostile.FlateBombPdf();
        Assert.InRange(bomb.Length, 1_000_000, 4_000_000);
        var budget = new TextBudget(1L << 40, TimeSpan.FromMinutes(10));
        DocumentText.Extract("application/pdf", bomb, budget);
        Assert.True(budget.SpentBytes <= bomb.Length + DocumentText.MaxInflatedBytesPerDocument, $"decompressed {budget.SpentBytes} bytes");
    }

    [Fact]
    public void DocumentText_RequestBudget_IsSharedByTheDocumentsOfOneSearch()
    {
        var bomb = Hostile.FlateBombPdf(streams: 200);
        var budget = new TextBudget(20L * 1024 * 1024, TimeSpan.FromMinutes(10));
        var ex = Assert.Throws<InputLimitException>(() =>
        {
            for (var i = 0; i < 10; i++)
            {
                DocumentText.Extract("application/pdf", bomb, budget);
            }
        });
        Assert.Contains("budget", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DocumentText_StillFindsTheWordsOfOrdinaryDocuments()
    {
        var budget = TextBudget.ForRequest();
        Assert.True(DocumentText.Matches(DocumentText.Extract("application/pdf", SubmissionBuilder.MinimalPdf("Bilan lipidique"), budget), DocumentText.Words("lipidique")));
        Assert.Equal(string.Empty, DocumentText.Extract("text/xml", Hostile.BillionLaughs(), budget));
        Assert.Contains("Examen", DocumentText.Extract("text/xml", Hostile.DeepCda(50_000), budget), StringComparison.Ordinal);
    }

    [Fact]
    public void Xdm_ZipBomb_IsRefusedOnTheBytesActuallyProduced()
    {
        var bomb = Hostile.ZipBomb(Xdm.SubsetFolder + "DOC0001.PDF", 300L * 1024 * 1024);
        var ex = Assert.Throws<XdmException>(() => Xdm.ToBundle(bomb));
        Assert.True(ex.Message.Contains("expands", StringComparison.Ordinal), ex.Message);
        using (var ms = new MemoryStream())
        {
            using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Create, true))
            {
                using var w = zip.CreateEntry(Xdm.MetadataPath).Open();
                w.Write(Hostile.DeepCda(5_000));
            }

            Assert.Contains("deeper than", Assert.Throws<XdmException>(() => Xdm.ToBundle(ms.ToArray())).Message, StringComparison.Ordinal);
        }

        using (var ms = new MemoryStream())
        {
            using (var zip = new System.IO.Compression.ZipArchive(ms, System.IO.Compression.ZipArchiveMode.Create, true))
            {
                using var w = zip.CreateEntry(Xdm.MetadataPath).Open();
                w.Write(Hostile.BillionLaughs());
            }

            Assert.Contains("DTD", Assert.Throws<XdmException>(() => Xdm.ToBundle(ms.ToArray())).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void FhirJson_DeepNesting_IsA400NotACrash()
    {
        var ex = Assert.Throws<DmpException>(() => FhirJson.Parse<Hl7.Fhir.Model.Bundle>(Hostile.DeepJson(10_000)));
        Assert.Equal(ErrorKind.BadRequest, ex.Kind);
    }

    [Fact]
    public void SecureMail_InboundMime_HasABoundedDepth()
    {
        Assert.InRange(SecureMail.InboundParserOptions.MaxMimeDepth, 4, 32);
        var nested = new System.Text.StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            nested.Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n");
        }

        nested.Append("Content-Type: text/plain\r\n\r\nx\r\n");
        var entity = MimeKit.MimeEntity.Load(SecureMail.InboundParserOptions, new MemoryStream(System.Text.Encoding.ASCII.GetBytes(nested.ToString())));
        var depth = 0;
        for (var e = entity; e is MimeKit.Multipart m && m.Count > 0; e = m[0])
        {
            depth++;
        }

        Assert.True(depth <= SecureMail.InboundParserOptions.MaxMimeDepth, $"parsed {depth} levels");
    }
}
