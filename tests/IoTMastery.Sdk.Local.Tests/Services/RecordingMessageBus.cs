using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Local.Tests.Services;

/// <summary>An in-memory bus that records publishes and disconnects; the real broker is built elsewhere.</summary>
internal sealed class RecordingMessageBus : IDeviceMessageBus
{
    private readonly Lock _lock = new();
    private readonly List<(string Topic, string Payload, bool Retain)> _published = [];
    private readonly List<string> _disconnected = [];

    public IReadOnlyList<(string Topic, string Payload, bool Retain)> Published { get { lock (_lock) return _published.ToList(); } }

    public IReadOnlyList<string> Disconnected { get { lock (_lock) return _disconnected.ToList(); } }

    public bool IsConnected(string deviceId) => false;

    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken)
    {
        lock (_lock) _published.Add((topic, Encoding.UTF8.GetString(payload.Span), retain));
        return Task.CompletedTask;
    }

    public Task DisconnectAsync(string deviceId, CancellationToken cancellationToken)
    {
        lock (_lock) _disconnected.Add(deviceId);
        return Task.CompletedTask;
    }

    /// <summary>The last retained desired-state message published for the device.</summary>
    public JsonObject? LastDesired(string deviceId)
    {
        var topic = LocalTopics.DesiredState(deviceId);
        var last = Published.LastOrDefault(p => p.Topic == topic);
        return last.Topic is null ? null : JsonNode.Parse(last.Payload)!.AsObject();
    }
}
