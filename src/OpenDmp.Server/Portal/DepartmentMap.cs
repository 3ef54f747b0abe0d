using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Components;

namespace OpenDmp.Server.Portal;

/// <summary>
/// A map of France's départements drawn as inline SVG from the outlines shipped in the project
/// (Portal/Map/departements.tsv, svg-maps, CC BY 4.0; ATTRIBUTION.md), the overseas départements as
/// labelled boxes: no outside tile server, no script. Each département is shaded by how many results
/// it holds; the same figures are given as a list beside it for those who do not see the map.
/// </summary>
public static class DepartmentMap
{
    private static readonly Lazy<(string ViewBox, IReadOnlyList<Department> Departments)> Outlines = new(Load);

    /// <summary>The overseas départements, drawn as boxes under the map.</summary>
    public static readonly IReadOnlyList<(string Code, string Name)> Overseas =
        [("971", "Guadeloupe"), ("972", "Martinique"), ("973", "Guyane"), ("974", "La Réunion"), ("975", "Saint-Pierre-et-Miquelon"), ("976", "Mayotte")];

    private static readonly string[] Shades = ["#eef2f7", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];

    public sealed record Department(string Code, string Name, string Path);

    /// <summary>Every département's name by code (metropolitan and overseas).</summary>
    public static IReadOnlyDictionary<string, string> Names { get; } =
        Outlines.Value.Departments.Select(d => (d.Code, d.Name)).Concat(Overseas).ToDictionary(d => d.Code, d => d.Name, StringComparer.Ordinal);

    /// <summary>The shade of a count: 0 for none, then 1 (one result) to 4 (the largest count).</summary>
    public static int Bucket(int count, int max) => count <= 0 || max <= 0 ? 0 : 1 + (int)Math.Round(3.0 * (count - 1) / Math.Max(1, max - 1));

    /// <summary>The map's SVG markup; <paramref name="describe"/> gives each département's tooltip from its name and count.</summary>
    public static MarkupString Render(IReadOnlyDictionary<string, int> counts, string title, string description, Func<string, int, string> describe)
    {
        var (viewBox, departments) = Outlines.Value;
        var max = counts.Count == 0 ? 0 : counts.Values.Max();
        var box = viewBox.Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var width = box[2];
        var height = box[3] + 70; // room for the overseas boxes
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg class=\"map\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{box[0]} {box[1]} {width} {height}\" role=\"img\" aria-labelledby=\"map-title map-desc\">");
        svg.Append("<title id=\"map-title\">").Append(WebUtility.HtmlEncode(title)).Append("</title>");
        svg.Append("<desc id=\"map-desc\">").Append(WebUtility.HtmlEncode(description)).Append("</desc>");
        foreach (var d in departments)
        {
            var n = counts.GetValueOrDefault(d.Code);
            svg.Append("<path d=\"").Append(d.Path).Append("\" fill=\"").Append(Shades[Bucket(n, max)]).Append("\" stroke=\"#4a4a4a\" stroke-width=\"0.5\" data-dept=\"").Append(d.Code).Append("\">");
            svg.Append("<title>").Append(WebUtility.HtmlEncode(describe(d.Name + " (" + d.Code + ")", n))).Append("</title></path>");
        }

        var x = box[0] + 4;
        var w = (width - 8 - 5 * 6) / Overseas.Count;
        foreach (var (code, name) in Overseas)
        {
            var n = counts.GetValueOrDefault(code);
            var bucket = Bucket(n, max);
            svg.Append(CultureInfo.InvariantCulture, $"<g data-dept=\"{code}\"><title>{WebUtility.HtmlEncode(describe(name + " (" + code + ")", n))}</title>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x:F1}\" y=\"{box[3] + 12:F1}\" width=\"{w:F1}\" height=\"46\" rx=\"4\" fill=\"{Shades[bucket]}\" stroke=\"#4a4a4a\" stroke-width=\"0.8\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + w / 2:F1}\" y=\"{box[3] + 40:F1}\" text-anchor=\"middle\" font-size=\"13\" fill=\"{(bucket >= 3 ? "#ffffff" : "#1b1b1b")}\">{code}</text></g>");
            x += w + 6;
        }

        svg.Append("</svg>");
        return new MarkupString(svg.ToString());
    }

    /// <summary>The colours of the legend, lightest (no result) to darkest.</summary>
    public static IReadOnlyList<string> Legend => Shades;

    private static (string, IReadOnlyList<Department>) Load()
    {
        using var stream = typeof(DepartmentMap).Assembly.GetManifestResourceStream("map/departements.tsv")
            ?? throw new InvalidOperationException("the map of the départements is not embedded (map/departements.tsv)");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var viewBox = "0 0 613 585";
        var list = new List<Department>();
        while (reader.ReadLine() is { } line)
        {
            var f = line.Split('\t');
            if (f[0] == "# viewBox")
            {
                viewBox = f[1];
            }
            else if (f.Length == 3)
            {
                list.Add(new Department(f[0], f[1], f[2]));
            }
        }

        return (viewBox, list);
    }
}
