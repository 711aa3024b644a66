using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Local;

/// <summary>Decides whether a device may connect; implemented by the registry, asked by the broker on every CONNECT.</summary>
internal interface IDeviceAccessPolicy
{
    /// <summary>
    /// True when <paramref name="deviceId"/> exists, is enabled, and the certificate with this SHA-256
    /// thumbprint (uppercase hex) is one of its active credentials.
    /// </summary>
    ValueTask<bool> CanConnectAsync(string deviceId, string certificateThumbprintSha256, CancellationToken cancellationToken);
}

/// <summary>The fleet side's handle on the broker.</summary>
internal interface IDeviceMessageBus
{
    /// <summary>Whether the device has a live session.</summary>
    bool IsConnected(string deviceId);

    /// <summary>Publishes from the fleet side (QoS 1).</summary>
    Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, bool retain, CancellationToken cancellationToken);

    /// <summary>Closes every session of the device (after revocation, disabling or deletion).</summary>
    Task DisconnectAsync(string deviceId, CancellationToken cancellationToken);
}

/// <summary>Receives reported-state patches that devices publish.</summary>
internal interface IReportedStateSink
{
    /// <summary>Merges <paramref name="patch"/> into the device's reported state.</summary>
    Task ApplyReportedAsync(string deviceId, JsonObject patch, CancellationToken cancellationToken);
}
