using Parquet;
using Parquet.Schema;

namespace IoTMastery.Sdk.Analytics;

/// <summary>
/// Writes telemetry records as one Parquet file. The schema is the lake's contract (documented in README.md):
/// <c>device_id</c> string, <c>metric</c> string, <c>value</c> double, <c>device_time</c> and <c>received_time</c> UTC
/// timestamps in microseconds, <c>position</c> int64 (the record's source position, unique per source).
/// </summary>
/// <remarks>Column buffers are kept between files, so writing allocates little beyond Parquet.Net's own pages.
/// One instance serves one thread.</remarks>
internal sealed class ParquetTelemetryWriter
{
    internal static readonly DataField<string> DeviceId = new("device_id", false);
    internal static readonly DataField<string> Metric = new("metric", false);
    internal static readonly DataField<double> Value = new("value", false);
    internal static readonly DateTimeDataField DeviceTime = new("device_time", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false);
    internal static readonly DateTimeDataField ReceivedTime = new("received_time", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false);
    internal static readonly DataField<long> Position = new("position", false);
    internal static readonly ParquetSchema Schema = new(DeviceId, Metric, Value, DeviceTime, ReceivedTime, Position);

    private readonly ParquetOptions _parquetOptions;
    private readonly int _rowGroupRecords;
    private string[] _devices = [];
    private string[] _metrics = [];
    private double[] _values = [];
    private DateTime[] _deviceTimes = [];
    private DateTime[] _receivedTimes = [];
    private long[] _positions = [];

    public ParquetTelemetryWriter(LakeExportOptions options)
    {
        _rowGroupRecords = options.RowGroupRecords;
        _parquetOptions = new ParquetOptions
        {
            CompressionMethod = options.Compression,
            // Parquet.Net defaults to SmallestSize, which for Zstd is its slowest level (measured ~36 µs per record,
            // 150x Snappy, in benchmarks/README.md); Optimal keeps most of the size gain at a writing speed a stream can sustain.
            CompressionLevel = System.IO.Compression.CompressionLevel.Optimal,
        };
    }

    /// <summary>Writes <paramref name="count"/> records, taken from <paramref name="records"/> at <paramref name="indexes"/> (or 0..count-1 when null), to <paramref name="output"/>.</summary>
    /// <param name="records">The batch.</param>
    /// <param name="indexes">Which records of the batch, in order; null for the first <paramref name="count"/>.</param>
    /// <param name="count">How many records.</param>
    /// <param name="firstPosition">The source position of <c>records[0]</c>; positions are consecutive in the batch.</param>
    /// <param name="received">When the exporter read the batch.</param>
    /// <param name="output">Receives the file.</param>
    /// <param name="cancellationToken">Stops the write.</param>
    public async Task WriteAsync(TelemetryRecord[] records, int[]? indexes, int count, long firstPosition, DateTimeOffset received, Stream output, CancellationToken cancellationToken)
    {
        EnsureCapacity(count);
        var receivedUtc = received.UtcDateTime;
        for (int i = 0; i < count; i++)
        {
            int at = indexes is null ? i : indexes[i];
            ref readonly var record = ref records[at];
            _devices[i] = record.DeviceId;
            _metrics[i] = record.Metric;
            _values[i] = record.Value;
            _deviceTimes[i] = record.Timestamp.UtcDateTime;
            _receivedTimes[i] = receivedUtc;
            _positions[i] = firstPosition + at;
        }
        await using (var writer = await ParquetWriter.CreateAsync(Schema, output, _parquetOptions, append: false, cancellationToken).ConfigureAwait(false))
        {
            for (int start = 0; start < count; start += _rowGroupRecords)
            {
                int length = Math.Min(_rowGroupRecords, count - start);
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(DeviceId, new ArraySegment<string>(_devices, start, length)).ConfigureAwait(false);
                await group.WriteAsync(Metric, new ArraySegment<string>(_metrics, start, length)).ConfigureAwait(false);
                await group.WriteAsync<double>(Value, _values.AsMemory(start, length), null, null, cancellationToken).ConfigureAwait(false);
                await group.WriteAsync<DateTime>(DeviceTime, _deviceTimes.AsMemory(start, length), null, null, cancellationToken).ConfigureAwait(false);
                await group.WriteAsync<DateTime>(ReceivedTime, _receivedTimes.AsMemory(start, length), null, null, cancellationToken).ConfigureAwait(false);
                await group.WriteAsync<long>(Position, _positions.AsMemory(start, length), null, null, cancellationToken).ConfigureAwait(false);
            }
        }
        // Drop the string references so device ids of an old batch are not kept alive by the buffers.
        Array.Clear(_devices, 0, count);
        Array.Clear(_metrics, 0, count);
    }

    private void EnsureCapacity(int count)
    {
        if (_values.Length >= count) return;
        _devices = new string[count];
        _metrics = new string[count];
        _values = new double[count];
        _deviceTimes = new DateTime[count];
        _receivedTimes = new DateTime[count];
        _positions = new long[count];
    }
}
