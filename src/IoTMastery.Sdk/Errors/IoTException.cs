namespace IoTMastery.Sdk;

/// <summary>
/// What kind of failure an <see cref="IoTException"/> reports, the same on every provider, so a caller branches on
/// <see cref="IoTException.Kind"/> (<c>catch (IoTException e) when (e.Kind == IoTErrorKind.DeviceNotFound)</c>) rather than
/// on a provider's own <see cref="IoTException.ErrorCode"/>.
/// </summary>
public enum IoTErrorKind
{
    /// <summary>
    /// A failure no other kind describes (an unmapped service error, a broken answer, a refused connection). Decide from
    /// <see cref="IoTException.IsTransient"/>: retry a transient one later, report the rest with their
    /// <see cref="IoTException.ErrorCode"/> and <see cref="IoTException.RequestId"/>.
    /// </summary>
    Unknown = 0,

    /// <summary>
    /// A resource other than a device does not exist: a firmware release, a rollout, a credential, a topic, a thing
    /// type. Check the id; a caller that treats every missing resource alike also tests for <see cref="DeviceNotFound"/>.
    /// </summary>
    NotFound,

    /// <summary>
    /// The device is not in the registry (never registered, or deleted). Its own kind because callers act on it: register
    /// the device, or drop it from the fleet they manage. <see cref="IoTException.DeviceId"/> names it.
    /// </summary>
    DeviceNotFound,

    /// <summary>A device, release, rollout or other resource with the same identity exists. Read it, or choose another id.</summary>
    AlreadyExists,

    /// <summary>
    /// An optimistic-concurrency check failed: the version or ETag the caller expected is no longer current. Re-read,
    /// re-apply the change and write again with the new version (<see cref="IoTException.CurrentVersion"/> when the
    /// service said); never repeat the same write blindly.
    /// </summary>
    PreconditionFailed,

    /// <summary>The service is rate-limiting the caller. Transient: wait <see cref="IoTException.RetryAfter"/> (when sent), then retry.</summary>
    Throttled,

    /// <summary>
    /// A quota or hard limit is used up (daily messages, things per account, credentials per device). Retrying soon does
    /// not help: free capacity (revoke, delete) or raise the quota.
    /// </summary>
    QuotaExceeded,

    /// <summary>
    /// The caller's or device's identity was not accepted: bad, expired or revoked credentials, a disabled device, a
    /// missing client certificate. Not transient: fix or renew the credential.
    /// </summary>
    Authentication,

    /// <summary>
    /// The identity is known but not allowed to do this, for example publish or subscribe on another device's topic or
    /// call an API its policy does not grant. Fix the policy or the topic.
    /// </summary>
    Authorization,

    /// <summary>A payload (message, state document, command) is larger than the provider accepts; the limit is in the message. Send less.</summary>
    PayloadTooLarge,

    /// <summary>
    /// The device is registered but not connected, so a command cannot reach it now. Transient: retry when it is online
    /// (watch presence), or deliver through desired state instead. <see cref="IoTException.DeviceId"/> names it.
    /// </summary>
    DeviceOffline,

    /// <summary>
    /// A command was sent but no reply arrived within its timeout; the device may still have run it. Make commands safe
    /// to repeat before retrying. <see cref="IoTException.DeviceId"/> names the device.
    /// </summary>
    CommandTimeout,

    /// <summary>
    /// The telemetry pipeline's queue (or its outbox) is full in fail-fast mode; the record was not accepted. Slow down
    /// or retry after the pipeline drains, or choose another backpressure mode. Also why a <see cref="WebhookAlertSink"/>
    /// dead-letters an alert that finds its queue full.
    /// </summary>
    QueueFull,

    /// <summary>
    /// The telemetry outbox is at its disk bound and rejects new records; nothing was written. Acknowledge (drain) records
    /// or raise the bound; accepted records are never dropped.
    /// </summary>
    OutboxFull,

