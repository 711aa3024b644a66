using IoTMastery.Sdk.TestSupport;
using System.Net;
using System.Net.Sockets;
using IoTMastery.Sdk.Local;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.Local.Tests.DependencyInjection;

/// <summary>
/// <c>services.AddIoT()</c> with real embedded providers in a real Generic Host: named providers as keyed services, the
/// default for the unkeyed interfaces, options from configuration validated on start, and start/stop by the hosted service.
/// </summary>
public sealed class IoTBuilderTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static HostApplicationBuilder NewHost(Dictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    private static async Task<IHost> StartAsync(HostApplicationBuilder builder)
    {
        var host = builder.Build();
        using var timeout = new CancellationTokenSource(Bound);
        await host.StartAsync(timeout.Token);
        return host;
    }

    private static async Task StopAsync(IHost host)
    {
        using var timeout = new CancellationTokenSource(Bound);
        await host.StopAsync(timeout.Token);
        host.Dispose();
    }

    [Fact]
    public async Task Two_named_providers_are_separate_keyed_services()
    {
        var builder = NewHost();
        builder.Services.AddIoT().AddLocal("edge").AddLocal("plant");
        var host = await StartAsync(builder);
        try
        {
            var edge = host.Services.GetRequiredKeyedService<IIoTProvider>("edge");
            var plant = host.Services.GetRequiredKeyedService<IIoTProvider>("plant");
            Assert.NotSame(edge, plant);
            Assert.Same(edge.Registry, host.Services.GetRequiredKeyedService<IDeviceRegistry>("edge"));
            Assert.Same(plant.Registry, host.Services.GetRequiredKeyedService<IDeviceRegistry>("plant"));
            var factory = host.Services.GetRequiredService<IIoTProviderFactory>();
            Assert.Equal(["edge", "plant"], factory.Names);
            Assert.Same(edge, factory.GetProvider("edge"));

            // Two registries: a device registered on one does not exist on the other.
            await edge.Registry.RegisterAsync(new DeviceRegistration { Id = "pump-1" });
            Assert.Equal("pump-1", (await edge.Registry.GetAsync("pump-1")).Id);
            await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => plant.Registry.GetAsync("pump-1"));

            var unknown = Assert.Throws<ArgumentException>(() => factory.GetProvider("cloud"));
            Assert.Contains("'edge', 'plant'", unknown.Message);
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public async Task With_one_provider_the_unkeyed_interfaces_resolve_to_it()
    {
        var builder = NewHost();
        builder.Services.AddIoT().AddLocal("only");
        var host = await StartAsync(builder);
        try
        {
            var provider = host.Services.GetRequiredService<IIoTProvider>();
            Assert.Same(host.Services.GetRequiredKeyedService<IIoTProvider>("only"), provider);
            Assert.Same(provider.Registry, host.Services.GetRequiredService<IDeviceRegistry>());
            Assert.Same(provider.State, host.Services.GetRequiredService<IDeviceStateService>());
            Assert.Same(provider.Commands, host.Services.GetRequiredService<IDeviceCommandService>());
            Assert.Same(provider.Telemetry, host.Services.GetRequiredService<ITelemetryChannel>());
            Assert.Same(provider.Firmware, host.Services.GetRequiredService<IFirmwareService>());
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public async Task With_several_providers_the_unkeyed_interface_needs_a_default()
    {
        var builder = NewHost();
        builder.Services.AddIoT().AddLocal("edge").AddLocal("plant");
        var host = await StartAsync(builder);
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<IIoTProvider>());
            Assert.Contains("'edge', 'plant'", error.Message);
            Assert.Contains("AsDefault()", error.Message);
            Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<IDeviceRegistry>());
        }
        finally
        {
            await StopAsync(host);
        }

        builder = NewHost();
        builder.Services.AddIoT().AddLocal("edge").AddLocal("plant").AsDefault();
        host = await StartAsync(builder);
        try
        {
            Assert.Same(host.Services.GetRequiredKeyedService<IIoTProvider>("plant"), host.Services.GetRequiredService<IIoTProvider>());
            Assert.Same(host.Services.GetRequiredKeyedService<IDeviceRegistry>("plant"), host.Services.GetRequiredService<IDeviceRegistry>());
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public void Names_are_checked_when_added()
    {
        var iot = new ServiceCollection().AddIoT();
        Assert.Contains("letters, digits", Assert.Throws<ArgumentException>(() => iot.AddLocal("two words")).Message);
        Assert.Throws<ArgumentException>(() => iot.AddLocal(""));
        Assert.Throws<InvalidOperationException>(() => iot.AsDefault());
        iot.AddLocal("edge");
        Assert.Contains("already added", Assert.Throws<ArgumentException>(() => iot.AddLocal("edge")).Message);
        // AddIoT() again returns a builder over the same providers.
        Assert.Throws<ArgumentException>(() => iot.Services.AddIoT().AddLocal("edge"));
        iot.AsDefault();
        Assert.Throws<InvalidOperationException>(() => iot.AddLocal("plant").AsDefault());
    }

    [Fact]
    public async Task Options_are_bound_from_configuration_per_provider_name()
    {
        using var dir = new TempDirectory();
        var db = Path.Combine(dir.Path, "edge.db");
        var builder = NewHost(new()
        {
            ["IoT:Local:edge:DatabasePath"] = db,
            ["IoT:Local:edge:TelemetryReaderCapacity"] = "500",
            ["IoT:Local:edge:TelemetryJournal:Directory"] = Path.Combine(dir.Path, "journal"),
            ["IoT:Local:edge:TelemetryJournal:MaxDiskBytes"] = "33554432",
            ["IoT:Local:plant:TelemetryReaderCapacity"] = "700",
        });
        builder.Services.AddIoT()
            .AddLocal("edge", builder.Configuration.GetSection("IoT:Local:edge"))
            .AddLocal("plant", builder.Configuration.GetSection("IoT:Local:plant"), o => o.TelemetryReaderCapacity += 1);
        var host = await StartAsync(builder);
        try
        {
            var options = host.Services.GetRequiredService<IOptionsMonitor<LocalIoTOptions>>();
            Assert.Equal(db, options.Get("edge").DatabasePath);
            Assert.Equal(500, options.Get("edge").TelemetryReaderCapacity);
            Assert.Equal(Path.Combine(dir.Path, "journal"), options.Get("edge").TelemetryJournal!.Directory);
            Assert.Equal(32L * 1024 * 1024, options.Get("edge").TelemetryJournal!.MaxDiskBytes);
            Assert.Null(options.Get("plant").DatabasePath);
            Assert.Equal(701, options.Get("plant").TelemetryReaderCapacity);

            // The bound path is the one the provider used: its database exists, and holds a device after a register.
            await host.Services.GetRequiredKeyedService<IDeviceRegistry>("edge").RegisterAsync(new DeviceRegistration { Id = "dev-db" });
            Assert.True(File.Exists(db));
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public async Task A_bad_option_from_configuration_stops_the_host_at_start_naming_the_provider_and_option()
    {
        var builder = NewHost(new() { ["IoT:Local:plant:Port"] = "70000" });
        builder.Services.AddIoT()
            .AddLocal("edge")
            .AddLocal("plant", builder.Configuration.GetSection("IoT:Local:plant"));
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(Bound);
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(timeout.Token));
        Assert.Contains("IoT provider 'plant'", error.Message);
        Assert.Contains("LocalIoTOptions.Port", error.Message);
        Assert.Contains("'IoT:Local:plant'", error.Message);
        // Validation runs before any hosted service, so no provider started.
        Assert.Contains("has not started", Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredKeyedService<IIoTProvider>("edge")).Message);
    }

    [Fact]
    public async Task Providers_exist_only_between_host_start_and_stop()
    {
        var builder = NewHost();
        builder.Services.AddIoT().AddLocal("edge");
        using var host = builder.Build();

        var early = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<IIoTProvider>());
        Assert.Contains("'edge' has not started", early.Message);
        var waiting = host.Services.GetRequiredService<IIoTProviderFactory>().GetProviderAsync("edge", CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        using (var timeout = new CancellationTokenSource(Bound)) await host.StartAsync(timeout.Token);
        var provider = (LocalIoTProvider)await waiting.WaitAsync(Bound);
        Assert.Same(provider, host.Services.GetRequiredService<IIoTProvider>());
        await AssertListensAsync(provider.Port, true);

        using (var timeout = new CancellationTokenSource(Bound)) await host.StopAsync(timeout.Token);
        // Stopping the host disposed the provider: its broker no longer accepts connections.
        await AssertListensAsync(provider.Port, false);
        Assert.Contains("stopped", Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<IIoTProviderFactory>().GetProvider("edge")).Message);
    }

    [Fact]
    public async Task A_provider_that_fails_to_start_is_named_and_the_others_are_stopped()
    {
        // A port held open by this test: the Local broker cannot bind it.
        using var occupied = new TcpListener(IPAddress.Loopback, 0);
        occupied.Start();
        var port = ((IPEndPoint)occupied.LocalEndpoint).Port;

        LocalIoTProvider? good = null;
        var builder = NewHost();
        builder.Services.AddIoT()
            .AddProvider("good", async (sp, ct) => good = await LocalIoTProvider.StartAsync(cancellationToken: ct))
            .AddLocal("blocked", o => o.Port = port);
        using var host = builder.Build();
        using var timeout = new CancellationTokenSource(Bound);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(timeout.Token));

        Assert.StartsWith("IoT provider 'blocked' failed to start", error.Message);
        Assert.DoesNotContain("'good'", error.Message);
        Assert.NotNull(error.InnerException);
        // The provider that did start was disposed rather than left running without a host.
        Assert.NotNull(good);
        await AssertListensAsync(good.Port, false);
        var later = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredKeyedService<IIoTProvider>("good"));
        Assert.Contains("failed to start", later.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.Services.GetRequiredService<IIoTProviderFactory>().GetProviderAsync("good"));
    }

    [Fact]
    public async Task Providers_start_in_parallel()
    {
        // Each start waits until the other one has begun: started one after the other, neither would finish.
        var aBegan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bBegan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = NewHost();
        builder.Services.AddIoT()
            .AddProvider("a", async (sp, ct) =>
            {
                aBegan.SetResult();
                await bBegan.Task.WaitAsync(ct);
                return await LocalIoTProvider.StartAsync(cancellationToken: ct);
            })
            .AddProvider("b", async (sp, ct) =>
            {
                bBegan.SetResult();
                await aBegan.Task.WaitAsync(ct);
                return await LocalIoTProvider.StartAsync(cancellationToken: ct);
            });
        var host = await StartAsync(builder);
        try
        {
            Assert.NotSame(host.Services.GetRequiredKeyedService<IIoTProvider>("a"), host.Services.GetRequiredKeyedService<IIoTProvider>("b"));
        }
        finally
        {
            await StopAsync(host);
        }
    }

    [Fact]
    public async Task AddLocalIoT_remains_the_one_provider_shorthand()
    {
        var builder = NewHost();
        builder.Services.AddLocalIoT();
        var host = await StartAsync(builder);
        try
        {
            var registry = host.Services.GetRequiredService<IDeviceRegistry>();
            await registry.RegisterAsync(new DeviceRegistration { Id = "dev-di" });
            Assert.Same(host.Services.GetRequiredKeyedService<IIoTProvider>("Local").Registry, registry);
            Assert.Equal("dev-di", (await host.Services.GetRequiredService<IIoTProvider>().Registry.GetAsync("dev-di")).Id);
        }
        finally
        {
            await StopAsync(host);
        }
    }

    private static async Task AssertListensAsync(int port, bool expected)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(Bound);
        bool listens;
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            listens = true;
        }
        catch (SocketException)
        {
            listens = false;
        }
        Assert.Equal(expected, listens);
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("iotm-di-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
