using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Azure;

// Twin requests ($rid correlation on $iothub/twin/res) and desired state: the twin read after every connect, patches applied
// in version order, a fresh read after a gap, and delivery to the handler once per version.
internal sealed partial class AzureMqttDeviceConnection
{
    private readonly TimeSpan _operationTimeout;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(int Status, string Query, ReadOnlyMemory<byte> Body)>> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _desiredGate = new(1, 1);
    // Held across the handler call: deliveries start from several places (patch, reconnect, new handler), and two
    // running at once could hand version 1 to the handler after version 2.
    private readonly SemaphoreSlim _deliveryGate = new(1, 1);
    private JsonObject? _desired;
    private long _desiredVersion = -1;
    private long _deliveredVersion = -1;

    /// <inheritdoc />
    protected override void OnDesiredStateHandlerSet(DesiredStateChange? stored)
    {
        // The twin (_desired/_desiredVersion) is the store here, so the slot's stored change is unused.
        if (Volatile.Read(ref _desired) is not null) RunInBackground(DeliverCurrentAsync);
        else if (IsConnected) RunInBackground(RefreshDesiredAsync);
    }

    internal async Task<JsonObject> GetTwinAsync(CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        // A single space, as the official SDK sends.
        var (_, _, body) = await RequestAsync(AzureTopics.TwinGet, " "u8.ToArray(), cancellationToken).ConfigureAwait(false);
        return ParseTwin(body.Span);
    }

    /// <summary>A twin document; IoTException <c>InvalidTwin</c> when it is not a well-formed JSON object.</summary>
    internal static JsonObject ParseTwin(ReadOnlySpan<byte> body) =>
        // Strict: JsonNode.Parse threw a bare JsonException here, and lazy errors (duplicate keys, bad strings) escaped later from RefreshDesiredAsync.
        StrictJson.TryParseObject(body) ?? throw new IoTException(IoTErrorKind.Unknown, "IoT Hub sent a twin that is not a well-formed JSON object.", Provider, "InvalidTwin");

    /// <summary>A desired-properties patch with its <c>$version</c>, or null when the payload is not a well-formed JSON object.</summary>
    internal static (JsonObject Properties, long Version)? ParseDesiredPatch(ReadOnlySpan<byte> payload) =>
        StrictJson.TryParseObject(payload) is { } patch ? TwinMapping.Section(patch) : null;

    private async Task<(int Status, string Query, ReadOnlyMemory<byte> Body)> RequestAsync(Func<string, string> topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await EnsureSubscribedAsync(Subscription.TwinResponses, cancellationToken).ConfigureAwait(false);
        var rid = Guid.NewGuid().ToString();
        var completion = new TaskCompletionSource<(int, string, ReadOnlyMemory<byte>)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[rid] = completion;
        try
        {
            await Client.PublishAsync(topic(rid), payload, MqttQualityOfService.AtMostOnce, false, cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, Stopping);
            timeout.CancelAfter(_operationTimeout);
            (int Status, string Query, ReadOnlyMemory<byte> Body) response;
            try
            {
                response = await completion.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IoTException(IoTErrorKind.Unknown, $"IoT Hub did not answer the twin request within {_operationTimeout.TotalSeconds:0} s.", Provider, "TwinTimeout", isTransient: true, innerException: ex);
            }
            if (response.Status >= 300)
            {
                var text = Encoding.UTF8.GetString(response.Body.Span);
                throw IotHubErrors.ToException(IotHubErrors.Parse(response.Status, text, null), DeviceId, null);
            }
            return response;
        }
        finally
        {
            _pending.TryRemove(rid, out _);
        }
    }

    private ValueTask OnTwinResponseAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // $iothub/twin/res/{status}/?$rid={rid}[&$version={n}]
        if (!AzureTopics.TryParseResponse(message.Topic, AzureTopics.TwinResponsePrefix, out var status, out var query)) return ValueTask.CompletedTask;
        if (query.GetValueOrDefault("$rid") is { } rid && _pending.TryGetValue(rid, out var pending))
            pending.TrySetResult((status, message.Topic[(message.Topic.IndexOf('/', AzureTopics.TwinResponsePrefix.Length) + 1)..], message.Payload));
        return ValueTask.CompletedTask;
    }

    private ValueTask OnDesiredPatchAsync(MqttIncomingMessage message, CancellationToken cancellationToken)
    {
        // Strict: duplicate keys or bad strings used to throw out of ApplyDesiredPatchAsync, a fire-and-forget task.
        if (ParseDesiredPatch(message.Payload.Span) is not { } patch)
        {
            Log.DesiredPatchDropped(Logger, DeviceId);
            return ValueTask.CompletedTask;
        }
        // Applied off the dispatch loop: a gap triggers a twin GET whose answer arrives through that loop.
        RunInBackground(stopping => ApplyDesiredPatchAsync(patch, stopping));
        return ValueTask.CompletedTask;
    }

    private async Task ApplyDesiredPatchAsync((JsonObject Properties, long Version) patch, CancellationToken cancellationToken)
    {
        var (properties, version) = patch;
        var refresh = false;
        await _desiredGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Before the first twin read completes, or after a missed version, only a fresh read is trustworthy.
            if (_desired is null) refresh = true;
            else if (version <= _desiredVersion) return;
            else if (version == _desiredVersion + 1)
            {
                _desired = JsonMergePatch.Apply(_desired, properties);
                _desiredVersion = version;
            }
            else
                refresh = true;
        }
        finally
        {
            _desiredGate.Release();
        }
        if (refresh) await RefreshDesiredAsync(cancellationToken).ConfigureAwait(false);
        else await DeliverCurrentAsync(cancellationToken).ConfigureAwait(false);
    }

    // After every (re)connect and after a version gap: the hub does not queue desired patches for offline devices.
    private async Task RefreshDesiredAsync(CancellationToken cancellationToken)
    {
        if (Slots.DesiredHandler is null) return;
        try
        {
            await EnsureSubscribedAsync(Subscription.Desired, cancellationToken).ConfigureAwait(false);
            var (_, _, body) = await RequestAsync(AzureTopics.TwinGet, " "u8.ToArray(), cancellationToken).ConfigureAwait(false);
            var (desired, version) = TwinMapping.Section(ParseTwin(body.Span)["desired"] as JsonObject);
            await _desiredGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (version < _desiredVersion) return;
                _desired = desired;
                _desiredVersion = version;
            }
            finally
            {
                _desiredGate.Release();
            }
            await DeliverCurrentAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IoTException or OperationCanceledException or JsonException)
        {
            if (!cancellationToken.IsCancellationRequested)
                Log.TwinReadFailed(Logger, DeviceId, ErrorText.Name(ex));
        }
    }

    private async Task DeliverCurrentAsync(CancellationToken cancellationToken)
    {
        await _deliveryGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            DesiredStateChange change;
            DesiredStateHandler? handler;
            await _desiredGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                handler = Slots.DesiredHandler;
                if (handler is null || _desired is null || _desiredVersion <= _deliveredVersion) return;
                _deliveredVersion = _desiredVersion;
                change = new DesiredStateChange((JsonObject)_desired.DeepClone(), _desiredVersion);
            }
            finally
            {
                _desiredGate.Release();
            }
            await InvokeDesiredHandlerAsync(handler, change, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _deliveryGate.Release();
        }
    }
}
