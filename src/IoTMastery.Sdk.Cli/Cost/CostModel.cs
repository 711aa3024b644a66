namespace IoTMastery.Sdk.Cli.Cost;

/// <summary>What <c>iotm cost</c> is asked.</summary>
internal sealed record CostInput
{
    public required long Devices { get; init; }
    public required TimeSpan Interval { get; init; }
    public required int RecordBytes { get; init; }
    /// <summary>Length of a device id; AWS meters the topic <c>iotmastery/{id}/telemetry</c> with every message.</summary>
    public int DeviceIdLength { get; init; } = 12;
    /// <summary>The longest a record may wait in a packed message; null = pack as full as the billing unit allows.</summary>
    public TimeSpan? MaxDelay { get; init; }

    public void Validate()
    {
        if (Devices is < 1 or > 100_000_000) throw new ArgumentException($"--devices must be 1-100,000,000; {Devices} is not.", "--devices");
        if (Interval < TimeSpan.FromSeconds(1) || Interval > TimeSpan.FromDays(1)) throw new ArgumentException($"--interval must be 1 s to 1 day; {Interval} is not.", "--interval");
        if (RecordBytes is < 1 or > 65_536) throw new ArgumentException($"--record-bytes must be 1-65536 (one encoded JSON record); {RecordBytes} is not.", "--record-bytes");
        if (DeviceIdLength is < 1 or > 128) throw new ArgumentException($"--device-id-length must be 1-128; {DeviceIdLength} is not.", "--device-id-length");
        if (MaxDelay is { } d && d < TimeSpan.Zero) throw new ArgumentException("--max-delay must not be negative.", "--max-delay");
    }
}

/// <summary>One cloud, one way of sending: what is metered and what it costs per month.</summary>
internal sealed record CostLine(
    string Cloud, string Mode, int RecordsPerMessage, long MessagesPerMonth, long BilledQuantity, string BilledUnit,
    decimal MonthlyCost, string Detail, TimeSpan AddedDelay);

/// <summary>
/// The arithmetic of <c>iotm cost</c>: one record per message versus the SDK's packing (records batched into one message
/// until the next would cross into a new billing unit, as <c>TelemetryBatchBuilder</c> does), on each cloud's metering
/// rules as the providers encode them. A month is 30 days.
/// </summary>
internal static class CostModel
{
    public const long SecondsPerMonth = 30L * 24 * 3600;

    // The SDK's JSON batch: "[" + records joined by "," + "]" (TelemetryJsonEncoder).
    private const int BatchFrame = 2;
    private const int Separator = 1;

    // AWS IoT Core meters payload + topic (AwsDeviceConnection.Limits, topic AwsTopics.Telemetry); 128 KiB messages.
    internal const int AwsMaxMessageBytes = 128 * 1024;
    private const int AwsTopicFixedBytes = 21; // "iotmastery/" + "/telemetry"

    // Azure IoT Hub meters body + message id (32) + content type + encoding (AzureTelemetryTransport); 256 KiB messages.
    private const int AzureOverheadBytes = 32 + 16 + 5;
    private const int AzureMaxMessageBytes = 256 * 1024;

    // Pub/Sub: at most 1000 messages and 10 MB per publish request (PubSubLimits); one record = one Pub/Sub message.
    private const int MaxRecordsPerMessage = 1000;

