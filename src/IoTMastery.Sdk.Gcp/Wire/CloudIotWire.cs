using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// One registry call, independent of the URL scheme that carries it. Query values are unescaped; the wire escapes them.
/// <see cref="Operation"/> names the RPC (CreateDevice, GetDevice, ListDevices, PatchDevice, DeleteDevice,
/// ModifyCloudToDeviceConfig, ListDeviceConfigVersions, ListDeviceStates, SendCommandToDevice, bindDeviceToGateway,
/// unbindDeviceFromGateway).
/// </summary>
internal sealed record CloudIotCall(string Operation, HttpMethod Method, string? DeviceId, IReadOnlyList<KeyValuePair<string, string>> Query, JsonNode? Body, GoogleRetryPolicy Policy);

/// <summary>Carries <see cref="CloudIotCall"/>s over one vendor's URL scheme.</summary>
internal interface ICloudIotWire
{
    Task<JsonNode?> SendAsync(CloudIotCall call, CancellationToken cancellationToken);
}

/// <summary>The Cloud IoT Core v1 REST scheme: <c>v1/projects/…/registries/{r}/devices/{d}[:verb|/sub]</c>.</summary>
internal sealed class CloudIotV1Wire(GoogleRestClient rest, CloudIotRegistryPath registry) : ICloudIotWire
{
    public Task<JsonNode?> SendAsync(CloudIotCall call, CancellationToken cancellationToken)
    {
        var device = call.DeviceId is null ? null : "v1/" + registry.DeviceUrlPath(call.DeviceId);
        var path = call.Operation switch
        {
            "CreateDevice" or "ListDevices" => $"v1/{registry.UrlPath}/devices",
            "GetDevice" or "PatchDevice" or "DeleteDevice" => device!,
            "ModifyCloudToDeviceConfig" => device + ":modifyCloudToDeviceConfig",
            "SendCommandToDevice" => device + ":sendCommandToDevice",
            "ListDeviceConfigVersions" => device + "/configVersions",
            "ListDeviceStates" => device + "/states",
            "bindDeviceToGateway" or "unbindDeviceFromGateway" => $"v1/{registry.UrlPath}:{call.Operation}",
            _ => throw new InvalidOperationException("Unknown Cloud IoT operation " + call.Operation),
        };
        return rest.SendAsync(call.Operation, call.Method, path + QueryString(call.Query, '?'), call.Body, call.Policy, cancellationToken);
    }

    /// <summary>Joins escaped <c>key=value</c> pairs after <paramref name="lead"/>; empty when there are none.</summary>
    internal static string QueryString(IEnumerable<KeyValuePair<string, string>> query, char lead)
    {
        var joined = string.Join('&', query.Select(p => p.Key + "=" + GoogleRestClient.Escape(p.Value)));
        return joined.Length == 0 ? "" : lead + joined;
    }
}
