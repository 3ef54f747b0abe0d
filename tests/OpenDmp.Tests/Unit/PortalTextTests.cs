using System.Collections;
using System.Globalization;
using System.Resources;
using System.Xml.Linq;
using OpenDmp.Server.Portal;

namespace OpenDmp.Tests.Unit;

/// <summary>The portal's texts exist in both languages, and the CDA renderer never passes markup through.</summary>
public class PortalTextTests
{
    [Fact]
    public void FrenchAndEnglish_HaveTheSameKeys_AndNoEmptyText()
    {
        var fr = Keys(Ui.Resources.GetResourceSet(CultureInfo.InvariantCulture, true, false)!);
        var en = Keys(Ui.Resources.GetResourceSet(new CultureInfo("en"), true, false)!);
        Assert.NotEmpty(fr);
        Assert.Empty(fr.Keys.Except(en.Keys));
        Assert.Empty(en.Keys.Except(fr.Keys));
        Assert.DoesNotContain(fr.Concat(en), kv => string.IsNullOrWhiteSpace(kv.Value));
        Assert.Equal("Se connecter", fr["login.submit"]);
        Assert.Equal("Sign in", en["login.submit"]);
    }

    /// <summary>Every text key the portal's sources name literally, and every key built from the personal-space forms, exists.</summary>
    [Fact]
    public void EveryKeyUsedByThePortal_Exists()
    {
        var fr = Keys(Ui.Resources.GetResourceSet(CultureInfo.InvariantCulture, true, false)!);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OpenDmp.slnx")))
        {
            root = root.Parent;
        }

        Assert.NotNull(root);
        var portal = Path.Combine(root.FullName, "src", "OpenDmp.Server", "Portal");
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in System.IO.Directory.EnumerateFiles(portal, "*.*", SearchOption.AllDirectories).Where(f => f.EndsWith(".razor", StringComparison.Ordinal) || f.EndsWith(".cs", StringComparison.Ordinal)))
        {
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(file), "Ui\\.T\\(\"([a-z0-9.\\-]+)\""))
            {
                used.Add(m.Groups[1].Value);
            }
        }

        foreach (var c in OpenDmp.Core.Records.PersonalSpaceService.Categories)
        {
            used.Add("personal." + c.Code);
            foreach (var f in c.Fields)
            {
                used.Add("personal.field." + f.Name);
                used.UnionWith((f.Choices ?? []).Select(x => "personal.choice." + x));
            }
        }

        Assert.True(used.Count > 200, $"only {used.Count} keys found: the scan is broken");
        var missing = used.Where(k => !k.EndsWith('.') && !fr.ContainsKey(k)).ToList();
        Assert.True(missing.Count == 0, "missing texts: " + string.Join(", ", missing));
    }

    private static Dictionary<string, string> Keys(ResourceSet set) =>
        set.Cast<DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? string.Empty);

    [Fact]
    public void Cda_IsRenderedAsHtml_WithMarkupEncoded()
    {
        XNamespace v3 = "urn:hl7-org:v3";
        var cda = new XDocument(new XElement(v3 + "ClinicalDocument",
            new XElement(v3 + "title", "Compte rendu <script>alert(1)</script>"),
            new XElement(v3 + "effectiveTime", new XAttribute("value", "20261121093000")),
            new XElement(v3 + "component", new XElement(v3 + "structuredBody",
                new XElement(v3 + "component", new XElement(v3 + "section",
                    new XElement(v3 + "title", "Conclusion"),
                    new XElement(v3 + "text",
                        new XElement(v3 + "paragraph", "Tension ", new XElement(v3 + "content", new XAttribute("styleCode", "Bold"), "normale")),
                        new XElement(v3 + "list", new XElement(v3 + "item", "<img src=x onerror=alert(1)>")),
                        new XElement(v3 + "table", new XElement(v3 + "tbody", new XElement(v3 + "tr", new XElement(v3 + "td", "HbA1c"), new XElement(v3 + "td", "6,5 %")))))))))));
        var html = CdaRenderer.ToHtml(System.Text.Encoding.UTF8.GetBytes(cda.ToString()))!;
        Assert.Contains("<h2>Conclusion</h2>", html, StringComparison.Ordinal);
        Assert.Contains("<p>Tension <span><strong>normale</strong></span></p>", html, StringComparison.Ordinal);
        Assert.Contains("<td>HbA1c</td>", html, StringComparison.Ordinal);
        Assert.Contains("21/11/2026 09:30", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", html, StringComparison.Ordinal);
        Assert.Null(CdaRenderer.ToHtml("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><ClinicalDocument xmlns=\"urn:hl7-org:v3\">&e;</ClinicalDocument>"u8.ToArray()));
        Assert.Null(CdaRenderer.ToHtml("%PDF-1.4"u8.ToArray()));
    }
}
