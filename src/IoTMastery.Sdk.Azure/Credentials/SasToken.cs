using System.Security.Cryptography;
using System.Text;

namespace IoTMastery.Sdk.Azure;

/// <summary>
/// Builds IoT Hub and DPS shared access signatures exactly as the official Node SDK (azure-iot-common) does:
/// <c>sr=ENC(resource)&amp;sig=ENC(BASE64(HMACSHA256(key, sr + "\n" + se)))&amp;se=expiry[&amp;skn=ENC(policy)]</c>, where ENC is
/// <c>encodeUriComponentStrict</c> and the resource is encoded once, as a whole. Internal: the provider signs its own
/// service and device tokens, and DPS derives group-enrollment keys from <see cref="DpsRegistrationOptions.EnrollmentGroupKey"/>.
/// </summary>
internal static class SasToken
{
    /// <summary>Creates a token for <paramref name="resourceUri"/> (not yet URL-encoded) valid until <paramref name="expiresAt"/>.</summary>
    /// <param name="resourceUri">Not encoded, for example <c>myhub.azure-devices.net/devices/dev.with:colon</c> (see <see cref="DeviceResource"/>) or <c>{idScope}/registrations/{registrationId}</c>.</param>
    /// <param name="base64Key">The shared access key, base64. Secret.</param>
    /// <param name="expiresAt">When the token expires; sent as whole Unix seconds.</param>
    /// <param name="policyName">The shared access policy (<c>skn</c>), or <see langword="null"/> for device tokens.</param>
    /// <exception cref="ArgumentException">The resource is empty or the key is not base64.</exception>
    public static string Create(string resourceUri, string base64Key, DateTimeOffset expiresAt, string? policyName = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(resourceUri);
        var key = DecodeKey(base64Key, nameof(base64Key));
        var sr = UriComponent.EncodeStrict(resourceUri);
        var se = expiresAt.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sig = Sign(key, sr + "\n" + se);
        var token = "SharedAccessSignature sr=" + sr + "&sig=" + UriComponent.EncodeStrict(sig) + "&se=" + se;
        return policyName is null ? token : token + "&skn=" + UriComponent.EncodeStrict(policyName);
    }

    /// <summary>
    /// The resource URI of a device, <c>{host}/devices/{deviceId}</c>, not yet encoded: <see cref="Create"/> encodes it once,
    /// as azure-iot-device's <c>SharedAccessSignature.create</c> does (<c>dev.with:colon</c> is signed as <c>dev.with%3Acolon</c>).
    /// </summary>
    public static string DeviceResource(string hostName, string deviceId) => hostName + "/devices/" + deviceId;

    /// <summary>The DPS resource URI: <c>{idScope}/registrations/{registrationId}</c>.</summary>
    public static string ProvisioningResource(string idScope, string registrationId) => idScope + "/registrations/" + registrationId;

    /// <summary>
    /// Derives a device key from a DPS enrollment-group key: <c>BASE64(HMACSHA256(BASE64DECODE(groupKey), UTF8(registrationId)))</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The registration id is empty or the key is not base64.</exception>
    public static string DeriveDeviceKey(string groupKey, string registrationId)
    {
        ArgumentException.ThrowIfNullOrEmpty(registrationId);
        return Sign(DecodeKey(groupKey, nameof(groupKey)), registrationId);
    }

    /// <summary>Base64 HMAC-SHA256 of <paramref name="message"/> (UTF-8) under <paramref name="key"/>.</summary>
    internal static string Sign(byte[] key, string message) =>
        Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(message)));

    internal static byte[] DecodeKey(string? base64Key, string parameterName)
    {
        if (string.IsNullOrEmpty(base64Key))
            throw new ArgumentException("A shared access key is required.", parameterName);
        try
        {
            var key = Convert.FromBase64String(base64Key);
            if (key.Length == 0) throw new FormatException();
            return key;
        }
        catch (FormatException)
        {
            // Never echo the key itself.
            throw new ArgumentException("The shared access key must be non-empty base64.", parameterName);
        }
    }
}
