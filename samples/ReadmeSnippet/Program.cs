// README-SNIPPET-START
using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;

await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = "fleet.db" });

// Fleet side: register a device; the registry issues an X.509 certificate from the local CA.
var registration = await provider.Registry.RegisterAsync(
    new DeviceRegistration { Id = "pump-001", Credential = CredentialRequest.X509 });

// Device side: connect over mutual TLS and answer commands.
await using var device = provider.CreateDeviceConnection(
    new DeviceConnectionOptions { DeviceId = "pump-001", Credential = registration.Credential! });
device.SetCommandHandler((command, ct) => ValueTask.FromResult(new CommandResponse(200)));
await device.ConnectAsync();

// Telemetry is accepted into the batching core at once and acknowledged on flush.
await device.SendTelemetryAsync(new TelemetryRecord("pump-001", "pressure", 2.4, DateTimeOffset.UtcNow));
await device.FlushAsync();

// Fleet side again: command the device and wait for its reply.
var reply = await provider.Commands.InvokeAsync("pump-001", new DeviceCommand { Name = "reboot" });
Console.WriteLine($"reboot answered {reply.Status}");
// README-SNIPPET-END
