using System.Diagnostics;
using System.Text.Json.Nodes;
using IoTMastery.Sdk;
using MultiCloud;

// The quickstart loop written against IIoTProvider only: provision, connect, stream telemetry,
// command every device, set desired state and start a firmware rollout. `--provider local|aws|azure|gcp` picks the cloud.
string provider = "local";
int count = 3;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--provider" when i + 1 < args.Length: provider = args[++i]; break;
        case "--devices" when i + 1 < args.Length && int.TryParse(args[i + 1], out var n) && n is >= 1 and <= 100: count = n; i++; break;
        default:
            Console.Error.WriteLine("usage: MultiCloud [--provider local|aws|azure|gcp] [--devices 1-100]");
            return 2;
    }
}

using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = cancel.Token;
await using var host = await ProviderHost.StartAsync(provider, ct);
var iot = host.Provider;
Console.WriteLine($"Provider {iot.Name}: {host.Description}");
var prefix = "mc-" + Guid.NewGuid().ToString("N")[..6];
var ids = Enumerable.Range(1, count).Select(i => $"{prefix}-{i:00}").ToList();
foreach (var id in ids) iot.DeviceIdRules.Validate(id);

// 1. Provision with the credential kind the provider issues: X.509 certificates, or public keys for JWT-signing devices.
var request = iot.Capabilities.CredentialKinds.Contains(CredentialKind.X509Certificate) ? CredentialRequest.X509
    : new CredentialRequest { Kind = iot.Capabilities.CredentialKinds.Order().First() };
var credentials = new Dictionary<string, IssuedCredential>();
foreach (var id in ids)
    credentials[id] = (await iot.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = request }, ct)).Credential!;
Console.WriteLine($"✓ registered {ids.Count} devices with {request.Kind} credentials");

// 2. Connect with those credentials; each device answers "reboot".
var connections = new List<IDeviceConnection>();
foreach (var id in ids)
{
    var connection = iot.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credentials[id] });
    connection.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["did"] = command.Name })));
    await connection.ConnectAsync(ct);
    connections.Add(connection);
}
Console.WriteLine($"✓ {connections.Count(c => c.IsConnected)}/{connections.Count} devices connected");

// 3. Telemetry.
const int perDevice = 10;
async Task SendTelemetryAsync()
{
    foreach (var connection in connections)
    {
        for (var i = 0; i < perDevice; i++)
            await connection.SendTelemetryAsync(new TelemetryRecord(connection.DeviceId, "temperature", 20 + i, DateTimeOffset.UtcNow), ct);
        await connection.FlushAsync(ct);
    }
}
if (iot.Capabilities.TelemetryConsumption)
{
    var expected = perDevice * connections.Count;
    var received = 0;
    // Returns once the subscription is live on the provider's peer: records sent from here on are read, no delay needed.
    await using var subscription = await iot.Telemetry.SubscribeAsync(ct);
    var consumer = Task.Run(async () =>
    {
        await foreach (var _ in subscription.ReadAllAsync(ct))
            if (Interlocked.Increment(ref received) == expected) break;
    }, ct);
    await SendTelemetryAsync();
    await consumer.WaitAsync(TimeSpan.FromSeconds(30), ct);
    Console.WriteLine($"✓ {received}/{expected} telemetry records delivered and consumed");
}
else
{
    // Devices still send; only the read side is missing (e.g. Azure without an Event Hubs endpoint), so say so.
    await SendTelemetryAsync();
    Console.WriteLine($"✓ {perDevice * connections.Count} telemetry records sent; consumption skipped: Capabilities.TelemetryConsumption is false on this provider configuration");
}

// 4. Commands.
if (iot.Capabilities.Commands)
{
    var sw = Stopwatch.StartNew();
    var replies = await Task.WhenAll(ids.Select(id => iot.Commands.InvokeAsync(id, new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(10) }, ct)));
    Console.WriteLine($"✓ reboot: {replies.Count(r => r.Status == 200)}/{replies.Length} replied 200 in {sw.ElapsedMilliseconds} ms");
}
else
{
    Console.WriteLine("- commands skipped: Capabilities.Commands is false on this provider configuration");
}

// 5. Desired state through the registry's state service.
var state = await iot.State.UpdateDesiredAsync(ids[0], new JsonObject { ["sampleRate"] = 5 }, cancellationToken: ct);
var read = await iot.State.GetAsync(ids[0], ct);
Console.WriteLine($"✓ desired state of {ids[0]} at version {state.DesiredVersion}: {read.Desired.ToJsonString()}");

// 6. Firmware: a release and a two-wave rollout; progress read back per device.
var version = "1.1." + DateTimeOffset.UtcNow.ToUnixTimeSeconds();
await iot.Firmware.CreateReleaseAsync(new FirmwareRelease
{
    Version = version,
    Uri = new Uri("https://firmware.example.com/fw-" + version + ".bin"),
    Sha256 = new string('0', 64),
    SizeBytes = 1024,
}, ct);
var operation = await iot.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = version, DeviceIds = ids }, ct);
// One read, no wait: these devices run no firmware agent, so the rollout would only end by its device timeout.
var rollout = await operation.UpdateStatusAsync(ct);
Console.WriteLine($"✓ rollout {rollout.Id}: {rollout.Status}, {rollout.WaveCount} wave(s), " +
    string.Join(", ", Enum.GetValues<DeviceRolloutStatus>().Where(s => rollout.Count(s) > 0).Select(s => $"{rollout.Count(s)} {s}")));
rollout = await iot.Firmware.CancelRolloutAsync(rollout.Id, ct);
Console.WriteLine($"✓ rollout cancelled: {rollout.Status}");

// 7. Clean up.
foreach (var connection in connections) await connection.DisposeAsync();
foreach (var id in ids) await iot.Registry.DeleteAsync(id, ct);
Console.WriteLine($"✓ deleted {ids.Count} devices");
return 0;
