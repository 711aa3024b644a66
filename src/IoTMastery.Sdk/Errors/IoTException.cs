namespace IoTMastery.Sdk;

/// <summary>
/// The base of every error a provider raises after talking to a device, broker or service.
/// Bad input is never an <see cref="IoTException"/>: it is rejected earlier with an
/// <see cref="ArgumentException"/> that names the broken rule.
/// </summary>
public class IoTException : Exception
{
    /// <summary>Creates an error.</summary>
    /// <param name="message">What went wrong; never contains secrets, and input it repeats is escaped (<c>ErrorText</c>).</param>
    /// <param name="provider">The provider that raised it, for example <c>Local</c> or <c>Aws</c>.</param>
    /// <param name="errorCode">The provider's own error code, when it sent one.</param>
    /// <param name="isTransient">Whether the same call may succeed if repeated later.</param>
    /// <param name="retryAfter">How long the service asked the caller to wait, when it said.</param>
    /// <param name="innerException">The underlying cause; when it is an <see cref="IoTException"/>, its <see cref="RequestId"/> and <see cref="HttpStatus"/> are kept.</param>
    public IoTException(string message, string provider, string? errorCode = null, bool isTransient = false,
        TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Provider = provider;
        ErrorCode = errorCode;
        IsTransient = isTransient;
        RetryAfter = retryAfter;
        // A provider that re-types a service error (a 404 into DeviceNotFoundException) wraps the same answer: keep its ids.
        if (innerException is IoTException answer)
        {
            _requestId = answer._requestId;
            _httpStatus = answer._httpStatus;
        }
    }

    /// <summary>The provider that raised the error (<c>Local</c>, <c>Aws</c>, <c>Azure</c>, <c>Gcp</c>).</summary>
    public string Provider { get; }

    /// <summary>The provider's own error code (for example <c>ResourceNotFoundException</c> or <c>404001</c>), if any.</summary>
    public string? ErrorCode { get; }

    /// <summary>True when repeating the same call later may succeed (throttling, timeouts, 5xx).</summary>
    public bool IsTransient { get; }

    /// <summary>The wait the service asked for before a retry, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// The service's id for the failed request, to quote to its support or find in its logs, when it sent one: AWS
    /// <c>x-amzn-RequestId</c> (or <c>x-amz-request-id</c>); Azure IoT Hub <c>x-ms-request-id</c>, else the error's
    /// <c>trackingId</c>. Google-style REST errors carry no request id, so it stays <see langword="null"/> there, as for
    /// failures that never got an answer (timeouts, refused connections) and for the Local provider.
    /// </summary>
    public string? RequestId { get => _requestId; init => _requestId = CleanRequestId(value); }

    /// <summary>The HTTP status of the service's answer, when the error came from one (for example 404 or 429).</summary>
    public int? HttpStatus { get => _httpStatus; init => _httpStatus = value; }

    private string? _requestId;
    private int? _httpStatus;

    /// <summary>
    /// Stamps what the service's answer said about the request onto an error built by a provider's error mapper, so every
    /// exception type of the hierarchy gets them without a constructor parameter each. Returns this instance.
    /// </summary>
    /// <param name="requestId">The request id header's value; escaped and cut like any echoed text.</param>
    /// <param name="httpStatus">The HTTP status of the answer.</param>
    internal IoTException WithResponse(string? requestId, int? httpStatus)
    {
        _requestId = CleanRequestId(requestId);
        _httpStatus = httpStatus;
        return this;
    }

    // A header value is network input: escaped and cut like any text an error repeats, so it cannot forge a log line.
    private static string? CleanRequestId(string? requestId) =>
        string.IsNullOrWhiteSpace(requestId) ? null : ErrorText.Escape(requestId.Trim(), MaxRequestIdLength);

    // Real ids are 36-52 characters; anything much longer is not an id and is cut rather than repeated in full.
    private const int MaxRequestIdLength = 128;

    /// <summary>
    /// The type and message, then the provider, error code, HTTP status and request id (what a support ticket needs), then
    /// inner exceptions and the stack trace. Never contains secrets.
    /// </summary>
    public override string ToString()
    {
        var text = base.ToString();
        var header = string.IsNullOrEmpty(Message) ? GetType().ToString() : GetType() + ": " + Message;
        var details = new System.Text.StringBuilder(" (provider ").Append(Provider);
        if (ErrorCode is not null) details.Append(", error code ").Append(ErrorText.Escape(ErrorCode));
        if (HttpStatus is { } status) details.Append(", HTTP ").Append(status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (RequestId is not null) details.Append(", request id ").Append(RequestId);
        details.Append(')');
        return text.StartsWith(header, StringComparison.Ordinal)
            ? string.Concat(header, details.ToString(), text.AsSpan(header.Length))
            : details.Append(Environment.NewLine).Append(text).ToString();
    }
}

/// <summary>The device, release, rollout or other resource does not exist.</summary>
public class ResourceNotFoundException : IoTException
{
    /// <summary>Creates the error.</summary>
    public ResourceNotFoundException(string message, string provider, string? errorCode = null, Exception? innerException = null)
        : base(message, provider, errorCode, false, null, innerException) { }
}

/// <summary>The device does not exist in the registry.</summary>
public sealed class DeviceNotFoundException : ResourceNotFoundException
{
    /// <summary>Creates the error for <paramref name="deviceId"/>.</summary>
    public DeviceNotFoundException(string deviceId, string provider, string? errorCode = null, Exception? innerException = null)
        : base($"Device '{ErrorText.Escape(deviceId)}' was not found.", provider, errorCode, innerException) => DeviceId = deviceId;

