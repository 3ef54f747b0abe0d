using System.Net;
using OpenDmp.Server.Portal;
using OpenDmp.Tests.Infrastructure;

namespace OpenDmp.Tests.Portal;

/// <summary>The portal redirects only to its own pages: every "return to" value is a validated local path.</summary>
public class LocalRedirectTests
{
    [Theory]
    [InlineData("/patient/documents?vue=type", "/patient/documents?vue=type")]
    [InlineData("/", "/")]
    [InlineData("//evil.example", "/")]
    [InlineData("/\\evil.example", "/")]
    [InlineData("/\t/evil.example", "/")]
    [InlineData("/\n/evil.example", "/")]
    [InlineData("/\r\nSet-Cookie: x=1", "/")]
    [InlineData("/ /evil.example", "/")]
    [InlineData("/\u00a0/evil.example", "/")]
    [InlineData("/é", "/")]
    [InlineData("https://evil.example", "/")]
    [InlineData("javascript:alert(1)", "/")]
    [InlineData("", "/")]
    [InlineData(null, "/")]
    public void LocalUrl_KeepsOnlyPlainLocalPaths(string? candidate, string expected) =>
        Assert.Equal(expected, PortalPages.LocalUrl(candidate));
}

/// <summary>
/// Regression: /langue?retour=%2F%09%2Fevil.example redirected off-site, and %0A gave a 500.
/// Control characters in a query are now refused before any page runs (400); every other value redirects home.
/// </summary>
public sealed class LanguageSwitchRedirectTests : ServerTestBase
{
    public LanguageSwitchRedirectTests()
        : base(new SqliteStorage())
    {
    }

    [Theory]
    [InlineData("%2F%09%2Fevil.example", HttpStatusCode.BadRequest)]
    [InlineData("%2F%0A%2Fevil.example", HttpStatusCode.BadRequest)]
    [InlineData("%2F%0D%0ALocation%3A%20https%3A%2F%2Fevil.example", HttpStatusCode.BadRequest)]
    [InlineData("%2F%5Cevil.example", HttpStatusCode.Redirect)]
    [InlineData("https%3A%2F%2Fevil.example", HttpStatusCode.Redirect)]
    [InlineData("%2F%2Fevil.example", HttpStatusCode.Redirect)]
    public async Task LanguageSwitch_NeverRedirectsOffSite(string retour, HttpStatusCode expected)
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(Server.BaseUrl) };
        using var response = await http.GetAsync("/langue?c=en&retour=" + retour);
        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.Redirect)
        {
            Assert.Equal("/", response.Headers.Location!.OriginalString);
        }
        else
        {
            Assert.Null(response.Headers.Location);
        }
    }
}
