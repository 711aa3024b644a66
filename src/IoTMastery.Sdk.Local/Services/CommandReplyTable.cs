using System.Collections.Concurrent;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// Pending command requests, keyed by device and request id, so the broker can hand a reply to the
/// waiting LocalCommandService call. A reply only completes a request of the device that sent it.
/// </summary>
internal sealed class CommandReplyTable
{
    private readonly ConcurrentDictionary<(string DeviceId, string RequestId), TaskCompletionSource<ReadOnlyMemory<byte>>> _pending = new();

    /// <summary>The number of requests waiting for a reply.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Registers a request; dispose the result to remove it whatever the outcome.</summary>
    public PendingReply Register(string deviceId, string requestId)
    {
        var completion = new TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_pending.TryAdd((deviceId, requestId), completion))
            throw new InvalidOperationException($"Request '{ErrorText.Escape(requestId)}' of device '{ErrorText.Escape(deviceId)}' is already pending.");
        return new PendingReply(this, deviceId, requestId, completion.Task);
    }

    /// <summary>Completes the matching request; false when none is waiting (late, duplicate or forged reply).</summary>
    public bool TryComplete(string deviceId, string requestId, ReadOnlyMemory<byte> payload) =>
        _pending.TryRemove((deviceId, requestId), out var completion) && completion.TrySetResult(payload.ToArray());

    private void Remove(string deviceId, string requestId) => _pending.TryRemove((deviceId, requestId), out _);

    /// <summary>One registered request.</summary>
    internal readonly struct PendingReply(CommandReplyTable table, string deviceId, string requestId, Task<ReadOnlyMemory<byte>> reply) : IDisposable
    {
        /// <summary>Completes with the reply payload.</summary>
        public Task<ReadOnlyMemory<byte>> Reply { get; } = reply;

        /// <summary>Removes the entry, so timed-out and cancelled requests leave nothing behind.</summary>
        public void Dispose() => table.Remove(deviceId, requestId);
    }
}
