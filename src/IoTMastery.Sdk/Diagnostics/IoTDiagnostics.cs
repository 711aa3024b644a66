namespace IoTMastery.Sdk.Diagnostics;

/// <summary>
/// The names under which the SDK publishes traces and metrics, for <c>AddSource</c>, <c>AddMeter</c> and dashboards
/// (OpenTelemetry instrumentation packages expose theirs the same way). The activity source and the meter share one name,
/// so <c>AddSource(IoTDiagnostics.ActivitySourceName)</c> and <c>AddMeter(IoTDiagnostics.MeterName)</c> enable everything;
/// every instrument named here is on that meter.
/// </summary>
public static class IoTDiagnostics
{
    /// <summary>
    /// The one <see cref="System.Diagnostics.ActivitySource"/> of the SDK: <c>IoTMastery.Sdk</c>. Its spans cover the
    /// registry, command, state and firmware calls of every provider, each HTTP attempt of the AWS, Azure and GCP-style
    /// providers, and each telemetry batch send.
    /// </summary>
    public const string ActivitySourceName = "IoTMastery.Sdk";

    /// <summary>The one meter of the SDK: <c>IoTMastery.Sdk</c> (the same name as <see cref="ActivitySourceName"/>).</summary>
    public const string MeterName = "IoTMastery.Sdk";

    /// <summary>
    /// Counter of HTTP requests that the AWS, Azure and GCP-style providers sent again after a transient failure
    /// (attempts after the first), tagged <c>provider</c> (<c>Aws</c>, <c>Azure</c>, <c>Gcp</c>).
    /// </summary>
    public const string HttpRetries = "iotmastery.http.retries";

    /// <summary>
    /// Histogram of the time a fleet-side command took, from the call to the device's reply or the failure, in
    /// milliseconds; tagged <c>provider</c> and <c>outcome</c> (<c>success</c>, <c>timeout</c>, <c>device_offline</c>,
    /// <c>device_not_found</c>, <c>invalid_argument</c>, <c>cancelled</c> or <c>error</c>). A device's non-2xx reply is a
    /// <c>success</c>: the command was delivered and answered.
    /// </summary>
    public const string CommandDuration = "iotmastery.command.duration";

    /// <summary>
    /// Counter of MQTT connections re-established after a drop (device connections and the AWS service connection),
    /// tagged <c>provider</c>. The first connect is not counted, nor attempts that failed.
    /// </summary>
    public const string Reconnects = "iotmastery.mqtt.reconnects";

    /// <summary>Observed sum, over the open durable outboxes, of the bytes their segment files hold (<c>TelemetryOutbox.DiskBytes</c>).</summary>
    public const string OutboxBytes = "iotmastery.outbox.bytes";

    /// <summary>Observed sum, over the open durable outboxes, of the records accepted and not yet acknowledged (<c>TelemetryOutbox.PendingCount</c>).</summary>
    public const string OutboxRecords = "iotmastery.outbox.records";

    /// <summary>Counter of telemetry records the transport acknowledged, tagged <c>provider</c> (<c>Local</c>, <c>Aws</c>, <c>Azure</c>, <c>Gcp</c>).</summary>
    public const string TelemetryRecordsSent = "iotmastery.telemetry.records.sent";

    /// <summary>Counter of telemetry records that failed for good (permanent error, retries or time budget exhausted).</summary>
    public const string TelemetryRecordsFailed = "iotmastery.telemetry.records.failed";

    /// <summary>Observed count of telemetry records dropped by a full queue in <c>DropOldest</c> mode.</summary>
    public const string TelemetryRecordsDropped = "iotmastery.telemetry.records.dropped";

    /// <summary>Counter of telemetry batches the transport acknowledged.</summary>
    public const string TelemetryBatchesSent = "iotmastery.telemetry.batches.sent";

    /// <summary>Counter of encoded telemetry bytes the transport acknowledged.</summary>
    public const string TelemetryBytesSent = "iotmastery.telemetry.bytes.sent";

    /// <summary>Counter of telemetry batch send attempts after the first.</summary>
    public const string TelemetryRetries = "iotmastery.telemetry.retries";

    /// <summary>Histogram of the time to deliver or give up on one telemetry batch, retries included, in seconds.</summary>
    public const string TelemetrySendDuration = "iotmastery.telemetry.send.duration";

    /// <summary>Observed telemetry records accepted and not yet acknowledged, failed or dropped, over the live pipelines.</summary>
    public const string TelemetryQueueDepth = "iotmastery.telemetry.queue.depth";
}
