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

    [GlobalSetup]
    public void Setup()
    {
        _records = Data.Make(Batch);
        _pooled = new PooledBufferWriter(128 * 1024);
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
