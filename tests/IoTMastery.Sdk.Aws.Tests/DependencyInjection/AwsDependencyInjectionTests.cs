using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.Aws.Tests.DependencyInjection;

/// <summary>AddAws from an appsettings-shaped configuration section, started by the Generic Host against moto.</summary>
[Collection(MotoCollection.Name)]
public sealed class AwsDependencyInjectionTests(MotoServer moto) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public Task InitializeAsync() => moto.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private HostApplicationBuilder NewHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    private Dictionary<string, string?> MotoSection(string name, string region) => new()
    {
        [$"IoT:Aws:{name}:Region"] = region,
        [$"IoT:Aws:{name}:ControlPlaneEndpoint"] = moto.Endpoint.ToString(),
        [$"IoT:Aws:{name}:DataPlaneEndpoint"] = moto.Endpoint.ToString(),
        [$"IoT:Aws:{name}:DevicePolicyName"] = $"policy-{name}",
        [$"IoT:Aws:{name}:Transport:RequestTimeout"] = "00:00:20",
        [$"IoT:Aws:{name}:Transport:MaxRetries"] = "2",
    };

    [Fact]
    public async Task Two_AWS_providers_from_configuration_register_devices_by_name()
    {
        var settings = MotoSection("eu", "eu-west-1");
        foreach (var (key, value) in MotoSection("us", "us-east-1")) settings[key] = value;
        var builder = NewHost(settings);
        builder.Services.AddIoT()
            // Credentials are code-only (an AWSCredentials object); without them the standard chain would be asked.
            .AddAws("eu", builder.Configuration.GetSection("IoT:Aws:eu"), o => o.Credentials = MotoServer.Credentials)
            .AddAws("us", builder.Configuration.GetSection("IoT:Aws:us"), o => o.Credentials = MotoServer.Credentials).AsDefault();
        using var host = builder.Build();
        using (var timeout = new CancellationTokenSource(Bound)) await host.StartAsync(timeout.Token);
        try
        {
            var options = host.Services.GetRequiredService<IOptionsMonitor<AwsIoTOptions>>();
            Assert.Equal("eu-west-1", options.Get("eu").Region);
            Assert.Equal(moto.Endpoint, options.Get("eu").ControlPlaneEndpoint);
            Assert.Equal(TimeSpan.FromSeconds(20), options.Get("eu").Transport.RequestTimeout);
            Assert.Equal(2, options.Get("eu").Transport.MaxRetries);

            var eu = host.Services.GetRequiredKeyedService<IDeviceRegistry>("eu");
            await eu.RegisterAsync(new DeviceRegistration { Id = "pump-eu", Credential = CredentialRequest.X509 });
            Assert.Equal("pump-eu", (await eu.GetAsync("pump-eu")).Id);
            // The start ensured each provider's own device policy, from its own section.
            var euProvider = (AwsIoTProvider)host.Services.GetRequiredKeyedService<IIoTProvider>("eu");
            Assert.NotNull(await euProvider.ControlPlane.GetPolicyAsync("policy-eu", default));
            var us = (AwsIoTProvider)host.Services.GetRequiredService<IIoTProvider>();
            Assert.Same(host.Services.GetRequiredKeyedService<IIoTProvider>("us"), us);
            Assert.NotNull(await us.ControlPlane.GetPolicyAsync("policy-us", default));
        }
        finally
        {
            using var timeout = new CancellationTokenSource(Bound);
            await host.StopAsync(timeout.Token);
        }
    }

    [Fact]
    public async Task A_bad_region_in_configuration_fails_the_start_naming_the_provider_and_option()
    {
        var settings = MotoSection("eu", "EU West 1");
        var builder = NewHost(settings);
        builder.Services.AddIoT().AddAws("eu", builder.Configuration.GetSection("IoT:Aws:eu"), o => o.Credentials = MotoServer.Credentials);
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(Bound);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(timeout.Token));
        Assert.Contains("IoT provider 'eu' (configuration section 'IoT:Aws:eu'): AwsIoTOptions.Region is invalid", error.Message);
    }

    [Fact]
    public async Task AddAwsIoT_is_the_one_provider_shorthand()
    {
        var builder = NewHost([]);
        builder.Services.AddAwsIoT(o =>
        {
            var defaults = moto.Options();
            o.Region = defaults.Region;
            o.ControlPlaneEndpoint = defaults.ControlPlaneEndpoint;
            o.DataPlaneEndpoint = defaults.DataPlaneEndpoint;
            o.Credentials = defaults.Credentials;
        });
        using var host = builder.Build();
        using (var timeout = new CancellationTokenSource(Bound)) await host.StartAsync(timeout.Token);
        try
        {
            var registry = host.Services.GetRequiredService<IDeviceRegistry>();
            var id = "dev-" + DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture)[^6..];
            await registry.RegisterAsync(new DeviceRegistration { Id = id });
            Assert.Same(host.Services.GetRequiredKeyedService<IIoTProvider>("Aws").Registry, registry);
            Assert.Equal(id, (await registry.GetAsync(id)).Id);
        }
        finally
        {
            using var timeout = new CancellationTokenSource(Bound);
            await host.StopAsync(timeout.Token);
        }
    }
}