    public static IReadOnlyList<CostLine> Compute(CostInput input, PriceTable prices)
    {
        input.Validate();
        var recordsPerDevice = SecondsPerMonth / (long)input.Interval.TotalSeconds;
        var maxPack = input.MaxDelay is { } delay ? (int)Math.Min(MaxRecordsPerMessage, 1 + (long)(delay.TotalSeconds / input.Interval.TotalSeconds)) : MaxRecordsPerMessage;
        var lines = new List<CostLine>();

        // AWS
        var awsOverhead = AwsTopicFixedBytes + input.DeviceIdLength;
        foreach (var packed in new[] { false, true })
        {
            var n = packed ? PackToUnits(input.RecordBytes, awsOverhead, prices.Aws.UnitBytes, AwsMaxMessageBytes, maxPack) : 1;
            var (messages, units) = Meter(recordsPerDevice, n, input.Devices, size => CeilDiv(size + awsOverhead, prices.Aws.UnitBytes), input.RecordBytes);
            var messaging = Tiered(units, prices.Aws.MessagingPerMillion);
            var minutes = input.Devices * (SecondsPerMonth / 60);
            var connectivity = minutes * prices.Aws.ConnectivityPerMillionMinutes / 1_000_000m;
            lines.Add(new CostLine("aws", Mode(packed), n, messages, units, $"{prices.Aws.UnitBytes / 1024} KB messages",
                Round(messaging + connectivity), $"messaging {Round(messaging):0.00} + connectivity {Round(connectivity):0.00} ({minutes:N0} connection-minutes)",
                Delay(n, input.Interval)));
        }

        // Azure
        foreach (var packed in new[] { false, true })
        {
            var n = packed ? PackToUnits(input.RecordBytes, AzureOverheadBytes, prices.Azure.UnitBytes, AzureMaxMessageBytes, maxPack) : 1;
            var (messages, units) = Meter(recordsPerDevice, n, input.Devices, size => CeilDiv(size + AzureOverheadBytes, prices.Azure.UnitBytes), input.RecordBytes);
            var perDay = CeilDiv(units, 30);
            var best = prices.Azure.Tiers
                .Select(t => (Tier: t, Units: CeilDiv(perDay, t.MessagesPerUnitDay)))
                .Where(t => t.Units <= t.Tier.MaxUnits)
                .Select(t => (t.Tier, t.Units, Cost: t.Units * t.Tier.PricePerUnitMonth))
                .OrderBy(t => t.Cost).ToList();
            lines.Add(best.Count == 0
                ? new CostLine("azure", Mode(packed), n, messages, units, $"{prices.Azure.UnitBytes / 1024} KB messages", 0m,
                    $"{perDay:N0} messages/day exceed every tier's largest hub: split across hubs", Delay(n, input.Interval))
                : new CostLine("azure", Mode(packed), n, messages, units, $"{prices.Azure.UnitBytes / 1024} KB messages", best[0].Cost,
                    $"{best[0].Units} x {best[0].Tier.Name} ({perDay:N0} messages/day)", Delay(n, input.Interval)));
        }

        // GCP-style: Pub/Sub, billed per byte with a minimum per publish request.
        var gcp = prices.Gcp;
        foreach (var packed in new[] { false, true })
        {
            // Packing fills the per-request minimum; past it every byte costs the same, so bigger batches only add delay.
            var n = packed ? PackToUnits(input.RecordBytes, gcp.PerMessageOverheadBytes, gcp.MinimumBytesPerRequest, int.MaxValue, maxPack) : 1;
            var (messages, bytes) = Meter(recordsPerDevice, n, input.Devices, size => Math.Max(gcp.MinimumBytesPerRequest, size + gcp.PerMessageOverheadBytes), input.RecordBytes);
            const decimal GiB = 1024m * 1024 * 1024, TiB = GiB * 1024;
            var billable = Math.Max(0m, bytes - gcp.FreeGiBPerMonth * GiB);
            var cost = billable / TiB * gcp.PricePerTiB;
            lines.Add(new CostLine("gcp", Mode(packed), n, messages, bytes, "bytes", Round(cost),
                $"{bytes / TiB:0.####} TiB published, first {gcp.FreeGiBPerMonth} GiB free", Delay(n, input.Interval)));
        }
        return lines;
    }

    /// <summary>Size of the SDK's JSON batch of <paramref name="records"/> records of <paramref name="recordBytes"/> bytes.</summary>
    internal static long BatchBytes(long records, int recordBytes) => BatchFrame + records * recordBytes + (records - 1) * Separator;

    /// <summary>
    /// Most records in one message that stays within the billing units one record alone needs: a batch never crosses into a
    /// new unit just to add a record (TelemetryBatchBuilder), nor exceeds the largest message or <paramref name="maxRecords"/>.
    /// </summary>
    internal static int PackToUnits(int recordBytes, int overheadBytes, int unitBytes, int maxMessageBytes, int maxRecords)
    {
        var units = Math.Max(1, CeilDiv(BatchBytes(1, recordBytes) + overheadBytes, unitBytes));
        var budget = units * unitBytes - overheadBytes;
        var n = (budget - BatchFrame + Separator) / (recordBytes + Separator);
        n = Math.Min(n, (maxMessageBytes - BatchFrame + Separator) / (recordBytes + Separator));
        return (int)Math.Clamp(n, 1, Math.Max(1, maxRecords));
    }

    /// <summary>Messages and billed quantity for the fleet in a month when each device sends <paramref name="n"/> records per message.</summary>
    private static (long Messages, long Billed) Meter(long recordsPerDevice, int n, long devices, Func<long, long> billedPerMessage, int recordBytes)
    {
        var full = recordsPerDevice / n;
        var rest = recordsPerDevice % n;
        var messages = full + (rest > 0 ? 1 : 0);
        var billed = full * billedPerMessage(BatchBytes(n, recordBytes)) + (rest > 0 ? billedPerMessage(BatchBytes(rest, recordBytes)) : 0);
        return (messages * devices, billed * devices);
    }

    private static decimal Tiered(long quantity, IReadOnlyList<PriceTier> perMillion)
    {
        decimal cost = 0;
        long below = 0;
        foreach (var tier in perMillion)
        {
            var upTo = tier.UpToMillions is { } m ? m * 1_000_000 : long.MaxValue;
            var inTier = Math.Max(0, Math.Min(quantity, upTo) - below);
            cost += inTier * tier.Price / 1_000_000m;
            below = upTo;
            if (quantity <= upTo) break;
        }
        return cost;
    }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    private static decimal Round(decimal d) => Math.Round(d, 2, MidpointRounding.AwayFromZero);

    private static string Mode(bool packed) => packed ? "packed" : "one record per message";

    private static TimeSpan Delay(int n, TimeSpan interval) => interval * (n - 1);
}
