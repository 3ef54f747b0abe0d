using System.Xml;
using System.Xml.Linq;
using Hl7.Fhir.Model;
using OpenDmp.Core.Common;

namespace OpenDmp.Core.Fhir;

/// <summary>
/// The FHIR narrative rules (R4 §2.4 Narrative, xhtml constraint txt-1/txt-2) on untrusted
/// resources: the div is limited XHTML — basic formatting elements only, no script, form, frame,
/// object, embed, base, link or style element, no event handler attribute, and links and images to
/// http(s), relative or fragment addresses only. Stored narratives are served to other software and
/// rendered by it: nothing active may enter.
/// </summary>
public static class FhirNarrative
{
    private static readonly XNamespace Xhtml = "http://www.w3.org/1999/xhtml";

    private static readonly HashSet<string> Elements = new(StringComparer.Ordinal)
    {
        "a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "dfn", "div", "dl", "dt",
        "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "samp", "small", "span", "strong", "sub",
        "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
    };

    private static readonly XmlLimits Limits = new(MaxDepth: 64, MaxCharacters: 1024 * 1024, MaxElements: 20_000);

    /// <summary>Checks the narrative of a resource and of its contained resources; a violation is a 422 naming where.</summary>
    public static void Check(DomainResource resource, string where)
    {
        CheckOne(resource.Text?.Div, where + ".text.div");
        for (var i = 0; i < resource.Contained.Count; i++)
        {
            if (resource.Contained[i] is DomainResource contained)
            {
                Check(contained, $"{where}.contained[{i}]");
            }
        }
    }

    private static void CheckOne(string? div, string where)
    {
        if (string.IsNullOrEmpty(div))
        {
            return;
        }

        XDocument doc;
        try
        {
            doc = SafeXml.Parse(div, Limits);
        }
        catch (Exception ex) when (ex is XmlException or InputLimitException)
        {
            throw DmpException.Invalid($"the narrative is not limited XHTML: {ex.Message}", where);
        }

        if (doc.Root is not { } root || root.Name != Xhtml + "div")
        {
            throw DmpException.Invalid("the narrative must be one XHTML div (namespace http://www.w3.org/1999/xhtml)", where);
        }

        foreach (var e in root.DescendantsAndSelf())
        {
            if (e.Name.Namespace != Xhtml || !Elements.Contains(e.Name.LocalName))
            {
                throw DmpException.Invalid($"the narrative holds a <{e.Name.LocalName}> element, which FHIR narratives do not allow (no script, form, frame, object, style or unknown element)", where);
            }

            foreach (var a in e.Attributes())
            {
                var name = a.Name.LocalName;
                if (name.StartsWith("on", StringComparison.OrdinalIgnoreCase))
                {
                    throw DmpException.Invalid($"the narrative's <{e.Name.LocalName}> has an event attribute ({name}): narratives are not active content", where);
                }

                if ((name is "href" or "src") && !SafeAddress(a.Value))
                {
                    throw DmpException.Invalid($"the narrative's <{e.Name.LocalName}> points to '{a.Value}': only http(s), relative and '#' addresses are allowed", where);
                }
            }
        }
    }

    private static bool SafeAddress(string value)
    {
        var v = new string(value.Where(c => !char.IsWhiteSpace(c) && !char.IsControl(c)).ToArray());
        var colon = v.IndexOf(':', StringComparison.Ordinal);
        var slash = v.IndexOfAny(['/', '?', '#']);
        if (colon < 0 || (slash >= 0 && slash < colon))
        {
            return true;
        }

        return v.StartsWith("http:", StringComparison.OrdinalIgnoreCase) || v.StartsWith("https:", StringComparison.OrdinalIgnoreCase);
    }
}
