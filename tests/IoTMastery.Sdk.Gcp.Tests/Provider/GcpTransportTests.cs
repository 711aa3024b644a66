using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// <see cref="GcpIoTOptions.Transport"/>: the user's <see cref="IoTTransportOptions.HttpHandler"/> carries the registry
/// calls to the Cloud IoT registry double and the Pub/Sub calls to the emulator, and bad transport settings are refused
/// before any request. Retry bounds: <see cref="Faults.GcpTransportRetryTests"/>.
/// </summary>
[Collection(PubSubEmulatorCollection.Name)]
public sealed class GcpTransportTests(PubSubEmulator emulator)
{
    [Fact]
    public async Task Registry_and_PubSub_calls_go_through_the_users_handler_which_the_provider_disposes()
    {
        var handler = new RequestRecordingHandler(new SocketsHttpHandler());
        GcpIoTOptions options;
        string registryAuthority, pubSubAuthority = emulator.BaseUrl.Authority;
        await using (var stack = await GcpProviderStack.StartAsync(emulator, configure: o => o.Transport.HttpHandler = handler))
        {
            options = stack.Options;
            registryAuthority = stack.Options.CloudIotBaseUrl!.Authority;
            var registry = stack.Provider.Registry;
            await registry.RegisterAsync(new DeviceRegistration { Id = "via-handler" });
            Assert.Equal("via-handler", (await registry.GetAsync("via-handler")).Id);
            Assert.True(await stack.Provider.PubSub.TopicExistsAsync(options.TelemetryTopicId!));
            await registry.DeleteAsync("via-handler");

            var devices = $"/v1/projects/{options.ProjectId}/locations/{options.Location}/registries/{options.RegistryId}/devices";
            // CreateDevice, GetDevice, DeleteDevice on the registry double; GetTopic on the Pub/Sub emulator.
            Assert.Empty(handler.Unseen(registryAuthority, (HttpMethod.Post, devices), (HttpMethod.Get, devices + "/via-handler"), (HttpMethod.Delete, devices + "/via-handler")));
            Assert.Empty(handler.Unseen(pubSubAuthority, (HttpMethod.Get, $"/v1/projects/{options.ProjectId}/topics/{options.TelemetryTopicId}")));
            Assert.All(handler.Requests, r => Assert.Contains(r.Uri.Authority, new[] { registryAuthority, pubSubAuthority }));
            Assert.False(handler.IsDisposed);
            // The registry double agrees the calls happened: the device is gone.
            await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => registry.GetAsync("via-handler"));
        }
        Assert.True(handler.IsDisposed);
    }

    [Fact]
    public async Task A_bad_device_host_is_refused_before_any_request()
    {
        // The Transport retry settings are honoured since the surface cut (GcpTransportRetryTests); the other transport rules still hold.
        var options = new GcpIoTOptions
        {
            ProjectId = "my-project", RegistryId = "reg-1",
            CloudIotBaseUrl = new Uri("http://127.0.0.1:1/"), PubSubBaseUrl = new Uri("http://127.0.0.1:1/"),
            Transport = { DeviceHost = "bridge host" },
        };
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(options));
        Assert.Equal("Transport.DeviceHost", error.ParamName);
    }
}
