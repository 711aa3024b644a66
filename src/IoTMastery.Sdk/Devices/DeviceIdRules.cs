using System.Text.RegularExpressions;

namespace IoTMastery.Sdk;

/// <summary>
/// The device-id rules of one provider. Every public operation that takes a device id checks it
/// here first, so a bad id fails with an <see cref="ArgumentException"/> naming the rule before
/// any network call.
/// </summary>
public sealed partial class DeviceIdRules
{
    private readonly Regex _pattern;

    private DeviceIdRules(string provider, int minLength, int maxLength, Regex pattern, string description)
    {
        Provider = provider;
        MinLength = minLength;
        MaxLength = maxLength;
        _pattern = pattern;
        Description = description;
    }

    /// <summary>
    /// Local provider: 1-128 characters of <c>A-Z a-z 0-9 : _ . -</c>, except <c>.</c> and <c>..</c>, so an id is a safe MQTT
    /// topic level, certificate CN and file or folder name (an application may map ids to paths).
    /// </summary>
    public static DeviceIdRules Local { get; } = new("Local", 1, 128, LocalPattern(), "1-128 characters of A-Z a-z 0-9 : _ . -, except '.' and '..'");

    /// <summary>AWS IoT thing names: 1-128 characters of <c>A-Z a-z 0-9 : _ -</c>.</summary>
    public static DeviceIdRules Aws { get; } = new("Aws", 1, 128, AwsPattern(), "1-128 characters of A-Z a-z 0-9 : _ -");

    /// <summary>Azure IoT Hub device ids: 1-128 ASCII characters of letters, digits and <c>- . % _ * ? ! ( ) , : = @ $ '</c>.</summary>
    public static DeviceIdRules Azure { get; } = new("Azure", 1, 128, AzurePattern(), "1-128 ASCII letters, digits or - . % _ * ? ! ( ) , : = @ $ '");

    /// <summary>Cloud IoT Core v1 device ids: 3-255 characters, a letter first, then <c>A-Z a-z 0-9 - _ . + ~ %</c>.</summary>
    public static DeviceIdRules Gcp { get; } = new("Gcp", 3, 255, GcpPattern(), "3-255 characters starting with a letter, then A-Z a-z 0-9 - _ . + ~ %");

    /// <summary>The provider these rules belong to.</summary>
    public string Provider { get; }

    /// <summary>Shortest valid id.</summary>
    public int MinLength { get; }

    /// <summary>Longest valid id.</summary>
    public int MaxLength { get; }

    /// <summary>The rule in words, as used in error messages.</summary>
    public string Description { get; }

    /// <summary>Whether <paramref name="deviceId"/> is valid under these rules.</summary>
    public bool IsValid(string? deviceId) =>
        deviceId is not null && deviceId.Length >= MinLength && deviceId.Length <= MaxLength && _pattern.IsMatch(deviceId);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the rule when <paramref name="deviceId"/> is invalid.</summary>
    /// <param name="deviceId">The id to check.</param>
    /// <param name="parameterName">The caller's parameter name, for the exception.</param>
    public void Validate(string? deviceId, string parameterName = "deviceId")
    {
        if (deviceId is null)
            throw new ArgumentNullException(parameterName, $"A device id is required ({Provider}: {Description}).");
        if (!IsValid(deviceId))
            throw new ArgumentException(
                $"Device id '{ErrorText.Escape(deviceId)}' breaks the {Provider} rule: {Description}.", parameterName);
    }

    // '.' and '..' are path segments on every file system.
    [GeneratedRegex(@"^(?!\.\.?\z)[A-Za-z0-9:_.-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex LocalPattern();

    [GeneratedRegex(@"^[A-Za-z0-9:_-]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex AwsPattern();

    [GeneratedRegex(@"^[A-Za-z0-9\-.%_*?!(),:=@$']+\z", RegexOptions.CultureInvariant)]
    private static partial Regex AzurePattern();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9\-_.+~%]+\z", RegexOptions.CultureInvariant)]
    private static partial Regex GcpPattern();
}
