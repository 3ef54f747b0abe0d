using System.Globalization;
using System.Net;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using OpenDmp.Core.Common;

namespace OpenDmp.Server.Portal;

/// <summary>
/// Renders a CDA R2 document to readable, safe HTML: the header (title, date, patient's document
/// author, custodian) and each section's title and narrative block (paragraphs, lists, tables,
/// content, line breaks). Only a fixed set of elements is produced and every text is encoded, so a
/// document cannot inject markup or scripts; DTDs are refused. A person never sees the XML.
/// The document is read within <see cref="XmlLimits"/> (depth, size, element count) and the HTML is
/// capped: a hostile document gives a "cannot display" notice, never a crash.
/// </summary>
public static class CdaRenderer
{
    /// <summary>The most HTML one document may produce (characters).</summary>
    public const int MaxHtmlChars = 8 * 1024 * 1024;

    private static readonly XNamespace V3 = "urn:hl7-org:v3";

    /// <summary>The HTML, or null when the bytes are not a CDA R2 document or cannot be displayed (see <see cref="Render"/>).</summary>
    public static string? ToHtml(byte[] content, int headingLevel = 2) => Render(content, headingLevel).Html;

    /// <summary>Renders a CDA R2 document: the HTML, or why it cannot be displayed (Problem), or neither when it is not CDA.</summary>
    public static CdaRendering Render(byte[] content, int headingLevel = 2)
    {
        XDocument doc;
        try
        {
            doc = SafeXml.Load(content);
        }
        catch (XmlException)
        {
            return CdaRendering.NotCda;
        }
        catch (InputLimitException ex)
        {
            return new CdaRendering(null, ex.Message);
        }

        try
        {
            return new CdaRendering(Html(doc, headingLevel), null);
        }
        catch (InputLimitException ex)
        {
            return new CdaRendering(null, ex.Message);
        }
    }

    private static string? Html(XDocument doc, int headingLevel)
    {

        // An "auto-présentable" document carries its ClinicalDocument inside an XSL stylesheet: the
        // document is shown, the stylesheet is never run.
        var root = OpenDmp.Core.Documents.Cda.CdaHeader.ClinicalDocument(doc);
        if (root is null)
        {
            return null;
        }

        var html = new StringBuilder("<article class=\"cda\">");
        var title = root.Element(V3 + "title")?.Value;
        html.Append("<header>");
        if (!string.IsNullOrWhiteSpace(title))
        {
            html.Append(CultureInfo.InvariantCulture, $"<p><strong>{Encode(title)}</strong></p>");
        }

        var when = FormatTs(root.Element(V3 + "effectiveTime")?.Attribute("value")?.Value);
        var author = PersonName(root.Element(V3 + "author")?.Element(V3 + "assignedAuthor")?.Element(V3 + "assignedPerson")?.Element(V3 + "name"));
        var custodian = root.Element(V3 + "custodian")?.Descendants(V3 + "name").FirstOrDefault()?.Value;
        html.Append("<dl>");
        if (when is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<dt>{Encode(Ui.T("cda.date"))}</dt><dd>{Encode(when)}</dd>");
        }

        if (author is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<dt>{Encode(Ui.T("cda.author"))}</dt><dd>{Encode(author)}</dd>");
        }

        if (!string.IsNullOrWhiteSpace(custodian))
        {
            html.Append(CultureInfo.InvariantCulture, $"<dt>{Encode(Ui.T("cda.custodian"))}</dt><dd>{Encode(custodian)}</dd>");
        }

        html.Append("</dl></header>");
        var body = root.Element(V3 + "component");
        var structured = body?.Element(V3 + "structuredBody");
        if (structured is not null)
        {
            foreach (var section in structured.Elements(V3 + "component").Select(c => c.Element(V3 + "section")).OfType<XElement>())
            {
                Section(section, headingLevel, html);
            }
        }
        else if (body?.Element(V3 + "nonXMLBody") is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p>{Encode(Ui.T("cda.nonxml"))}</p>");
        }

        html.Append("</article>");
        return html.ToString();
    }

    private static void Section(XElement section, int level, StringBuilder html)
    {
        Guard(html);
        var h = Math.Min(level, 6);
        html.Append("<section>");
        var title = section.Element(V3 + "title")?.Value;
        if (!string.IsNullOrWhiteSpace(title))
        {
            html.Append(CultureInfo.InvariantCulture, $"<h{h}>{Encode(title)}</h{h}>");
        }

        if (section.Element(V3 + "text") is { } text && !string.IsNullOrWhiteSpace(text.Value))
        {
            html.Append("<div>");
            Children(text, html);
            html.Append("</div>");
        }
        else
        {
            Entries(section, html);
        }

        foreach (var sub in section.Elements(V3 + "component").Select(c => c.Element(V3 + "section")).OfType<XElement>())
        {
            Section(sub, level + 1, html);
        }

        html.Append("</section>");
    }

