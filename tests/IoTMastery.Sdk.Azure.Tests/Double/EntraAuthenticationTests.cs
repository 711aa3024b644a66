using Azure.Core;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>Service calls authenticated with any Azure.Core TokenCredential (Entra ID) instead of a SAS policy.</summary>
[Collection(DoubleCollection.Name)]
public sealed class EntraAuthenticationTests
{
    private sealed class CountingCredential(TimeProvider time) : TokenCredential
    {
        public List<string[]> Requests { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Requests.Add(requestContext.Scopes);
            return ValueTask.FromResult(new AccessToken(IotHubDouble.EntraToken, time.GetUtcNow().AddHours(1)));
        }
    }

    [Fact]
    public async Task Bearer_tokens_use_the_iothub_scope_and_are_refreshed_ten_minutes_before_expiry()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var credential = new CountingCredential(time);
        await using var provider = AzureIoTProvider.Create(new AzureIoTOptions
        {
            HostName = IotHubDouble.HubHost,
            Credential = credential,
            ServiceEndpoint = new Uri($"https://localhost:{hub.HttpsPort}"),
            Transport = { HttpHandler = IotHubDoubleProviders.TrustingHandler(hub.CaCertificate) },
        }, time);
        await provider.Hub.GetDeviceStatisticsAsync();
        await provider.Hub.GetConnectedDeviceCountAsync();
        Assert.Single(credential.Requests);
        Assert.Equal(["https://iothubs.azure.net/.default"], credential.Requests[0]);
        Assert.All(hub.Captured, c => Assert.Equal("Bearer " + IotHubDouble.EntraToken, c.Headers["authorization"]));
        time.Advance(TimeSpan.FromMinutes(51));
        await provider.Hub.GetDeviceStatisticsAsync();
        Assert.Equal(2, credential.Requests.Count);
    }
}
