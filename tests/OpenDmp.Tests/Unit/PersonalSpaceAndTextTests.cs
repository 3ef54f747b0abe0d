using System.IO.Compression;
using System.Text;
using OpenDmp.Core.Common;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;

namespace OpenDmp.Tests.Unit;

/// <summary>Text extraction for "_content" searches, and the personal-space forms' validation.</summary>
public class PersonalSpaceAndTextTests
{
    [Fact]
    public void Pdf_TextIsRead_FromPlainAndFlateStreams_WithEscapesAndKerning()
    {
        Assert.True(DocumentText.Matches(DocumentText.Extract("application/pdf", SubmissionBuilder.MinimalPdf("Bilan lipidique annuel")), DocumentText.Words("LIPIDIQUE bilan")));

        var ops = "BT /F1 12 Tf 72 720 Td (Glyc\\351mie stable) Tj 0 -14 Td [(poursuivre la metfor) -20 (mine)] TJ ET"u8.ToArray();
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(ops);
        }

        var pdf = new MemoryStream();
        pdf.Write(Encoding.Latin1.GetBytes($"%PDF-1.7\n4 0 obj\n<< /Length {compressed.Length} /Filter /FlateDecode >>\nstream\n"));
        pdf.Write(compressed.ToArray());
        pdf.Write("\nendstream\nendobj\n%%EOF\n"u8);
        var text = DocumentText.Extract("application/pdf", pdf.ToArray());
        Assert.True(DocumentText.Matches(text, DocumentText.Words("glycémie metformine")), text);
        Assert.True(DocumentText.Matches(text, DocumentText.Words("GLYCEMIE")), "accents are ignored");
        Assert.False(DocumentText.Matches(text, DocumentText.Words("insuline")));
    }

    [Fact]
    public void Cda_TextNodesAndDisplayNames_AreRead_AndDtdsRefused()
    {
        var cda = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><code code=\"11488-4\" displayName=\"Compte rendu de consultation\"/><component><section><text>Hypertension artérielle <b>équilibrée</b></text></section></component></ClinicalDocument>"u8.ToArray();
        var text = DocumentText.Extract("text/xml", cda);
        Assert.True(DocumentText.Matches(text, DocumentText.Words("hypertension equilibree consultation")), text);
        var dtd = "<!DOCTYPE x [<!ENTITY e \"secret\">]><x>&e;</x>"u8.ToArray();
        Assert.Equal(string.Empty, DocumentText.Extract("application/xml", dtd));
        Assert.Equal(string.Empty, DocumentText.Extract("image/jpeg", [0xFF, 0xD8, 0xFF]));
    }

    [Fact]
    public void PersonalSpace_Forms_CheckRequiredFields_Choices_Dates_Phones_AndUnknownFields()
    {
        var allergy = PersonalSpaceService.Category("allergy")!;
        var ok = PersonalSpaceService.Validate(allergy, new Dictionary<string, string?> { ["substance"] = " Pénicilline ", ["severity"] = "severe", ["since"] = "2019-03-01", ["reaction"] = "" });
        Assert.Equal("Pénicilline", ok["substance"]);
        Assert.False(ok.ContainsKey("reaction"));

        static string Refusal(PersonalCategory form, Dictionary<string, string?> values) =>
            Assert.Throws<DmpException>(() => PersonalSpaceService.Validate(form, values)).Message;

        Assert.Contains("'substance' is required", Refusal(allergy, new() { ["reaction"] = "urticaire" }), StringComparison.Ordinal);
        Assert.Contains("must be one of", Refusal(allergy, new() { ["substance"] = "x", ["severity"] = "fatal" }), StringComparison.Ordinal);
        Assert.Contains("must be a date", Refusal(allergy, new() { ["substance"] = "x", ["since"] = "03/01/2019" }), StringComparison.Ordinal);
        Assert.Contains("is not a field of allergy", Refusal(allergy, new() { ["substance"] = "x", ["blood"] = "A+" }), StringComparison.Ordinal);
        var contact = PersonalSpaceService.Category("emergency-contact")!;
        Assert.Contains("telephone", Refusal(contact, new() { ["name"] = "Paul", ["phone"] = "appelez-moi" }), StringComparison.Ordinal);
        Assert.Equal("+33 6 12 34 56 78", PersonalSpaceService.Validate(contact, new Dictionary<string, string?> { ["name"] = "Paul", ["phone"] = "+33 6 12 34 56 78" })["phone"]);
        Assert.Contains("longer than", Refusal(contact, new() { ["name"] = new string('a', 201), ["phone"] = "0612345678" }), StringComparison.Ordinal);
        Assert.True(PersonalSpaceService.Category("trusted-person")!.OnePerRecord);
        Assert.Null(PersonalSpaceService.Category("blood-group"));
    }
}
