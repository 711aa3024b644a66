using Microsoft.Extensions.DependencyInjection;

namespace IoTMastery.Sdk.Azure.Tests.Double;

[Collection(DoubleCollection.Name)]
public sealed class DependencyInjectionTests
{
    [Fact]
    public async Task AddAzureIoT_registers_the_provider_and_each_neutral_interface()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var services = new ServiceCollection().AddAzureIoT(o =>
        {
            o.ConnectionString = hub.ServiceConnectionString;
            o.ServiceEndpoint = new Uri($"https://localhost:{hub.HttpsPort}");
            o.HttpHandler = IotHubDoubleProviders.TrustingHandler(hub.CaCertificate);
        });
        await using var sp = services.BuildServiceProvider();
        Assert.Equal("Azure", sp.GetRequiredService<IIoTProvider>().Name);
        var registry = sp.GetRequiredService<IDeviceRegistry>();
        await registry.RegisterAsync(new DeviceRegistration { Id = "di1" });
        Assert.Equal("di1", (await registry.GetAsync("di1")).Id);
        Assert.Same(sp.GetRequiredService<IIoTProvider>().Devices, sp.GetRequiredService<IDeviceConnectionFactory>());
    }

    [Fact]
    public void AddAzureIoT_validates_options_at_registration() =>
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddAzureIoT(o => o.ConnectionString = "HostName=h;DeviceId=d;SharedAccessKey=AAAA"));
}