    /// <summary>
    /// The Local provider cannot unlock the CA saved in its database: the key is missing (<see cref="IoTException.ErrorCode"/>
    /// <c>CaKeyMissing</c>) or wrong (<c>CaKeyIncorrect</c>). Nothing was changed; supply the key the CA was saved with.
    /// </summary>
    CertificateAuthorityKey,
}

/// <summary>
/// The one error type a provider raises after talking to a device, broker or service; <see cref="Kind"/> says what
/// happened, <see cref="ErrorCode"/> what the provider itself called it. Bad input is never an <see cref="IoTException"/>:
/// it is rejected earlier with an <see cref="ArgumentException"/> that names the broken rule.
/// </summary>
public sealed class IoTException : Exception
{
    /// <summary>Creates an error; a provider outside this SDK builds its errors with it too.</summary>
    /// <param name="kind">What kind of failure it is; <see cref="IoTErrorKind.Unknown"/> when none fits.</param>
    /// <param name="message">What went wrong; never contains secrets, and input it repeats is escaped (<c>ErrorText</c>).</param>
    /// <param name="provider">The provider that raised it, for example <c>Local</c> or <c>Aws</c>.</param>
    /// <param name="errorCode">The provider's own error code, when it sent one.</param>
    /// <param name="isTransient">Whether the same call may succeed if repeated later.</param>
    /// <param name="retryAfter">How long the service asked the caller to wait, when it said.</param>
    /// <param name="innerException">The underlying cause; when it is an <see cref="IoTException"/>, its <see cref="RequestId"/> and <see cref="HttpStatus"/> are kept.</param>
    public IoTException(IoTErrorKind kind, string message, string provider, string? errorCode = null, bool isTransient = false,
        TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Provider = provider;
        ErrorCode = errorCode;
        IsTransient = isTransient;
        RetryAfter = retryAfter;
        // A provider that re-kinds a service error (a 404 into DeviceNotFound) wraps the same answer: keep its ids.
        if (innerException is IoTException answer)
        {
            _requestId = answer._requestId;
            _httpStatus = answer._httpStatus;
        }
    }

    /// <summary>What kind of failure this is; branch on it rather than on <see cref="ErrorCode"/>, which differs per provider.</summary>
    public IoTErrorKind Kind { get; }

    /// <summary>The provider that raised the error (<c>Local</c>, <c>Aws</c>, <c>Azure</c>, <c>Gcp</c>).</summary>
    public string Provider { get; }

    /// <summary>The provider's own error code (for example <c>ResourceNotFoundException</c> or <c>404001</c>), if any.</summary>
    public string? ErrorCode { get; }

    /// <summary>True when repeating the same call later may succeed (throttling, timeouts, 5xx).</summary>
    public bool IsTransient { get; }

    /// <summary>The wait the service asked for before a retry, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// Whether a resource is missing, a device or anything else (<see cref="IoTErrorKind.NotFound"/> or
    /// <see cref="IoTErrorKind.DeviceNotFound"/>): the one test the SDK's own "create it if missing" and "already gone"
    /// paths need, written once rather than as the pair at every catch.
    /// </summary>
    internal bool IsNotFound => Kind is IoTErrorKind.NotFound or IoTErrorKind.DeviceNotFound;

    /// <summary>
    /// The device the error is about, for <see cref="IoTErrorKind.DeviceNotFound"/>, <see cref="IoTErrorKind.DeviceOffline"/>
    /// and <see cref="IoTErrorKind.CommandTimeout"/> (so a fleet-wide loop knows which one to skip or retry); otherwise
    /// <see langword="null"/>.
    /// </summary>
    public string? DeviceId { get; init; }

