using BenchmarkDotNet.Attributes;
using IoTMastery.Sdk;
using Polly;

namespace IoTMastery.Sdk.Benchmarks;

/// <summary>(c) What the per-batch Polly pipeline (budget, retry, breaker, attempt timeout) adds to one successful send.</summary>
[MemoryDiagnoser]
[Config(typeof(ShortConfig))]
public class ResilienceBenchmarks
{
    private readonly AckTransport _transport = new();
    private ResiliencePipeline _pipeline = null!;
    private readonly byte[] _payload = new byte[5000];

    [GlobalSetup]
    public void Setup() => _pipeline = TelemetryResilience.Build(new TelemetryPipelineOptions(), _transport, TimeProvider.System, Random.Shared.NextDouble, []);

    [Benchmark(Baseline = true, Description = "transport.SendAsync direct")]
    public ValueTask Direct() => _transport.SendAsync(new TelemetryBatch(_payload, 50), default);

    [Benchmark(Description = "through the per-batch resilience pipeline")]
    public async ValueTask<bool> ThroughPolly()
    {
        var context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            var outcome = await _pipeline.ExecuteOutcomeAsync(static async (context, state) =>
            {
                try
                {
                    await state.Transport.SendAsync(new TelemetryBatch(state.Payload, 50), context.CancellationToken).ConfigureAwait(false);
                    return Outcome.FromResult(true);
                }
                catch (Exception ex)
                {
                    return Outcome.FromException<bool>(ex);
                }
            }, context, (Transport: _transport, Payload: _payload)).ConfigureAwait(false);
            return outcome.Exception is null;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
