using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>(b) Encoding alone: one 512-record batch; per-record figures (OperationsPerInvoke).</summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class EncodingBenchmarks
{
    private const int Batch = 512;
    private TelemetryRecord[] _records = [];
    private readonly ArrayBufferWriter<byte> _output = new(128 * 1024);
    private PooledBufferWriter _pooled = null!;
    private TelemetryRecord[] _e2eRecords = [];
    private readonly TelemetryJsonEncoder.HeadTable _heads = TelemetryJsonEncoder.NewHeadTable();

    [GlobalSetup]
    public void Setup()
    {
        _records = Data.Make(Batch);
        _pooled = new PooledBufferWriter(128 * 1024);
        _e2eRecords = EndToEndBenchmarks.Records(Batch);
    }

    [GlobalCleanup]
    public void Cleanup() => _pooled.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "JsonSerializer per record")]
    public int SerializerPerRecord()
    {
        int bytes = 0;
        foreach (var record in _records) bytes += JsonSerializer.SerializeToUtf8Bytes(record).Length;
        return bytes;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "TelemetryJson.WriteBatch (Utf8JsonWriter)")]
    public int WriteBatch()
    {
        _output.ResetWrittenCount();
        TelemetryJson.WriteBatch(_output, _records);
        return _output.WrittenCount;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "pipeline encoder into pooled buffer")]
    public int PipelineEncoder() => Encode(TelemetryJsonEncoder.Instance);

    [Benchmark(OperationsPerInvoke = Batch, Description = "previous pipeline encoder (before #18's encoding work)")]
    public int PreviousPipelineEncoder() => Encode(PreviousJsonEncoder.Instance);

    // The batch builder's entry (separator with the record, the builder's own head and time cache) on the e2e rows' records
    // (one device and metric, ~10 % of values with 17 digits, timestamps 1 ms apart): the pipeline's per-record encoding cost.
    [Benchmark(OperationsPerInvoke = Batch, Description = "builder entry, e2e records")]
    public int BuilderEntryE2eRecords()
    {
        var encoder = TelemetryJsonEncoder.Instance;
        _pooled.Clear();
        _pooled.Write(encoder.BatchPrefix);
        var records = _e2eRecords;
        for (int i = 0; i < records.Length; i++) encoder.WriteRecord(_pooled, records[i], i > 0, _heads);
        _pooled.Write(encoder.BatchSuffix);
        return _pooled.Length;
    }

    private int Encode(ITelemetryEncoder encoder)
    {
        _pooled.Clear();
        _pooled.Write(encoder.BatchPrefix);
        for (int i = 0; i < _records.Length; i++)
        {
            if (i > 0) _pooled.Write(encoder.RecordSeparator);
            encoder.WriteRecord(_pooled, _records[i]);
        }
        _pooled.Write(encoder.BatchSuffix);
        return _pooled.Length;
    }
}
