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

    /// <summary>
    /// Publishes a message. For QoS 1 it completes when the broker acknowledged it. While a credential renewal closes the
    /// connection, the publish waits for the new connection; waiting and acknowledgement together take at most
    /// <see cref="MqttDeviceClientOptions.OperationTimeout"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The topic is empty, too long or contains wildcards.</exception>
    /// <exception cref="IoTException">Not connected or no acknowledgement in time (transient), or the broker rejected the message.</exception>
    /// <exception cref="IoTAuthorizationException">The broker refused the topic (MQTT 5 only; MQTT 3.1.1 brokers drop silently).</exception>
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
        try
        {
            await EnterPublishAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            // Nothing was sent, so the caller may safely send it again.
            throw new IoTException($"Publish to '{topic}' waited {_options.OperationTimeout.TotalSeconds:0.###} s for the credential renewal to reconnect.", _provider, "NotConnected", isTransient: true, innerException: ex);
        }
        MqttClientPublishResult result;
        try
        {
            if (!_client.IsConnected) throw NotConnected();
            result = await _client.PublishAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new IoTException($"Publish to '{topic}' was not acknowledged within {_options.OperationTimeout.TotalSeconds:0.###} s.", _provider, "PublishTimeout", isTransient: true, innerException: ex);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or MqttClientNotConnectedException or MqttClientDisconnectedException or ObjectDisposedException or IOException)
        {
            throw new IoTException($"Publish to '{topic}' failed: the connection was lost.", _provider, "Disconnected", isTransient: true, innerException: ex);
        }
        finally
        {
            ExitPublish();
        }
        if (result.IsSuccess) return;
        if (result.ReasonCode == MqttClientPublishReasonCode.NotAuthorized)
            throw new IoTAuthorizationException($"The broker refused publishing to '{topic}'.", _provider, result.ReasonCode.ToString());
        var transient = result.ReasonCode is MqttClientPublishReasonCode.QuotaExceeded or MqttClientPublishReasonCode.UnspecifiedError or MqttClientPublishReasonCode.ImplementationSpecificError;
        throw new IoTException($"The broker rejected the publish to '{topic}': {result.ReasonCode}.", _provider, result.ReasonCode.ToString(), transient);
    }

    /// <summary>Admits a publish, after the planned renewal in progress (if any) reconnected.</summary>
    private async ValueTask EnterPublishAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task renewalEnded;
            lock (_stateLock)
            {
                if (_renewal is not { } renewal)
                {
                    _inFlight++;
                    return;
                }
                renewalEnded = renewal.Ended.Task;
            }
            await renewalEnded.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void ExitPublish()
    {
        lock (_stateLock)
        {
            if (--_inFlight == 0) _renewal?.Drained.TrySetResult();
        }
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
