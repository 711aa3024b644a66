using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// (d) Billed units per 1,000,000 records of about 100 bytes: the pipeline's packing vs one record
/// per message, under AWS (5 KB = 5120-byte increments incl. topic) and Azure (4 KB chunks) metering.
/// Computed from the exact payload sizes the pipeline produced, not timed.
/// </summary>
public static class BillingReport
{
    private sealed class MeteringTransport(TelemetryTransportLimits limits) : ITelemetryTransport
    {
        public long Records, Messages, Bytes, Units;
        public TelemetryTransportLimits Limits => limits;

        public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
        {
            long metered = batch.Payload.Length + limits.BillingOverheadBytes;
            Records += batch.RecordCount;
            Messages++;
            Bytes += metered;
            Units += (metered + limits.BillingUnitBytes - 1) / limits.BillingUnitBytes;
            return default;
        }

        public bool IsTransient(Exception exception) => false;
    }

    public static async Task RunAsync()
    {
        const int n = 1_000_000;
        var records = Data.Make(n);
        var aws = new TelemetryTransportLimits { MaxMessageBytes = 128 * 1024, BillingUnitBytes = 5120, BillingOverheadBytes = "dt/plant-7/line-3/telemetry".Length, MaxRecordsPerMessage = 10_000 };
        var azure = new TelemetryTransportLimits { MaxMessageBytes = 256 * 1024, BillingUnitBytes = 4096, MaxRecordsPerMessage = 10_000 };
        Console.WriteLine("| provider (unit) | mode | messages | billed units | metered bytes per 1-record message | unit fill | units vs 1-per-message |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var (name, limits) in new[] { ("AWS (5120 B incl. topic)", aws), ("Azure (4096 B)", azure) })
        {
            var single = await MeterAsync(records, limits, new TelemetryPipelineOptions { MaxBatchRecords = 1 });
            var packedDefault = await MeterAsync(records, limits, new TelemetryPipelineOptions());
            var packedLarge = await MeterAsync(records, limits, new TelemetryPipelineOptions { MaxBatchRecords = 5000 });
            Row(name, "1 record per message", single, single);
            Row(name, "pipeline, MaxBatchRecords 512 (default)", packedDefault, single);
            Row(name, "pipeline, MaxBatchRecords 5000", packedLarge, single);
        }
    }

    private static async Task<MeteringTransport> MeterAsync(TelemetryRecord[] records, TelemetryTransportLimits limits, TelemetryPipelineOptions options)
    {
        var transport = new MeteringTransport(limits);
        await using var pipeline = new TelemetryPipeline(transport, options with { Linger = TimeSpan.FromSeconds(10) });
        foreach (var record in records)
        {
            if (!pipeline.TryWrite(record)) await pipeline.WriteAsync(record);
        }
        await pipeline.FlushAsync();
        return transport;
    }

    private static void Row(string provider, string mode, MeteringTransport t, MeteringTransport single)
    {
        double fill = (double)t.Bytes / (t.Units * (provider.StartsWith("AWS", StringComparison.Ordinal) ? 5120 : 4096));
        Console.WriteLine($"| {provider} | {mode} | {t.Messages:N0} | {t.Units:N0} | {(double)single.Bytes / single.Records:F1} | {fill:P1} | {(double)single.Units / t.Units:F1}× fewer |");
    }
}
