using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Cli;

/// <summary>
/// The stable JSON shapes of <c>--output json</c> (camelCase, ISO-8601 times, enums as lower-case strings), written out
/// member by member so a change of an SDK record never changes the tool's output by accident.
/// </summary>
internal static class Views
{
    public static JsonObject Device(Device d) => new()
    {
        ["id"] = d.Id,
        ["status"] = Status(d),
        ["version"] = d.Version,
        ["createdAt"] = Time(d.CreatedAt),
        ["attributes"] = new JsonObject(d.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => KeyValuePair.Create(a.Key, (JsonNode?)a.Value))),
        ["credentials"] = new JsonArray(d.Credentials.Select(c => (JsonNode)Credential(c)).ToArray()),
    };

    public static JsonObject Credential(CredentialInfo c) => new()
    {
        ["id"] = c.Id,
        ["kind"] = Lower(c.Kind),
        ["status"] = c.Revoked ? "revoked" : "active", // the stable JSON keeps the words the former CredentialStatus enum gave
        ["notBefore"] = Time(c.NotBefore),
        ["notAfter"] = Time(c.NotAfter),
    };

    /// <summary>An issued credential: secrets only when asked for with <c>--show-secrets</c>; otherwise where the bundle went.</summary>
    public static JsonObject Issued(IssuedCredential credential, string? bundlePath, bool showSecrets)
    {
        var o = Credential(credential.Info);
        if (bundlePath is not null) o["bundle"] = bundlePath;
        if (showSecrets)
        {
            o["certificatePem"] = credential.CertificatePem;
            o["privateKeyPem"] = credential.PrivateKeyPem;
            o["symmetricKey"] = credential.SymmetricKey;
            o["publicKeyPem"] = credential.PublicKeyPem;
        }
        return o;
    }

    public static JsonObject State(DeviceState s) => new()
    {
        ["deviceId"] = s.DeviceId,
        ["desired"] = s.Desired.DeepClone(),
        ["desiredVersion"] = s.DesiredVersion,
        ["reported"] = s.Reported.DeepClone(),
        ["reportedVersion"] = s.ReportedVersion,
    };

    public static JsonObject Release(FirmwareRelease r) => new()
    {
        ["version"] = r.Version,
        ["uri"] = r.Uri.ToString(),
        ["sha256"] = r.Sha256,
        ["sizeBytes"] = r.SizeBytes,
        ["createdAt"] = Time(r.CreatedAt),
        ["signed"] = r.Signature is not null,
    };

    public static JsonObject Rollout(Rollout r) => new()
    {
        ["id"] = r.Id,
        ["releaseVersion"] = r.Plan.ReleaseVersion,
        ["status"] = Lower(r.Status),
        ["currentWave"] = r.CurrentWave,
        ["waveCount"] = r.WaveCount,
        ["devices"] = r.Devices.Count,
        ["counts"] = new JsonObject(Enum.GetValues<DeviceRolloutStatus>().Select(s => KeyValuePair.Create(Lower(s), (JsonNode?)r.Count(s)))),
        ["reason"] = r.Reason,
        ["updatedAt"] = Time(r.UpdatedAt),
    };

    public static string Summary(Rollout r) =>
        $"{r.Id} {Lower(r.Status)} wave {r.CurrentWave}/{r.WaveCount}: " +
        string.Join(", ", Enum.GetValues<DeviceRolloutStatus>().Select(s => $"{Lower(s)} {r.Count(s)}"));

    /// <summary>A device's status word: the stable JSON and the table keep the words the former DeviceStatus enum gave.</summary>
    public static string Status(Device d) => d.Enabled ? "enabled" : "disabled";

    public static string Lower<T>(T value) where T : struct, Enum => JsonNamingPolicyLower(value.ToString());

    private static string JsonNamingPolicyLower(string name) => string.Concat(name.Select((c, i) => i > 0 && char.IsUpper(c) ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    public static string? Time(DateTimeOffset? t) => t?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
