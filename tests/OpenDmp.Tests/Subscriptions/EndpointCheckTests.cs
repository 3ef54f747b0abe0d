using OpenDmp.Core.Common;
using OpenDmp.Core.Subscriptions;

namespace OpenDmp.Tests.Subscriptions;

/// <summary>Where the platform agrees to post notifications: https on the outside world only.</summary>
public sealed class EndpointCheckTests
{
    private static readonly SubscriptionOptions Production = new();
    private static readonly SubscriptionOptions Tests = new() { AllowHttpLoopback = true };

    [Theory]
    [InlineData("https://logiciel.example/fhir/hook")]
    [InlineData("https://203.0.113.7:8443/hook")]
    public void AnHttpsAddressOutside_IsAccepted(string endpoint) =>
        Assert.Equal(new Uri(endpoint).AbsoluteUri, SubscriptionService.CheckEndpoint(endpoint, Production));

    [Theory]
    [InlineData("http://logiciel.example/hook", "must use https")]
    [InlineData("http://127.0.0.1:9000/hook", "must use https")]
    [InlineData("https://10.1.2.3/hook", "loopback, private or link-local")]
    [InlineData("https://192.168.1.20/hook", "loopback, private or link-local")]
    [InlineData("https://169.254.169.254/latest", "loopback, private or link-local")]
    [InlineData("https://127.0.0.1/hook", "loopback, private or link-local")]
    [InlineData("https://[::1]/hook", "loopback, private or link-local")]
    [InlineData("https://localhost:8443/hook", "loopback, private or link-local")]
    [InlineData("https://[::ffff:10.0.0.1]/hook", "loopback, private or link-local")]
    [InlineData("https://user:secret@logiciel.example/hook", "user information")]
    [InlineData("logiciel.example/hook", "absolute URL")]
    [InlineData(null, "absolute URL")]
    public void OtherAddresses_AreRefusedWithTheReason(string? endpoint, string reason)
    {
        var ex = Assert.Throws<DmpException>(() => SubscriptionService.CheckEndpoint(endpoint, Production));
        Assert.Equal(ErrorKind.Unprocessable, ex.Kind);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainHttpOnLoopback_OnlyWhenAllowed() =>
        Assert.Equal("http://127.0.0.1:9000/hook", SubscriptionService.CheckEndpoint("http://127.0.0.1:9000/hook", Tests));
}
