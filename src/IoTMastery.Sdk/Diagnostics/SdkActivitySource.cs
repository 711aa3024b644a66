using System.Diagnostics;

namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// The one <see cref="ActivitySource"/> of the SDK and the attribute names its spans use. Attribute names follow the
/// OpenTelemetry semantic conventions where one fits (<c>error.type</c>, <c>server.*</c>, <c>http.*</c>,
/// <c>messaging.*</c>); the rest are under <c>iotmastery.*</c>. No span carries a credential, token, key, URL query or
/// payload: only provider names, device ids (not secrets), operation names, counts, sizes, statuses and error types.
/// </summary>
/// <remarks>
/// <c>rpc.*</c> is deliberately not used for the neutral service calls: those conventions describe one remote procedure
/// call on the wire (gRPC, JSON-RPC), while a registry or command call here may be several HTTP requests, MQTT messages
/// or only SQLite work (Local). The wire requests get their own <c>http.*</c> spans underneath.
/// </remarks>
internal static class SdkActivitySource
{
    public static readonly ActivitySource Source = new(IoTDiagnostics.ActivitySourceName, typeof(SdkActivitySource).Assembly.GetName().Version?.ToString());

    /// <summary>The provider: <c>Local</c>, <c>Aws</c>, <c>Azure</c>, <c>Gcp</c>.</summary>
    public const string ProviderTag = "iotmastery.provider";

    /// <summary>The device a call is about (ids are not secrets; credentials never go in tags).</summary>
    public const string DeviceIdTag = "iotmastery.device.id";

    /// <summary>The command name of a command span.</summary>
    public const string CommandNameTag = "iotmastery.command.name";

    /// <summary>The status code of the device's reply to a command.</summary>
    public const string CommandStatusTag = "iotmastery.command.status";

    /// <summary>The firmware release version of a release or rollout span.</summary>
    public const string ReleaseVersionTag = "iotmastery.firmware.version";

    /// <summary>The rollout id of a rollout span.</summary>
    public const string RolloutIdTag = "iotmastery.rollout.id";

    /// <summary>The rollout's status after the step (<see cref="RolloutStatus"/>).</summary>
    public const string RolloutStatusTag = "iotmastery.rollout.status";

    /// <summary>The rollout's current wave after the step.</summary>
    public const string RolloutWaveTag = "iotmastery.rollout.wave";

    /// <summary>The provider's error code (<see cref="IoTException.ErrorCode"/>) of a failed call.</summary>
    public const string ErrorCodeTag = "iotmastery.error.code";

    /// <summary>The service's request id (<see cref="IoTException.RequestId"/>) of a failed call.</summary>
    public const string RequestIdTag = "iotmastery.request.id";

    /// <summary>OpenTelemetry: the class of error a failed operation ended with; an <see cref="IoTException"/>'s kind (<c>DeviceNotFound</c>), else the exception's full type name.</summary>
    public const string ErrorTypeTag = "error.type";

    /// <summary>
    /// Starts a span as a child of the current one; <see langword="null"/> when nobody listens, so an unobserved call
    /// costs one check.
    /// </summary>
    public static Activity? StartOperation(string name, string provider, string? deviceId = null, ActivityKind kind = ActivityKind.Internal)
    {
        var activity = Source.StartActivity(name, kind);
        if (activity is null) return null;
        activity.SetTag(ProviderTag, provider);
        if (deviceId is not null) activity.SetTag(DeviceIdTag, deviceId);
        return activity;
    }

    /// <summary>
    /// Marks <paramref name="activity"/> failed: status Error, <c>error.type</c> an <see cref="IoTException"/>'s kind (the one
    /// exception type says nothing) or another exception's full type name, and for an <see cref="IoTException"/> its error
    /// code and request id. The description is the message only for SDK exceptions,
    /// whose messages never hold secrets; other exceptions (a socket error text, say) are named by type alone.
    /// </summary>
    public static void RecordFailure(Activity? activity, Exception exception)
    {
        if (activity is null) return;
        var description = exception is IoTException or ArgumentException ? ErrorText.Escape(exception.Message, 256) : null;
        activity.SetStatus(ActivityStatusCode.Error, description);
        activity.SetTag(ErrorTypeTag, exception is IoTException { Kind: var kind } ? kind.ToString() : exception.GetType().FullName);
        if (exception is IoTException error)
        {
            if (error.ErrorCode is { } code) activity.SetTag(ErrorCodeTag, code);
            if (error.RequestId is { } requestId) activity.SetTag(RequestIdTag, requestId);
        }
    }
}
