using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// The wire format of commands with replies on a bridge that has no reply channel. The fleet sends
/// <c>{"id","name","payload"}</c> with <c>sendCommandToDevice</c> under the subfolder <c>{name}</c>; the device
/// answers with an event <c>{"id","status","payload"}</c> on <c>/devices/{id}/events/{replySubfolder}</c>, which the
/// registry routes (event notification config with that subfolder match) to a reply topic the fleet pulls.
/// </summary>
internal static class GcpCommandWire
{
    public static byte[] Request(string requestId, DeviceCommand command) =>
        Encoding.UTF8.GetBytes(new JsonObject { ["id"] = requestId, ["name"] = command.Name, ["payload"] = command.Payload?.DeepClone() }.ToJsonString());

    public static byte[] Reply(string requestId, CommandResponse response) =>
        Encoding.UTF8.GetBytes(new JsonObject { ["id"] = requestId, ["status"] = response.Status, ["payload"] = response.Payload?.DeepClone() }.ToJsonString());

    public static bool TryParseRequest(ReadOnlyMemory<byte> data, out string requestId, out string name, out JsonNode? payload)
    {
        requestId = name = "";
        payload = null;
        try
        {
            if (StrictJson.TryParseObject(data.Span) is not { } o || o["id"]?.GetValue<string>() is not { Length: > 0 } id || o["name"]?.GetValue<string>() is not { Length: > 0 } n) return false;
            (requestId, name, payload) = (id, n, o["payload"]?.DeepClone());
            return true;
        }
        // Strict parse above: a bad string inside "payload" used to reach the handler and fail there as a 500.
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or ArgumentException)
        {
            return false;
        }
    }

    public static bool TryParseReply(ReadOnlyMemory<byte> data, out string requestId, out CommandResponse response)
    {
        requestId = "";
        response = new CommandResponse(0);
        try
        {
            if (StrictJson.TryParseObject(data.Span) is not { } o || o["id"]?.GetValue<string>() is not { Length: > 0 } id || o["status"]?.GetValue<int>() is not { } status) return false;
            (requestId, response) = (id, new CommandResponse(status, o["payload"]?.DeepClone()));
            return true;
        }
        // Invalid UTF-8 or lone surrogates in a string (and, for JsonNode, duplicate keys) surface only when read, not at parse.
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            return false;
        }
    }
}

/// <summary>
/// Commands with replies (see <see cref="GcpCommandWire"/>). Replies are pulled from one subscription by a
/// background loop started by the first command; each fleet instance needs its own reply subscription, or
/// replies are split between instances and time out. Without a reply subscription the service refuses with
/// <see cref="NotSupportedException"/> and the provider reports <see cref="ProviderCapabilities.Commands"/> false.
/// </summary>
internal sealed partial class GcpCommandService : IDeviceCommandService, IAsyncDisposable
{
    private readonly CloudIotClient _registry;
    private readonly PubSubClient _pubsub;
    private readonly string? _replySubscription;
    private readonly TimeProvider _time;
    private readonly TimeSpan _emptyPullDelay;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<CommandResponse>> _pending = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task? _loop;
    private int _disposed;

    public GcpCommandService(CloudIotClient registry, PubSubClient pubsub, string? replySubscription, TimeProvider time, TimeSpan emptyPullDelay, ILogger logger)
    {
        _registry = registry;
        _pubsub = pubsub;
        _replySubscription = replySubscription;
        _time = time;
        _emptyPullDelay = emptyPullDelay;
        _logger = logger;
    }

    public bool Available => _replySubscription is not null;

    public async Task<CommandResponse> InvokeAsync(string deviceId, DeviceCommand command, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Gcp.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(command);
        command.Validate();
        if (_replySubscription is null)
            throw new NotSupportedException("Commands with replies need GcpIoTOptions.CommandReplySubscriptionId: the bridge has no reply channel, so devices answer with an event the registry routes to that subscription.");
        var requestId = Guid.NewGuid().ToString("N");
        var data = GcpCommandWire.Request(requestId, command);
        if (data.Length > 256 * 1024) throw new IoTException(IoTErrorKind.PayloadTooLarge, $"The command is {data.Length} bytes; Cloud IoT commands are at most 262144.", GoogleApiErrors.Provider);
        EnsureLoop();
        var reply = new TaskCompletionSource<CommandResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[requestId] = reply;
        try
        {
            try
            {
                await _registry.SendCommandToDeviceAsync(deviceId, data, command.Name, cancellationToken).ConfigureAwait(false);
            }
            catch (IoTException ex) when (ex.Kind == IoTErrorKind.NotFound)
            {
                throw IoTException.DeviceNotFound(deviceId, GoogleApiErrors.Provider, ex.ErrorCode, ex);
            }
            try
            {
                return await reply.Task.WaitAsync(command.Timeout, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw IoTException.CommandTimeout(deviceId, command.Name, command.Timeout, GoogleApiErrors.Provider);
            }
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    private void EnsureLoop()
    {
        lock (_gate) _loop ??= Task.Run(() => PullRepliesAsync(_stop.Token));
    }

    private async Task PullRepliesAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var messages = await _pubsub.PullAsync(_replySubscription!, 100, stop).ConfigureAwait(false);
                if (messages.Count == 0)
                {
                    await Task.Delay(_emptyPullDelay, _time, stop).ConfigureAwait(false);
                    continue;
                }
                foreach (var m in messages)
                    if (GcpCommandWire.TryParseReply(m.Data, out var id, out var response) && _pending.TryGetValue(id, out var waiter))
                        waiter.TrySetResult(response);
                // Replies nobody waits for (timed out, or another instance's) are dropped: a command is answered once.
                await _pubsub.AcknowledgeAsync(_replySubscription!, messages.Select(m => m.AckId).ToArray(), stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IoTException or HttpRequestException or OperationCanceledException)
            {
                // Waiters time out on their own; the loop keeps pulling after a pause.
                Log.ReplyPullFailed(_logger, ErrorText.Name(ex));
                try { await Task.Delay(TimeSpan.FromSeconds(1), _time, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    // Idempotent: a DI container disposes this (resolved as IDeviceCommandService) and the provider disposes it too.
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        Task? loop;
        lock (_gate) loop = _loop;
        if (loop is not null) await loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _stop.Dispose();
    }
}
