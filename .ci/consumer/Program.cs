using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;

// A consumer of the packed packages: one device, one reading, one command, end to end.
using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
var ct = timeout.Token;
await using var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions(), cancellationToken: ct);
var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "consumer-1", Credential = CredentialRequest.X509 }, ct);

await using var device = provider.Devices.Create(new DeviceConnectionOptions { DeviceId = "consumer-1", Credential = registration.Credential! });
device.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200)));
await device.ConnectAsync(ct);

await using var readings = provider.Telemetry.ReadAllAsync(ct).GetAsyncEnumerator(ct);
var first = readings.MoveNextAsync();
await device.SendTelemetryAsync(new TelemetryRecord("consumer-1", "temperature", 21.5, DateTimeOffset.UtcNow), ct);
await device.FlushAsync(ct);
if (!await first || readings.Current.Value != 21.5) throw new InvalidOperationException("telemetry did not arrive");

var reply = await provider.Commands.InvokeAsync("consumer-1", new DeviceCommand { Name = "ping" }, ct);
if (reply.Status != 200) throw new InvalidOperationException($"command answered {reply.Status}");
Console.WriteLine("consumer check: packages restored, telemetry delivered, command answered");
