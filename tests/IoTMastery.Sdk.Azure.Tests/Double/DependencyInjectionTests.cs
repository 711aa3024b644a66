using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>AddAzure / AddAzureIoT in a Generic Host against the IoT Hub double.</summary>
[Collection(DoubleCollection.Name)]
public sealed class DependencyInjectionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AddAzureIoT_registers_the_provider_and_each_neutral_interface()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddAzureIoT(o =>
        {
            o.ConnectionString = hub.ServiceConnectionString;
            o.ServiceEndpoint = new Uri($"https://localhost:{hub.HttpsPort}");
            o.Transport.HttpHandler = IotHubDoubleProviders.TrustingHandler(hub.CaCertificate);
        });
        using var host = builder.Build();
        using (var timeout = new CancellationTokenSource(Bound)) await host.StartAsync(timeout.Token);
        try
        {
            Assert.Equal("Azure", host.Services.GetRequiredService<IIoTProvider>().Name);
            var registry = host.Services.GetRequiredService<IDeviceRegistry>();
            await registry.RegisterAsync(new DeviceRegistration { Id = "di1" });
            Assert.Equal("di1", (await registry.GetAsync("di1")).Id);
            Assert.Same(host.Services.GetRequiredService<IIoTProvider>().Registry, registry);
        }
        finally
        {
            using var timeout = new CancellationTokenSource(Bound);
            await host.StopAsync(timeout.Token);
        }
    }

    [Fact]
    public async Task The_connection_string_comes_from_configuration_and_code_only_members_from_the_delegate()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["IoT:Azure:main:ConnectionString"] = hub.ServiceConnectionString,
            ["IoT:Azure:main:ServiceEndpoint"] = $"https://localhost:{hub.HttpsPort}",
        });
        builder.Services.AddIoT().AddAzure("main", builder.Configuration.GetSection("IoT:Azure:main"),
            o => o.Transport.HttpHandler = IotHubDoubleProviders.TrustingHandler(hub.CaCertificate));
        using var host = builder.Build();
        using (var timeout = new CancellationTokenSource(Bound)) await host.StartAsync(timeout.Token);
        try
        {
            var registry = host.Services.GetRequiredKeyedService<IDeviceRegistry>("main");
            await registry.RegisterAsync(new DeviceRegistration { Id = "di2" });
            Assert.Equal("di2", (await registry.GetAsync("di2")).Id);
        }
        finally
        {
            using var timeout = new CancellationTokenSource(Bound);
            await host.StopAsync(timeout.Token);
        }
    }

    [Fact]
    public async Task A_device_connection_string_is_refused_at_start_naming_the_option_without_its_secret()
    {
        const string key = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddAzureIoT(o => o.ConnectionString = $"HostName=h;DeviceId=d;SharedAccessKey={key}");
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(Bound);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(timeout.Token));
        Assert.Contains("IoT provider 'Azure': AzureIoTOptions.ConnectionString is invalid", error.Message);
        Assert.DoesNotContain(key, error.Message);
    }

    [Fact]
    public async Task The_event_hub_section_binds_its_checkpoint_directory_and_a_hubless_connection_string_is_refused_at_start()
    {
        const string key = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        await using var hub = await IotHubDouble.StartAsync();
        var checkpoints = Path.Combine(Path.GetTempPath(), "iotm-azure-cp-" + Guid.NewGuid().ToString("N"));
        IHost Build(string eventHubConnectionString)
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["IoT:Azure:main:ConnectionString"] = hub.ServiceConnectionString,
                ["IoT:Azure:main:ServiceEndpoint"] = $"https://localhost:{hub.HttpsPort}",
                ["IoT:Azure:main:EventHub:ConnectionString"] = eventHubConnectionString,
                ["IoT:Azure:main:EventHub:ConsumerGroup"] = "fleet-reader",
                ["IoT:Azure:main:EventHub:CheckpointDirectory"] = checkpoints,
            });
            builder.Services.AddIoT().AddAzure("main", builder.Configuration.GetSection("IoT:Azure:main"),
                o => o.Transport.HttpHandler = IotHubDoubleProviders.TrustingHandler(hub.CaCertificate));
            return builder.Build();
        }

        // Binding and starting make no Event Hubs call: the reader connects when telemetry is first read.
        using (var host = Build($"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey={key};EntityPath=myhub"))
        {
            using var timeout = new CancellationTokenSource(Bound);
            await host.StartAsync(timeout.Token);
            var eventHub = host.Services.GetRequiredService<IOptionsMonitor<AzureIoTOptions>>().Get("main").EventHub;
            Assert.Equal(checkpoints, eventHub?.CheckpointDirectory);
            Assert.Equal("fleet-reader", eventHub?.ConsumerGroup);
            Assert.True(host.Services.GetRequiredKeyedService<IIoTProvider>("main").Capabilities.TelemetryConsumption);
            await host.StopAsync(timeout.Token);
        }
        // Without EntityPath the checkpoint file could not be named after the hub.
        using (var host = Build($"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey={key}"))
        {
            using var timeout = new CancellationTokenSource(Bound);
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(timeout.Token));
            Assert.Contains("EventHub.ConnectionString", error.Message);
            Assert.DoesNotContain(key, error.Message);
        }
        Assert.False(Directory.Exists(checkpoints));
    }
}
