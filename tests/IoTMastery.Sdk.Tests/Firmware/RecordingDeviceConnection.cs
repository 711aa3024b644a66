using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>An in-memory device connection that records reported-state patches; the real one lives in the Mqtt package.</summary>
internal sealed class RecordingDeviceConnection : IDeviceConnection
{
    private readonly Lock _lock = new();
    private readonly List<JsonObject> _reports = [];

    public string DeviceId => "dev-1";

    public bool IsConnected => true;

    public IReadOnlyList<JsonObject> Reports
    {
        get { lock (_lock) return _reports.ToList(); }
    }

    public Task ConnectAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public ValueTask SendTelemetryAsync(TelemetryRecord record, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public Task FlushAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public void SetCommandHandler(Func<DeviceCommand, CancellationToken, ValueTask<CommandResponse>> handler) { }

    public void SetDesiredStateHandler(Func<JsonObject, long, CancellationToken, ValueTask> handler) { }

    public Task ReportStateAsync(JsonObject patch, CancellationToken cancellationToken = default)
    {
        // Round-trip through text so tests see exactly what would cross the wire.
        lock (_lock) _reports.Add((JsonObject)JsonNode.Parse(patch.ToJsonString())!);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
