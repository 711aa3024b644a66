using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>
/// <see cref="AzureIoTOptions.Transport"/>: the user's <see cref="IoTTransportOptions.HttpHandler"/> carries every service
/// REST call to the IoT Hub double, and bad transport settings are refused before any request.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class TransportHandlerTests
{
    [Fact]
    public async Task Registry_and_twin_calls_go_through_the_users_handler_which_the_provider_disposes()
    {
        await using var hub = await IotHubDouble.StartAsync();
        RequestRecordingHandler? handler = null;
        var authority = $"localhost:{hub.HttpsPort}";
        await using (var provider = IotHubDoubleProviders.Create(hub, o => o.Transport.HttpHandler = handler = new RequestRecordingHandler(o.Transport.HttpHandler!)))
        {
            await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "via-handler" });
            Assert.Equal("via-handler", (await provider.Registry.GetAsync("via-handler")).Id);
            await provider.State.UpdateDesiredAsync("via-handler", new JsonObject { ["mode"] = "eco" });
            await provider.Registry.DeleteAsync("via-handler");

            Assert.NotNull(handler);
            // Create the device, read it (its twin), patch its twin, delete it.
            Assert.Empty(handler.Unseen(authority, (HttpMethod.Put, "/devices/via-handler"), (HttpMethod.Get, "/twins/via-handler"),
                (HttpMethod.Patch, "/twins/via-handler"), (HttpMethod.Delete, "/devices/via-handler")));
            Assert.All(handler.Requests, r => Assert.Equal(authority, r.Uri.Authority));
            Assert.False(handler.IsDisposed);
            // The double agrees the calls happened: the device is gone.
            await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Registry.GetAsync("via-handler"));
        }
        Assert.True(handler.IsDisposed);
    }

    [Fact]
    public async Task A_bad_transport_setting_is_an_argument_error_naming_it_before_any_request()
    {
        await using var hub = await IotHubDouble.StartAsync();
        RequestRecordingHandler? handler = null;
        var error = Assert.ThrowsAny<ArgumentException>(() => IotHubDoubleProviders.Create(hub, o =>
        {
            o.Transport.HttpHandler = handler = new RequestRecordingHandler(o.Transport.HttpHandler!);
            o.Transport.RequestTimeout = TimeSpan.FromMinutes(11);
        }));
        Assert.Equal("Transport.RequestTimeout", error.ParamName);
        Assert.Empty(handler!.Requests);
        handler.Dispose();
    }
}