    /// <summary>
    /// For <see cref="IoTErrorKind.PreconditionFailed"/>, the version the service holds now, when it said: write again
    /// expecting this version after re-applying the change. Otherwise <see langword="null"/>.
    /// </summary>
    public long? CurrentVersion { get; init; }

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
    /// kind gets them without a constructor parameter each. Returns this instance.
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
    /// The type and message, then the kind, provider, error code, HTTP status and request id (what a support ticket needs),
    /// then inner exceptions and the stack trace. Never contains secrets.
    /// </summary>
    public override string ToString()
    {
        var text = base.ToString();
        var header = string.IsNullOrEmpty(Message) ? GetType().ToString() : GetType() + ": " + Message;
        var details = new System.Text.StringBuilder(" (").Append(Kind).Append(", provider ").Append(Provider);
        if (ErrorCode is not null) details.Append(", error code ").Append(ErrorText.Escape(ErrorCode));
        if (HttpStatus is { } status) details.Append(", HTTP ").Append(status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (RequestId is not null) details.Append(", request id ").Append(RequestId);
        details.Append(')');
        return text.StartsWith(header, StringComparison.Ordinal)
            ? string.Concat(header, details.ToString(), text.AsSpan(header.Length))
            : details.Append(Environment.NewLine).Append(text).ToString();
    }

    // Factories for the kinds whose message or data every provider words the same way, so a throw site stays one line.

    /// <summary>A <see cref="IoTErrorKind.DeviceNotFound"/> error for <paramref name="deviceId"/>.</summary>
    internal static IoTException DeviceNotFound(string deviceId, string provider, string? errorCode = null, Exception? innerException = null) =>
        new(IoTErrorKind.DeviceNotFound, $"Device '{ErrorText.Escape(deviceId)}' was not found.", provider, errorCode, innerException: innerException)
        { DeviceId = deviceId };

    /// <summary>A transient <see cref="IoTErrorKind.DeviceOffline"/> error for <paramref name="deviceId"/>.</summary>
    internal static IoTException DeviceOffline(string deviceId, string provider, string? errorCode = null) =>
        new(IoTErrorKind.DeviceOffline, $"Device '{ErrorText.Escape(deviceId)}' is not connected.", provider, errorCode, isTransient: true)
        { DeviceId = deviceId };

    /// <summary>A <see cref="IoTErrorKind.CommandTimeout"/> error: <paramref name="commandName"/> got no reply within <paramref name="timeout"/>.</summary>
    internal static IoTException CommandTimeout(string deviceId, string commandName, TimeSpan timeout, string provider) =>
        new(IoTErrorKind.CommandTimeout,
            $"Command '{ErrorText.Escape(commandName)}' to device '{ErrorText.Escape(deviceId)}' got no reply within {timeout.TotalSeconds:0.###} s.",
            provider, "CommandTimeout")
        { DeviceId = deviceId };

    /// <summary>A <see cref="IoTErrorKind.PreconditionFailed"/> error; <paramref name="currentVersion"/> when the service said.</summary>
    internal static IoTException PreconditionFailed(string message, string provider, string? errorCode = null, long? currentVersion = null,
        Exception? innerException = null) =>
        new(IoTErrorKind.PreconditionFailed, message, provider, errorCode, innerException: innerException) { CurrentVersion = currentVersion };

    /// <summary>A transient <see cref="IoTErrorKind.Throttled"/> error.</summary>
    internal static IoTException Throttled(string message, string provider, string? errorCode = null, TimeSpan? retryAfter = null) =>
        new(IoTErrorKind.Throttled, message, provider, errorCode, isTransient: true, retryAfter);

    /// <summary>A <see cref="IoTErrorKind.QueueFull"/> error from the telemetry pipeline.</summary>
    internal static IoTException QueueFull(string message, Exception? innerException = null) =>
        new(IoTErrorKind.QueueFull, message, "Telemetry", "TelemetryQueueFull", innerException: innerException);

    /// <summary>A <see cref="IoTErrorKind.OutboxFull"/> error: the outbox reached <paramref name="maxDiskBytes"/>.</summary>
    internal static IoTException OutboxFull(long maxDiskBytes) =>
        new(IoTErrorKind.OutboxFull, $"The telemetry outbox is full ({maxDiskBytes} bytes) and rejects new records until more are acknowledged.",
            "Telemetry", "TelemetryOutboxFull");
}
