namespace IoTMastery.Sdk;

/// <summary>A device as the registry holds it. Carries no secrets.</summary>
public sealed record Device
{
    /// <summary>The device id, unique in the registry and valid under the provider's <see cref="DeviceIdRules"/>.</summary>
    public required string Id { get; init; }

    /// <summary>
    /// Whether the device may connect (default <see langword="true"/>). A disabled device is refused at connect time and its
    /// open connections are closed; see <see cref="IDeviceRegistry.EnableAsync"/> and <see cref="IDeviceRegistry.DisableAsync"/>.
    /// </summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Free-form attributes (AWS thing attributes, Azure tags, GCP metadata).</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = new Dictionary<string, string>();

    /// <summary>The registry record's version, incremented by every change; used for optimistic concurrency.</summary>
    public long Version { get; init; }

    /// <summary>
    /// When the device was registered, or <see langword="null"/> when the provider does not know: Azure IoT Hub and the
    /// Cloud IoT v1 registry report no creation time, and AWS IoT Core's is that of the device's oldest certificate.
    /// </summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>The credentials issued to the device (public parts only).</summary>
    public IReadOnlyList<CredentialInfo> Credentials { get; init; } = [];
}

/// <summary>What to register.</summary>
public sealed record DeviceRegistration
{
    /// <summary>The new device's id.</summary>
    public required string Id { get; init; }

    /// <summary>Initial attributes.</summary>
    public IReadOnlyDictionary<string, string> Attributes { get; init; } = new Dictionary<string, string>();

    /// <summary>A credential to issue together with the registration; <see langword="null"/> issues none.</summary>
    public CredentialRequest? Credential { get; init; }
}

/// <summary>The registered device and the credential issued with it, if one was requested.</summary>
/// <param name="Device">The device record.</param>
/// <param name="Credential">The issued credential, secrets included: hand it to the device and do not log it.</param>
public sealed record DeviceRegistrationResult(Device Device, IssuedCredential? Credential);

/// <summary>A filter and page size for listing devices.</summary>
public sealed record DeviceQuery
{
    /// <summary>The default page size, 100.</summary>
    public const int DefaultPageSize = 100;

    /// <summary>Devices per page, 1 to 1000. Default 100.</summary>
    public int PageSize { get; init; } = DefaultPageSize;

    /// <summary>When set, only enabled (<see langword="true"/>) or only disabled (<see langword="false"/>) devices.</summary>
    public bool? Enabled { get; init; }

    /// <summary>Only devices that have this attribute, when set.</summary>
    public string? AttributeName { get; init; }

    /// <summary>With <see cref="AttributeName"/>: only devices whose attribute has this value.</summary>
    public string? AttributeValue { get; init; }

    internal void Validate()
    {
        if (PageSize is < 1 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, "PageSize must be between 1 and 1000.");
        if (AttributeValue is not null && AttributeName is null)
            throw new ArgumentException("AttributeValue needs AttributeName.", nameof(AttributeValue));
    }
}
