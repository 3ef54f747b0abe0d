using System.Net;
using QRCoder;

namespace OpenDmp.Server.Portal;

/// <summary>QR codes as inline SVG (QRCoder), for enrolling the TOTP secret in an authenticator app.</summary>
public static class QrCodes
{
    public static string Svg(string payload, string label)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(payload, QRCodeGenerator.ECCLevel.M);
        var svg = new SvgQRCode(data).GetGraphic(new System.Drawing.Size(240, 240), "#000000", "#ffffff", drawQuietZones: true);
        // An accessible name for the image.
        var start = svg.IndexOf("<svg", StringComparison.Ordinal);
        return svg[start..].Replace("<svg", $"<svg role=\"img\" aria-label=\"{WebUtility.HtmlEncode(label)}\"", StringComparison.Ordinal);
    }
}
