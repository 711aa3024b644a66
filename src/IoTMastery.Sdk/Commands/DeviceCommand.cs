using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>A named command for one device, with an optional JSON payload and a reply timeout.</summary>
public sealed record DeviceCommand
{
    /// <summary>The default reply timeout, 30 seconds.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The shortest reply timeout any provider accepts, 1 second; a provider may set a higher floor (<see cref="ProviderCapabilities.MinCommandTimeout"/>).</summary>
    public static readonly TimeSpan MinTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The longest reply timeout, 300 seconds.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromSeconds(300);

    /// <summary>The command name, for example <c>reboot</c>: 1-64 characters of <c>A-Z a-z 0-9 _ . -</c>.</summary>
    public required string Name { get; init; }

    /// <summary>The command arguments, if any.</summary>
    public JsonNode? Payload { get; init; }

    /// <summary>How long to wait for the device's reply. Default 30 s; 1 s to 300 s.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>Checks the name and timeout; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Name) || Name.Length > 64 || !Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            throw new ArgumentException($"Command name '{ErrorText.Escape(Name)}' must be 1-64 characters of A-Z a-z 0-9 _ . -.", nameof(Name));
        if (Timeout < MinTimeout || Timeout > MaxTimeout)
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "Command timeouts must be between 1 s and 300 s.");
    }
}

/// <summary>A device's reply to a command.</summary>
/// <param name="Status">An HTTP-like status: 200 for success, 4xx for a refused command, 5xx for a device failure.</param>
/// <param name="Payload">The reply body, if any.</param>
public sealed record CommandResponse(int Status, JsonNode? Payload = null)
{
    /// <summary>True for a 2xx status.</summary>
    public bool IsSuccess => Status is >= 200 and < 300;
}

/// <summary>Fleet side: invoke commands on devices and await their replies.</summary>
public interface IDeviceCommandService
{
    /// <summary>Sends <paramref name="command"/> to the device and waits for its reply.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceNotFound"/>: No such device.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceOffline"/>: The device is not connected.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.CommandTimeout"/>: No reply within <see cref="DeviceCommand.Timeout"/>.</exception>
    Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default);
}
