using System.Buffers;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Telemetry;

/// <summary>A whole batch as an encoder writes it (prefix, records with separators, suffix), for tests that decode or compare it.</summary>
internal static class EncodedBatch
{
    public static byte[] Of(ITelemetryEncoder encoder, ReadOnlySpan<TelemetryRecord> records)
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write(encoder.BatchPrefix);
        for (int i = 0; i < records.Length; i++)
        {
            if (i > 0) output.Write(encoder.RecordSeparator);
            encoder.WriteRecord(output, records[i]);
        }
        output.Write(encoder.BatchSuffix);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The same batch through the batch builder's direct entry: separator written with each record, into a pooled buffer, one head table.</summary>
    public static byte[] ThroughBuilderEntry(TelemetryJsonEncoder encoder, IReadOnlyList<TelemetryRecord> records)
    {
        using var pooled = new PooledBufferWriter(16);
        pooled.Write(encoder.BatchPrefix);
        var heads = TelemetryJsonEncoder.NewHeadTable();
        for (int i = 0; i < records.Count; i++) encoder.WriteRecord(pooled, records[i], separator: i > 0, heads);
        pooled.Write(encoder.BatchSuffix);
        return pooled.WrittenSpan.ToArray();
    }
}

/// <summary>One call the pipeline made to the transport.</summary>
internal sealed record SentMessage(byte[] Payload, int RecordCount, DateTimeOffset At, bool Succeeded, long? FirstSequence = null);

/// <summary>
/// An in-process transport that keeps every payload it is given. Each call asks <see cref="Behavior"/>
/// (attempt number, 1-based) for an exception to throw or a task to wait on, so tests script outages.
/// </summary>
internal sealed class RecordingTransport(TelemetryTransportLimits? limits = null, TimeProvider? time = null) : ITelemetryTransport
{
    private readonly Lock _lock = new();
    private readonly List<SentMessage> _calls = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TelemetryTransportLimits Limits { get; } = limits ?? new TelemetryTransportLimits();

    public Func<int, Exception?> Behavior { get; set; } = _ => null;

    /// <summary>When set, every call waits for it (or for cancellation) before answering.</summary>
    public Task? Gate { get; set; }

    public IReadOnlyList<SentMessage> Calls { get { lock (_lock) return [.. _calls]; } }

    public IReadOnlyList<SentMessage> Delivered => Calls.Where(c => c.Succeeded).ToList();

    public async ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
    {
        var payload = batch.Payload.ToArray();
        if (Gate is { } gate) await gate.WaitAsync(cancellationToken);
        int attempt;
        lock (_lock) attempt = _calls.Count + 1;
        var error = Behavior(attempt);
        Record(new SentMessage(payload, batch.RecordCount, (time ?? TimeProvider.System).GetUtcNow(), error is null, batch.FirstSequence));
        if (error is not null) throw error;
    }

    public bool IsTransient(Exception exception) => exception is IoTException { IsTransient: true } or TimeoutException;

    private void Record(SentMessage message)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _calls.Add(message);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Waits (10 s at most) until the transport has seen <paramref name="count"/> calls.</summary>
    public async Task WaitForCallsAsync(int count)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task next;
            lock (_lock)
            {
                if (_calls.Count >= count) return;
                next = _changed.Task;
            }
            await next.WaitAsync(deadline.Token);
        }
    }

    /// <summary>Waits (10 s at most) until delivered batches hold <paramref name="records"/> records.</summary>
    public async Task WaitForRecordsAsync(int records)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task next;
            lock (_lock)
            {
                if (_calls.Where(c => c.Succeeded).Sum(c => c.RecordCount) >= records) return;
                next = _changed.Task;
            }
            await next.WaitAsync(deadline.Token);
        }
    }

    public List<TelemetryRecord> DecodeDelivered() => Delivered.SelectMany(c => TelemetryJson.ReadBatch(c.Payload)).ToList();
}

/// <summary>
/// A <see cref="FakeTimeProvider"/> that tells tests when a timer or delay is armed, so a test
/// advances fake time only after the pipeline is waiting on it (no race, no real sleeps).
/// </summary>
internal sealed class TestTime : FakeTimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<TimeSpan> _armed = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ObservedTimer(base.CreateTimer(callback, state, dueTime, period), this);
        Armed(dueTime);
        return timer;
    }

    /// <summary>Waits (10 s at most) until a timer is armed with a due time that satisfies <paramref name="match"/>; consumes it.</summary>
    public async Task WaitForTimerAsync(Func<TimeSpan, bool> match)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task next;
            lock (_lock)
            {
                int index = _armed.FindIndex(d => match(d));
                if (index >= 0)
                {
                    _armed.RemoveRange(0, index + 1);
                    return;
                }
                next = _changed.Task;
            }
            await next.WaitAsync(deadline.Token);
        }
    }

    public Task WaitForTimerAsync(TimeSpan due) => WaitForTimerAsync(d => d == due);

    private void Armed(TimeSpan due)
    {
        if (due == Timeout.InfiniteTimeSpan) return;
        TaskCompletionSource changed;
        lock (_lock)
        {
            _armed.Add(due);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private sealed class ObservedTimer(ITimer inner, TestTime owner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            bool changed = inner.Change(dueTime, period);
            owner.Armed(dueTime);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

/// <summary>Encodes every record as exactly <c>size</c> bytes, so packing tests know message sizes in advance.</summary>
internal sealed class FixedSizeEncoder(int size) : ITelemetryEncoder
{
    public ReadOnlySpan<byte> BatchPrefix => "["u8;
    public ReadOnlySpan<byte> RecordSeparator => ","u8;
    public ReadOnlySpan<byte> BatchSuffix => "]"u8;

    public void WriteRecord(IBufferWriter<byte> output, in TelemetryRecord record)
    {
        var span = output.GetSpan(size);
        span[..size].Fill((byte)'x');
        output.Advance(size);
    }
}

internal static class Records
{
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static TelemetryRecord Make(int i, string device = "dev-1") => new(device, "temperature", i, Epoch.AddMilliseconds(i));
}
