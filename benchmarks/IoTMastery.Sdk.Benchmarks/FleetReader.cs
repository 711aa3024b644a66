using System.Buffers;
using IoTMastery.Sdk.Mqtt;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>
/// One long-lived <see cref="ITelemetryChannel.ReadAllAsync"/> reader for a whole benchmark run, as a fleet consumer
/// keeps one: a new reader per invocation would measure its buffers growing. Every wait is bounded by a 10-minute
/// cancellation, so a lost record fails the run instead of hanging it.
/// </summary>
internal sealed class FleetReader : IDisposable
{
    /// <summary>Records per published batch: the pipeline's default MaxBatchRecords, about 50 KB.</summary>
    internal const int Batch = 512;

    /// <summary>The one device of the read benchmarks (the id <see cref="EndToEndBenchmarks.Records"/> stamps on every record).</summary>
    internal const string DeviceId = "plant-7-line-3-sensor-0001";

    private readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(10));
    private IAsyncEnumerator<TelemetryRecord>? _reader;
    private ValueTask<bool> _next;

    /// <summary>Whether <see cref="Start"/> has run.</summary>
    public bool Started => _reader is not null;

    /// <summary>
    /// Opens the reader and issues its first MoveNextAsync, which registers it with the channel (subscribes or starts
    /// pulling) before anything the measured method publishes.
    /// </summary>
    public void Start(ITelemetryChannel channel)
    {
        if (_reader is not null) return;
        _reader = channel.ReadAllAsync(_stop.Token).GetAsyncEnumerator(_stop.Token);
        _next = _reader.MoveNextAsync();
    }

    /// <summary>Reads exactly <paramref name="count"/> records and checks they carry values (so none is skipped unread).</summary>
    public async Task ReadAsync(int count)
    {
        var reader = _reader ?? throw new InvalidOperationException("Start the reader first.");
        double sum = 0;
        for (int read = 0; read < count; read++)
        {
            if (!await _next.ConfigureAwait(false)) throw new InvalidOperationException($"The telemetry stream ended after {read} of {count} records.");
            sum += reader.Current.Value;
            _next = reader.MoveNextAsync();
        }
        if (sum <= 0) throw new InvalidOperationException("Read records carry no values.");
    }

    /// <summary>Cancels the pending read and disposes the reader.</summary>
    public void Dispose()
    {
        if (_reader is not null)
        {
            _stop.Cancel();
            try
            {
                _next.AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                // The pending read ends with the cancellation that stops it.
            }
            _reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        _stop.Dispose();
    }

    /// <summary>The records of <see cref="EndToEndBenchmarks"/> encoded once into <paramref name="batch"/>-record batches.</summary>
    public static ReadOnlyMemory<byte>[] PreEncodedBatches(int count, int batch) =>
        EndToEndBenchmarks.Records(count).Chunk(batch).Select(chunk =>
        {
            var writer = new ArrayBufferWriter<byte>();
            TelemetryJson.WriteBatch(writer, chunk);
            return writer.WrittenMemory;
        }).ToArray();

    /// <summary>Publishes every batch at QoS 1, one PUBACK awaited at a time, as the Local and AWS rows do.</summary>
    public static async Task PublishAllAsync(MqttDeviceClient client, string topic, ReadOnlyMemory<byte>[] batches)
    {
        foreach (var payload in batches)
            await client.PublishAsync(topic, payload, MqttQualityOfService.AtLeastOnce).ConfigureAwait(false);
    }
}
