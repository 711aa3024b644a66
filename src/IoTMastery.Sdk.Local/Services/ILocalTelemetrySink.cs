namespace IoTMastery.Sdk.Local;

/// <summary>What became of a telemetry batch the broker handed to its sink; decides the device's PUBACK.</summary>
internal enum TelemetryIntake
{
    /// <summary>Taken (journaled, or handed to the live stream): acknowledge the publish.</summary>
    Accepted,

    /// <summary>The journal is at its disk bound: refuse the publish so the device keeps the records and retries.</summary>
    Full,

    /// <summary>The journal could not write: refuse the publish so the device keeps the records and retries.</summary>
    Failed,
}

/// <summary>Where the broker puts the telemetry devices publish: the live stream, or the durable journal.</summary>
internal interface ILocalTelemetrySink
{
    /// <summary>Takes one device's records, before the broker acknowledges the publish that carried them.</summary>
    TelemetryIntake Accept(IReadOnlyList<TelemetryRecord> records);

    /// <summary>Counts records the broker refused: malformed, or claiming another device's id.</summary>
    void CountRejected(int count);
}
