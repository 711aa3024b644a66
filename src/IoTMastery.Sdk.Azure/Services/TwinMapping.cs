using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>Maps IoT Hub twins to the neutral <see cref="Device"/> and <see cref="DeviceState"/>.</summary>
internal static class TwinMapping
{
    public const string SasPrimary = "sas-primary";
    public const string SasSecondary = "sas-secondary";

    /// <summary>
    /// Written to the primary thumbprint slot when its only certificate is revoked: IoT Hub needs a primary thumbprint on a
    /// self-signed device, and no certificate hashes to all zeros, so the device can no longer connect. It is never listed.
    /// </summary>
    public static readonly string RevokedThumbprint = new('0', 64);

    public static Device ToDevice(JsonObject twin)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (twin["tags"] is JsonObject tags)
        {
            foreach (var (key, value) in tags)
            {
                if (value is null) continue;
                attributes[key] = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value.ToJsonString();
            }
        }
        return new Device
        {
            Id = Text(twin["deviceId"]) ?? "",
            Enabled = !string.Equals(Text(twin["status"]), "disabled", StringComparison.OrdinalIgnoreCase),
            Attributes = attributes,
            Version = Long(twin["version"]),
            Credentials = Credentials(Text(twin["authenticationType"]), twin["x509Thumbprint"] as JsonObject),
        };
    }

    public static DeviceState ToState(string deviceId, JsonObject twin)
    {
        var properties = twin["properties"] as JsonObject;
        var (desired, desiredVersion) = Section(properties?["desired"] as JsonObject);
        var (reported, reportedVersion) = Section(properties?["reported"] as JsonObject);
        return new DeviceState { DeviceId = deviceId, Desired = desired, DesiredVersion = desiredVersion, Reported = reported, ReportedVersion = reportedVersion };
    }

    /// <summary>Removes the hub's <c>$version</c> and <c>$metadata</c> from a property section and returns its version.</summary>
    public static (JsonObject Properties, long Version) Section(JsonObject? section)
    {
        var copy = section is null ? [] : (JsonObject)section.DeepClone();
        var version = Long(copy["$version"]);
        copy.Remove("$version");
        copy.Remove("$metadata");
        return (copy, version);
    }

    /// <summary>
    /// The credentials a device lists, each of which can be rotated and revoked. A <c>certificateAuthority</c> device lists
    /// none: the hub accepts any certificate of the verified CA whose CN is the device id and holds nothing per device.
    /// </summary>
    public static IReadOnlyList<CredentialInfo> Credentials(string? authenticationType, JsonObject? thumbprints) => authenticationType switch
    {
        "sas" => [new CredentialInfo { Id = SasPrimary, Kind = CredentialKind.SymmetricKey }, new CredentialInfo { Id = SasSecondary, Kind = CredentialKind.SymmetricKey }],
        "selfSigned" => new[] { Text(thumbprints?["primaryThumbprint"]), Text(thumbprints?["secondaryThumbprint"]) }
            .Where(IsThumbprint).Select(t => new CredentialInfo { Id = t!, Kind = CredentialKind.X509Certificate }).ToList(),
        _ => [],
    };

    /// <summary>Whether a thumbprint slot holds a certificate (it is neither empty nor <see cref="RevokedThumbprint"/>).</summary>
    public static bool IsThumbprint(string? slotValue) => !string.IsNullOrEmpty(slotValue) && slotValue != RevokedThumbprint;

    public static string? Text(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    public static long Long(JsonNode? node) => node is JsonValue v && v.TryGetValue<long>(out var l) ? l : 0;

    /// <summary>Twin tag names: no <c>.</c>, <c>$</c>, space or control characters, at most 128 characters.</summary>
    public static void ValidateAttributeName(string name, string parameterName)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 128 || name.Any(c => c is '.' or '$' or ' ' || char.IsControl(c)))
            throw new ArgumentException($"Attribute name '{(name?.Length > 64 ? name[..64] : name)}' breaks the Azure twin tag rule: 1-128 characters without '.', '$', space or control characters.", parameterName);
    }
}
