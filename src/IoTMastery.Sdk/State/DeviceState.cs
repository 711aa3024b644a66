using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>
/// A device's desired state (what the fleet wants) and reported state (what the device says), each
/// with a version that increases on every change. Known as a shadow (AWS), a twin (Azure) or
/// config/state (GCP style).
/// </summary>
public sealed record DeviceState
{
    /// <summary>The device.</summary>
    public required string DeviceId { get; init; }

    /// <summary>The desired properties.</summary>
    public JsonObject Desired { get; init; } = [];

    /// <summary>The desired document's version; 0 before the first change.</summary>
    public long DesiredVersion { get; init; }

    /// <summary>The reported properties.</summary>
    public JsonObject Reported { get; init; } = [];

    /// <summary>The reported document's version; 0 before the first report.</summary>
    public long ReportedVersion { get; init; }
}

/// <summary>Fleet side: read device state and change desired state with optimistic concurrency.</summary>
public interface IDeviceStateService
{
    /// <summary>Reads the device's desired and reported state.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    Task<DeviceState> GetAsync(string deviceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Merges <paramref name="patch"/> into the desired state (JSON merge patch: a <see langword="null"/>
    /// value removes a property) and notifies the device.
    /// </summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="patch">The properties to change.</param>
    /// <param name="expectedVersion">When set, the change fails unless the desired version is this.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.PreconditionFailed"/>: <paramref name="expectedVersion"/> is not current.</exception>
    Task<DeviceState> UpdateDesiredAsync(string deviceId, JsonObject patch, long? expectedVersion = null, CancellationToken cancellationToken = default);
}