    /// <summary>
    /// A section without narrative: its coded entries (observations, substance administrations,
    /// acts) as a table of what they say — the code's display, the value with its unit, the date.
    /// </summary>
    private static void Entries(XElement section, StringBuilder html)
    {
        var rows = section.Elements(V3 + "entry")
            .SelectMany(e => e.Elements())
            .SelectMany(e => e.DescendantsAndSelf().Where(x => x.Name == V3 + "observation" || x.Name == V3 + "substanceAdministration" || x.Name == V3 + "act" || x.Name == V3 + "procedure"))
            .Take(1000)
            .Select(x => (What: Display(x.Element(V3 + "code")) ?? Display(x.Element(V3 + "consumable")?.Descendants(V3 + "code").FirstOrDefault()), Value: Value(x.Element(V3 + "value")), When: FormatTs((string?)x.Element(V3 + "effectiveTime")?.Attribute("value") ?? (string?)x.Element(V3 + "effectiveTime")?.Element(V3 + "low")?.Attribute("value"))))
            .Where(r => r.What is not null || r.Value is not null)
            .ToList();
        if (rows.Count == 0)
        {
            return;
        }

        html.Append(CultureInfo.InvariantCulture, $"<div class=\"table-wrap\"><table><thead><tr><th>{Encode(Ui.T("cda.entry.what"))}</th><th>{Encode(Ui.T("cda.entry.value"))}</th><th>{Encode(Ui.T("cda.entry.when"))}</th></tr></thead><tbody>");
        foreach (var (what, value, when) in rows)
        {
            Guard(html);
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{Encode(what ?? "—")}</td><td>{Encode(value ?? "")}</td><td>{Encode(when ?? "")}</td></tr>");
        }

        html.Append("</tbody></table></div>");
    }

    private static string? Display(XElement? code)
    {
        if (code is null)
        {
            return null;
        }

        var original = code.Element(V3 + "originalText")?.Value.Trim();
        return (string?)code.Attribute("displayName") ?? (string.IsNullOrEmpty(original) ? (string?)code.Attribute("code") : original);
    }

    private static string? Value(XElement? v)
    {
        if (v is null)
        {
            return null;
        }

        var unit = (string?)v.Attribute("unit");
        return (string?)v.Attribute("value") is { } value ? (unit is null or "1" ? value : $"{value} {unit}")
            : (string?)v.Attribute("displayName") ?? (string.IsNullOrWhiteSpace(v.Value) ? (string?)v.Attribute("code") : v.Value.Trim());
    }

    private static void Children(XElement e, StringBuilder html)
    {
        Guard(html);
        foreach (var node in e.Nodes())
        {
            switch (node)
            {
                case XText t:
                    html.Append(Encode(t.Value));
                    break;
                case XElement child:
                    Narrative(child, html);
                    break;
            }
        }
    }

    /// <summary>The CDA narrative block elements, mapped to their HTML counterparts.</summary>
    private static void Narrative(XElement e, StringBuilder html)
    {
        var tag = e.Name.LocalName switch
        {
            "paragraph" => "p",
            "list" => e.Attribute("listType")?.Value == "ordered" ? "ol" : "ul",
            "item" => "li",
            "table" => "table",
            "thead" => "thead",
            "tbody" => "tbody",
            "tfoot" => "tfoot",
            "tr" => "tr",
            "th" => "th",
            "td" => "td",
            "caption" => "caption",
            "content" => "span",
            "sub" => "sub",
            "sup" => "sup",
            "br" => "br",
            "renderMultiMedia" => null,
            "footnote" or "footnoteRef" => "small",
            _ => "span",
        };
        if (tag is null)
        {
            return;
        }

        if (tag == "br")
        {
            html.Append("<br>");
            return;
        }

        var emphasis = e.Attribute("styleCode")?.Value ?? string.Empty;
        html.Append('<').Append(tag).Append('>');
        if (tag == "table")
        {
            html.Insert(html.Length - "<table>".Length, "<div class=\"table-wrap\">");
        }

        if (emphasis.Contains("Bold", StringComparison.Ordinal))
        {
            html.Append("<strong>");
        }

        Children(e, html);
        if (emphasis.Contains("Bold", StringComparison.Ordinal))
        {
            html.Append("</strong>");
        }

        html.Append("</").Append(tag).Append('>');
        if (tag == "table")
        {
            html.Append("</div>");
        }
    }

    /// <summary>Stops a rendering that would produce more HTML than a page can hold.</summary>
    private static void Guard(StringBuilder html)
    {
        if (html.Length > MaxHtmlChars)
        {
            throw new InputLimitException($"the document would produce more than {MaxHtmlChars / (1024 * 1024)} MB of HTML");
        }
    }

    private static string? PersonName(XElement? name)
    {
        if (name is null)
        {
            return null;
        }

        var parts = name.Elements(V3 + "prefix").Concat(name.Elements(V3 + "given")).Concat(name.Elements(V3 + "family")).Select(x => x.Value.Trim()).Where(x => x.Length > 0);
        var s = string.Join(' ', parts);
        return s.Length > 0 ? s : name.Value.Trim();
    }

    private static string? FormatTs(string? ts)
    {
        if (ts is null || ts.Length < 8)
        {
            return null;
        }

        var date = $"{ts[6..8]}/{ts[4..6]}/{ts[..4]}";
        return ts.Length >= 12 ? $"{date} {ts[8..10]}:{ts[10..12]}" : date;
    }

    private static string Encode(string s) => WebUtility.HtmlEncode(s);
}

/// <summary>The result of rendering a CDA document: the HTML, or the reason it cannot be displayed; neither when it is not CDA.</summary>
public sealed record CdaRendering(string? Html, string? Problem)
{
    public static CdaRendering NotCda { get; } = new(null, null);
}
