using System.Buffers;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>Short job so the full run fits in a few minutes on a shared 2-core machine.</summary>
public sealed class ShortConfig : ManualConfig
{
    public ShortConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(5));
        WithOptions(ConfigOptions.DisableOptimizationsValidator);
    }
}

/// <summary>Acknowledges every batch at once: measures the pipeline, not a network.</summary>
internal sealed class AckTransport(TelemetryTransportLimits? limits = null) : ITelemetryTransport
{
    public long Records;
    public long Bytes;
    public long Messages;
    public TelemetryTransportLimits Limits { get; } = limits ?? new TelemetryTransportLimits();

    public ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
    {
        Records += batch.RecordCount;
        Bytes += batch.Payload.Length;
        Messages++;
        return default;
    }

    public bool IsTransient(Exception exception) => false;
}

/// <summary>Writes the 8-byte value only: isolates intake and batching from JSON cost.</summary>
public sealed class ValueOnlyEncoder : ITelemetryEncoder
{
    public ReadOnlySpan<byte> BatchPrefix => [];
    public ReadOnlySpan<byte> RecordSeparator => [];
    public ReadOnlySpan<byte> BatchSuffix => [];

    public void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record)
    {
        BitConverter.TryWriteBytes(output.GetSpan(8), record.Value);
        output.Advance(8);
    }
}

public static class Data
{
    /// <summary>Records of 100 devices, about 100 bytes each as JSON.</summary>
    public static TelemetryRecord[] Make(int count)
    {
        var devices = Enumerable.Range(0, 100).Select(i => $"plant-7-line-3-sensor-{i:D4}").ToArray();
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var records = new TelemetryRecord[count];
        for (int i = 0; i < count; i++)
            records[i] = new TelemetryRecord(devices[i % devices.Length], "coolant.temperature", 20 + (i % 1000) / 100.0, start.AddMilliseconds(i));
        return records;
    }
}
