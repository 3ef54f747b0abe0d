using System.Globalization;
using System.Net;
using System.Text;

namespace OpenDmp.Server.Portal;

/// <summary>
/// A curve of numeric results (one LOINC code) as inline SVG: axes with the value range and the
/// first and last dates, a polyline and one marker per point, an accessible title and description
/// (count, last value, range), and the points as a table for screen readers.
/// </summary>
public static class SvgCurve
{
    public static string Render(string id, string label, string? unit, IReadOnlyList<OpenDmp.Core.Clinical.NumericPoint> points)
    {
        const double w = 480, h = 200, left = 56, right = 12, top = 12, bottom = 32;
        var ordered = points.OrderBy(p => p.When).ToList();
        var inv = CultureInfo.InvariantCulture;
        var min = ordered.Min(p => p.Value);
        var max = ordered.Max(p => p.Value);
        if (max - min < 1e-9)
        {
            min -= 1;
            max += 1;
        }

        var t0 = ordered[0].When.ToUnixTimeSeconds();
        var t1 = Math.Max(ordered[^1].When.ToUnixTimeSeconds(), t0 + 1);
        double X(DateTimeOffset t) => left + ((t.ToUnixTimeSeconds() - t0) / (double)(t1 - t0) * (w - left - right));
        double Y(double v) => top + ((max - v) / (max - min) * (h - top - bottom));
        var last = ordered[^1];
        var u = unit is null ? string.Empty : " " + unit;
        var desc = Ui.T("curve.desc", ordered.Count, last.Value.ToString("0.##", CultureInfo.CurrentCulture) + u, Ui.Date(last.When),
            min.ToString("0.##", CultureInfo.CurrentCulture), max.ToString("0.##", CultureInfo.CurrentCulture));
        var svg = new StringBuilder();
        svg.Append(inv, $"<svg class=\"curve\" id=\"{Enc(id)}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"{Enc(id)}-t {Enc(id)}-d\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append(inv, $"<title id=\"{Enc(id)}-t\">{Enc(label)}</title><desc id=\"{Enc(id)}-d\">{Enc(desc)}</desc>");
        svg.Append(inv, $"<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{h - bottom}\" stroke=\"#4a4a4a\"/><line x1=\"{left}\" y1=\"{h - bottom}\" x2=\"{w - right}\" y2=\"{h - bottom}\" stroke=\"#4a4a4a\"/>");
        svg.Append(inv, $"<text x=\"{left - 4}\" y=\"{top + 10}\" text-anchor=\"end\" font-size=\"11\" fill=\"#1b1b1b\">{Enc(max.ToString("0.##", CultureInfo.CurrentCulture))}</text>");
        svg.Append(inv, $"<text x=\"{left - 4}\" y=\"{h - bottom}\" text-anchor=\"end\" font-size=\"11\" fill=\"#1b1b1b\">{Enc(min.ToString("0.##", CultureInfo.CurrentCulture))}</text>");
        svg.Append(inv, $"<text x=\"{left}\" y=\"{h - 10}\" font-size=\"11\" fill=\"#1b1b1b\">{Enc(Ui.Date(ordered[0].When))}</text>");
        svg.Append(inv, $"<text x=\"{w - right}\" y=\"{h - 10}\" text-anchor=\"end\" font-size=\"11\" fill=\"#1b1b1b\">{Enc(Ui.Date(last.When))}</text>");
        svg.Append("<polyline fill=\"none\" stroke=\"#0b4f9c\" stroke-width=\"2\" points=\"");
        foreach (var p in ordered)
        {
            svg.Append(inv, $"{X(p.When):0.#},{Y(p.Value):0.#} ");
        }

        svg.Append("\"/>");
        if (ordered.Count <= 60)
        {
            foreach (var p in ordered)
            {
                svg.Append(inv, $"<circle cx=\"{X(p.When):0.#}\" cy=\"{Y(p.Value):0.#}\" r=\"3\" fill=\"#0b4f9c\"/>");
            }
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