    /// <summary>The id that was looked up.</summary>
    public string DeviceId { get; }
}

/// <summary>A resource with the same identity already exists.</summary>
public sealed class ResourceAlreadyExistsException : IoTException
{
    /// <summary>Creates the error.</summary>
    public ResourceAlreadyExistsException(string message, string provider, string? errorCode = null, Exception? innerException = null)
        : base(message, provider, errorCode, false, null, innerException) { }
}

/// <summary>
/// An optimistic-concurrency check failed: the version or ETag the caller expected is no longer
/// current. Re-read, re-apply and try again; never retried blindly.
/// </summary>
public sealed class PreconditionFailedException : IoTException
{
    /// <summary>Creates the error.</summary>
    public PreconditionFailedException(string message, string provider, string? errorCode = null,
        long? expectedVersion = null, long? currentVersion = null, Exception? innerException = null)
        : base(message, provider, errorCode, false, null, innerException)
    {
        ExpectedVersion = expectedVersion;
        CurrentVersion = currentVersion;
    }

    /// <summary>The version the caller expected, when known.</summary>
    public long? ExpectedVersion { get; }

    /// <summary>The version the service holds, when it said.</summary>
    public long? CurrentVersion { get; }
}

/// <summary>The service is rate-limiting the caller. Transient; honour <see cref="IoTException.RetryAfter"/>.</summary>
public sealed class ThrottledException : IoTException
{
    /// <summary>Creates the error.</summary>
    public ThrottledException(string message, string provider, string? errorCode = null, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, provider, errorCode, true, retryAfter, innerException) { }
}

/// <summary>A quota (daily messages, resource count) is used up. Not fixed by retrying soon.</summary>
public sealed class QuotaExceededException : IoTException
{
    /// <summary>Creates the error.</summary>
    public QuotaExceededException(string message, string provider, string? errorCode = null, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, provider, errorCode, false, retryAfter, innerException) { }
}

/// <summary>The caller's identity was not accepted (bad, expired or revoked credentials).</summary>
public sealed class IoTAuthenticationException : IoTException
{
    /// <summary>Creates the error.</summary>
    public IoTAuthenticationException(string message, string provider, string? errorCode = null, Exception? innerException = null)
        : base(message, provider, errorCode, false, null, innerException) { }
}

/// <summary>The caller is known but not allowed to do this (for example publish on another device's topic).</summary>
public sealed class IoTAuthorizationException : IoTException
{
    /// <summary>Creates the error.</summary>
    public IoTAuthorizationException(string message, string provider, string? errorCode = null, Exception? innerException = null)
        : base(message, provider, errorCode, false, null, innerException) { }
}

/// <summary>A payload is larger than the provider accepts.</summary>
public sealed class PayloadTooLargeException : IoTException
{
    /// <summary>Creates the error.</summary>
    public PayloadTooLargeException(string message, string provider, int actualBytes, int maxBytes, string? errorCode = null)
        : base(message, provider, errorCode)
    {
        ActualBytes = actualBytes;
        MaxBytes = maxBytes;
    }

    /// <summary>The payload size that was refused.</summary>
    public int ActualBytes { get; }

    /// <summary>The largest payload the provider accepts.</summary>
    public int MaxBytes { get; }
}

/// <summary>The device is not connected, so a command or message cannot reach it now.</summary>
public sealed class DeviceOfflineException : IoTException
{
    /// <summary>Creates the error.</summary>
    public DeviceOfflineException(string deviceId, string provider, string? errorCode = null)
        : base($"Device '{ErrorText.Escape(deviceId)}' is not connected.", provider, errorCode, isTransient: true) => DeviceId = deviceId;

    /// <summary>The device that could not be reached.</summary>
    public string DeviceId { get; }
}

/// <summary>A command reached the device (or was sent to it) but no reply arrived within the timeout.</summary>
public sealed class CommandTimeoutException : IoTException
{
    /// <summary>Creates the error.</summary>
    public CommandTimeoutException(string deviceId, string commandName, TimeSpan timeout, string provider)
        : base($"Command '{ErrorText.Escape(commandName)}' to device '{ErrorText.Escape(deviceId)}' got no reply within {timeout.TotalSeconds:0.###} s.", provider, "CommandTimeout")
    {
        DeviceId = deviceId;
        CommandName = commandName;
        Timeout = timeout;
    }

    /// <summary>The target device.</summary>
    public string DeviceId { get; }

    /// <summary>The command that timed out.</summary>
    public string CommandName { get; }

    /// <summary>The timeout that elapsed.</summary>
    public TimeSpan Timeout { get; }
}
