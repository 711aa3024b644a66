using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// A consumer of the packed packages: one device, one reading, one command, end to end.
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
var ct = timeout.Token;
await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions(), cancellationToken: ct);
var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "consumer-1", Credential = CredentialRequest.X509 }, ct);

await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "consumer-1", Credential = registration.Credential! });
device.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200)));
await device.ConnectAsync(ct);

await using var readings = provider.Telemetry.ReadAllAsync(ct).GetAsyncEnumerator(ct);
var first = readings.MoveNextAsync();
await device.SendTelemetryAsync(new TelemetryRecord("consumer-1", "temperature", 21.5, DateTimeOffset.UtcNow), ct);
await device.FlushAsync(ct);
if (!await first || readings.Current.Value != 21.5) throw new InvalidOperationException("telemetry did not arrive");

var reply = await provider.Commands.InvokeAsync("consumer-1", new DeviceCommand { Name = "ping" }, ct);
if (reply.Status != 200) throw new InvalidOperationException($"command answered {reply.Status}");

// Dependency injection: two named providers, one bound from configuration, started and stopped by the host.
var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["IoT:Local:edge:TelemetryReaderCapacity"] = "1000" });
builder.Services.AddIoT().AddLocal("edge", builder.Configuration.GetSection("IoT:Local:edge")).AddLocal("plant").AsDefault();
using (var host = builder.Build())
{
    await host.StartAsync(ct);
    await host.Services.GetRequiredKeyedService<IDeviceRegistry>("edge").RegisterAsync(new DeviceRegistration { Id = "consumer-di" }, ct);
    await AssertMissing(host.Services.GetRequiredService<IDeviceRegistry>(), "plant");
    await host.StopAsync(ct);
}
Console.WriteLine("consumer check: packages restored, telemetry delivered, command answered, two providers started by the host");

// The default ("plant") is a different registry from "edge": the device registered on edge is not there.
static async Task AssertMissing(IDeviceRegistry registry, string name)
{
    try
    {
        await registry.GetAsync("consumer-di");
        throw new InvalidOperationException($"the device registered on 'edge' was found on '{name}'");
    }
    catch (IoTException ex) when (ex.Kind == IoTErrorKind.DeviceNotFound)
    {
    }
}
