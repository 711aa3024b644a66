namespace IoTMastery.Sdk.Azure;

/// <summary>
/// A parsed IoT Hub connection string (service: <c>HostName=…;SharedAccessKeyName=…;SharedAccessKey=…</c>,
/// device: <c>HostName=…;DeviceId=…;SharedAccessKey=…</c>). <see cref="ToString"/> hides the key.
/// </summary>
internal sealed class IotHubConnectionString
{
    private IotHubConnectionString(IReadOnlyDictionary<string, string> values)
    {
        HostName = values["HostName"];
        SharedAccessKeyName = values.GetValueOrDefault("SharedAccessKeyName");
        SharedAccessKey = values.GetValueOrDefault("SharedAccessKey");
        SharedAccessSignature = values.GetValueOrDefault("SharedAccessSignature");
        DeviceId = values.GetValueOrDefault("DeviceId");
        ModuleId = values.GetValueOrDefault("ModuleId");
        GatewayHostName = values.GetValueOrDefault("GatewayHostName");
        UsesX509 = string.Equals(values.GetValueOrDefault("x509"), "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The hub host, for example <c>myhub.azure-devices.net</c>: the SAS audience and MQTT user-name host.</summary>
    public string HostName { get; }

    /// <summary>The shared access policy (service strings), for example <c>iothubowner</c>.</summary>
    public string? SharedAccessKeyName { get; }

    /// <summary>The base64 key. Secret.</summary>
    public string? SharedAccessKey { get; }

    /// <summary>A ready-made SAS token instead of a key. Secret.</summary>
    public string? SharedAccessSignature { get; }

    /// <summary>The device id (device strings).</summary>
    public string? DeviceId { get; }

    /// <summary>The module id, when the string is a module's.</summary>
    public string? ModuleId { get; }

    /// <summary>Where to open the TCP/TLS connection instead of <see cref="HostName"/>; the audience stays <see cref="HostName"/>.</summary>
    public string? GatewayHostName { get; }

    /// <summary>The device authenticates with an X.509 certificate (<c>x509=true</c>).</summary>
    public bool UsesX509 { get; }

    /// <summary>Parses <c>key=value</c> pairs separated by <c>;</c>, each split at its first <c>=</c> (base64 values end in <c>=</c>).</summary>
    /// <exception cref="ArgumentException">The string is empty, malformed, lacks <c>HostName</c>, or has no key, signature or x509 flag.</exception>
    public static IotHubConnectionString Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new ArgumentException("The connection string is empty.", nameof(connectionString));
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new ArgumentException("The connection string must be ';'-separated key=value pairs.", nameof(connectionString));
            values[part[..eq]] = part[(eq + 1)..];
        }
        if (!values.TryGetValue("HostName", out var host) || string.IsNullOrEmpty(host))
            throw new ArgumentException("The connection string needs HostName.", nameof(connectionString));
        var result = new IotHubConnectionString(values);
        if (result.SharedAccessKey is null && result.SharedAccessSignature is null && !result.UsesX509)
            throw new ArgumentException("The connection string needs SharedAccessKey, SharedAccessSignature or x509=true.", nameof(connectionString));
        if (result.SharedAccessKey is not null)
            SasToken.DecodeKey(result.SharedAccessKey, nameof(connectionString));
        return result;
    }

    /// <summary>The hub name: the first label of <see cref="HostName"/>.</summary>
    public string HubName => HostName.Split('.')[0];

    /// <summary>Describes the string without secrets.</summary>
    public override string ToString() =>
        $"HostName={HostName};SharedAccessKeyName={SharedAccessKeyName};DeviceId={DeviceId};GatewayHostName={GatewayHostName};secrets redacted";
}
