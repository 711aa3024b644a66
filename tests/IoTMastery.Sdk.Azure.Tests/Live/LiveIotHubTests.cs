using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure.Tests.Live;

/// <summary>
/// Opt-in tests against a real hub. IOTMASTERY_AZURE_IOTHUB_CONNECTION_STRING is a service policy string with registry
/// write and service connect rights (iothubowner); IOTMASTERY_AZURE_EVENTHUB_CONNECTION_STRING is the built-in endpoint's
/// Event Hubs-compatible string (for the telemetry read test). Every test deletes the devices it creates.
/// </summary>
public sealed class LiveIotHubTests
{
    private static AzureIoTProvider Create() => AzureIoTProvider.Create(new AzureIoTOptions
    {
        ConnectionString = Environment.GetEnvironmentVariable(LiveFactAttribute.ConnectionStringVariable),
        EventHub = Environment.GetEnvironmentVariable(LiveFactAttribute.EventHubVariable) is { Length: > 0 } eh
            ? new AzureEventHubOptions { ConnectionString = eh, StartFromEarliest = false }
            : null,
    });

    [LiveFact]
    public async Task Device_lifecycle_state_and_command_on_a_real_hub()
    {
        await using var provider = Create();
        var id = "iotm-live-" + Guid.NewGuid().ToString("N")[..8];
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });
        try
        {
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registered.Credential! });
            var desired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            device.SetCommandHandler((c, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["echo"] = c.Name })));
            device.SetDesiredStateHandler((desiredDocument, _, _) => { if (desiredDocument.ContainsKey("mode")) desired.TrySetResult(); return ValueTask.CompletedTask; });
            await device.ConnectAsync();
            await device.ReportStateAsync(new JsonObject { ["live"] = true });
            await provider.State.UpdateDesiredAsync(id, new JsonObject { ["mode"] = "eco" });
            await desired.Task.WaitAsync(TimeSpan.FromSeconds(30));
            var reply = await provider.Commands.InvokeAsync(id, new DeviceCommand { Name = "ping", Timeout = TimeSpan.FromSeconds(20) });
            Assert.Equal(200, reply.Status);
            Assert.True((await provider.State.GetAsync(id)).Reported["live"]!.GetValue<bool>());
        }
        finally
        {
            await provider.Registry.DeleteAsync(id);
        }
    }

    [LiveFact(LiveFactAttribute.ConnectionStringVariable, LiveFactAttribute.EventHubVariable)]
    public async Task Telemetry_reaches_the_built_in_endpoint()
    {
        await using var provider = Create();
        var id = "iotm-live-" + Guid.NewGuid().ToString("N")[..8];
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });
        try
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var reader = Task.Run(async () =>
            {
                await foreach (var record in provider.Telemetry.ReadAllAsync(cancel.Token))
                    if (record.DeviceId == id) return record;
                return default;
            });
            await Task.Delay(TimeSpan.FromSeconds(5));
            await using var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registered.Credential! });
            await device.ConnectAsync();
            await device.SendTelemetryAsync(new TelemetryRecord(id, "temperature", 21.5, DateTimeOffset.UtcNow));
            await device.FlushAsync();
            var received = await reader;
            Assert.Equal("temperature", received.Metric);
        }
        finally
        {
            await provider.Registry.DeleteAsync(id);
        }
    }
}
