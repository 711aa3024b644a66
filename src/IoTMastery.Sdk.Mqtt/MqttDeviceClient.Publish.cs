using System.Buffers;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Mqtt;

// Publishing: the publish window a renewal closes and reopens, acknowledgements and their errors.
internal sealed partial class MqttDeviceClient
{
    // Under _stateLock: publishes admitted and not yet finished, and the planned renewal now closing the connection (null when none).
    private int _inFlight;
    private RenewalWindow? _renewal;

    // Under _stateLock: the publish window. QoS 1 publishes awaiting their PUBACK, at most the broker's Receive Maximum
    // (MQTT 5 CONNACK; 65,535 when it sends none, and for MQTT 3.1.1), because a broker disconnects a client that
    // exceeds it. Publishes that must wait (window full, renewal in progress) are admitted one after another in call
    // order: _admissionTail completes once the last of them has been handed to MQTTnet, so a caller with several
    // publishes in flight (the telemetry pipeline) has them go out, and be processed by the broker, in its order.
    private int _qos1InFlight;
    private int _receiveMaximum = ushort.MaxValue;
    private TaskCompletionSource? _windowRoom;
    private Task _admissionTail = Task.CompletedTask;

    /// <summary>
    /// Publishes a message. For QoS 1 it completes when the broker acknowledged it. While a credential renewal closes the
    /// connection, or while the broker's Receive Maximum of QoS 1 publishes await their acknowledgement, the publish
    /// waits; waiting and acknowledgement together take at most <see cref="MqttDeviceClientOptions.OperationTimeout"/>.
    /// Concurrent calls made one after another go out on the connection in the order they were made.
    /// </summary>
    /// <exception cref="ArgumentException">The topic is empty, too long or contains wildcards.</exception>
    /// <exception cref="IoTException">Not connected or no acknowledgement in time (transient), or the broker rejected the message.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.Authorization"/>: The broker refused the topic (MQTT 5 only; MQTT 3.1.1 brokers drop silently).</exception>
    public async Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, MqttQualityOfService qos = MqttQualityOfService.AtLeastOnce,
        bool retain = false, CancellationToken cancellationToken = default)
    {
        ValidateTopic(topic);
        if (!Enum.IsDefined(qos)) throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS must be AtMostOnce or AtLeastOnce.");
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);

        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            // A copy: callers (the telemetry pipeline) reuse their buffer once this call returns, even on timeout.
            .WithPayload(payload.ToArray())
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos)
            .WithRetainFlag(retain)
            .Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        timeout.CancelAfter(_options.OperationTimeout);
        bool acknowledged = qos == MqttQualityOfService.AtLeastOnce;
        TaskCompletionSource? admission;
        try
        {
            admission = await EnterPublishAsync(acknowledged, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            // Nothing was sent, so the caller may safely send it again.
            throw new IoTException(IoTErrorKind.Unknown, $"Publish to '{topic}' waited {_options.OperationTimeout.TotalSeconds:0.###} s for the credential renewal to reconnect or for the broker's receive window.", _provider, "NotConnected", isTransient: true, innerException: ex);
        }
        MqttClientPublishResult result;
        try
        {
            Task<MqttClientPublishResult> publish;
            try
            {
                if (!_client.IsConnected) throw NotConnected();
                // MQTTnet queues the packet for its writer before it first yields, so the next admitted publish follows it.
                publish = _client.PublishAsync(message, timeout.Token);
            }
            finally
            {
                admission?.TrySetResult();
            }
            result = await publish.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"Publish to '{topic}' was not acknowledged within {_options.OperationTimeout.TotalSeconds:0.###} s.", _provider, "PublishTimeout", isTransient: true, innerException: ex);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or MqttClientNotConnectedException or MqttClientDisconnectedException or ObjectDisposedException or IOException)
        {
            throw new IoTException(IoTErrorKind.Unknown, $"Publish to '{topic}' failed: the connection was lost.", _provider, "Disconnected", isTransient: true, innerException: ex);
        }
        finally
        {
            ExitPublish(acknowledged);
        }
        if (result.IsSuccess) return;
        if (result.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
            throw new IoTException(IoTErrorKind.Authorization, $"The broker refused publishing to '{topic}'.", _provider, result.ReasonCode.ToString());
        var transient = result.ReasonCode is MqttClientPublishReasonCode.QuotaExceeded or MqttClientPublishReasonCode.UnspecifiedError or MqttClientPublishReasonCode.ImplementationSpecificError;
        throw new IoTException(IoTErrorKind.Unknown, $"The broker rejected the publish to '{topic}': {result.ReasonCode}.", _provider, result.ReasonCode.ToString(), transient);
    }

    /// <summary>
    /// Admits a publish at once when nothing stands in the way (no renewal, room in the window, nobody waiting ahead);
    /// otherwise queues it behind the publishes already waiting. Returns the admission to complete once the publish was
    /// handed to MQTTnet (null on the fast path, where nothing queues behind it).
    /// </summary>
    private ValueTask<TaskCompletionSource?> EnterPublishAsync(bool acknowledged, CancellationToken cancellationToken)
    {
        lock (_stateLock)
        {
            if (_renewal is null && _admissionTail.IsCompleted && (!acknowledged || _qos1InFlight < _receiveMaximum))
            {
                Admit(acknowledged);
                return new ValueTask<TaskCompletionSource?>((TaskCompletionSource?)null);
            }
            var admission = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var previous = _admissionTail;
            _admissionTail = admission.Task;
            return WaitForAdmissionAsync(previous, admission, acknowledged, cancellationToken);
        }
    }

    private async ValueTask<TaskCompletionSource?> WaitForAdmissionAsync(Task previous, TaskCompletionSource admission, bool acknowledged, CancellationToken cancellationToken)
    {
        try
        {
            // Every admission completes (handed over, or given up below), so this never waits on a publish that gave up.
            await previous.WaitAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                Task wait;
                lock (_stateLock)
                {
                    if (_renewal is { } renewal)
                    {
                        wait = renewal.Ended.Task;
                    }
                    else if (acknowledged && _qos1InFlight >= _receiveMaximum)
                    {
                        wait = (_windowRoom ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                    }
                    else
                    {
                        Admit(acknowledged);
                        return admission;
                    }
                }
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            admission.TrySetResult();
            throw;
        }
    }

    // Under _stateLock.
    private void Admit(bool acknowledged)
    {
        _inFlight++;
        if (acknowledged) _qos1InFlight++;
    }

    private void ExitPublish(bool acknowledged)
    {
        TaskCompletionSource? room = null;
        lock (_stateLock)
        {
            if (--_inFlight == 0) _renewal?.Drained.TrySetResult();
            if (acknowledged && --_qos1InFlight < _receiveMaximum)
            {
                room = _windowRoom;
                _windowRoom = null;
            }
        }
        room?.TrySetResult();
    }

    /// <summary>Takes the broker's Receive Maximum from a new connection's CONNACK (0: none sent, so the protocol's 65,535).</summary>
    private void SetReceiveMaximum(ushort receiveMaximum)
    {
        TaskCompletionSource? room;
        lock (_stateLock)
        {
            _receiveMaximum = receiveMaximum == 0 ? ushort.MaxValue : receiveMaximum;
            room = _windowRoom;
            _windowRoom = null;
        }
        room?.TrySetResult();
    }

    /// <summary>The most QoS 1 publishes this client lets await their PUBACK at once: the broker's Receive Maximum.</summary>
    internal int ReceiveMaximum
    {
        get { lock (_stateLock) return _receiveMaximum; }
    }

    /// <summary>Test hook: whether a planned renewal is draining or reconnecting now.</summary>
    internal bool IsRenewing
    {
        get { lock (_stateLock) return _renewal is not null; }
    }

    private static void ValidateTopic(string topic)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        if (topic.AsSpan().IndexOfAny("#+\0") >= 0)
            throw new ArgumentException($"Topic '{ErrorText.Escape(topic, 128)}' must not contain '#', '+' or NUL.", nameof(topic));
        if (System.Text.Encoding.UTF8.GetByteCount(topic) > 65535)
            throw new ArgumentException("Topics are at most 65535 UTF-8 bytes.", nameof(topic));
    }
}
