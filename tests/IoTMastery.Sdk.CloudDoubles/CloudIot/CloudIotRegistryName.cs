namespace IoTMastery.Sdk.CloudDoubles.CloudIot;

/// <summary>
/// The doubles' own name of a registry, <c>projects/{p}/locations/{l}/registries/{r}</c> (the SDK's registry path is
/// internal, and a peer should not share the provider's code anyway).
/// </summary>
public sealed record CloudIotRegistryName(string ProjectId, string Location, string RegistryId)
{
    /// <summary>The registry's resource name.</summary>
    public override string ToString() => $"projects/{ProjectId}/locations/{Location}/registries/{RegistryId}";

    /// <summary>A device's resource name, which is also its MQTT client id on the bridge.</summary>
    public string Device(string deviceId) => $"{this}/devices/{deviceId}";
}
