using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Mqtt;

// Subscriptions: registered once and restored on every connect, and the dispatch loop that hands messages to their handlers.
internal sealed partial class MqttDeviceClient
{
    private readonly ConcurrentDictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Channel<MqttIncomingMessage> _inbox = Channel.CreateUnbounded<MqttIncomingMessage>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>
    /// Subscribes <paramref name="handler"/> to <paramref name="topicFilter"/>, now if connected and again after
    /// every reconnect. Handlers run one at a time, in arrival order, off the network loop; an exception
    /// from a handler is logged and does not stop delivery.
    /// </summary>
    /// <exception cref="ArgumentException">The filter is malformed or already subscribed.</exception>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.Authorization"/>: The broker refused the subscription.</exception>
    public async Task SubscribeAsync(string topicFilter, MqttMessageHandler handler, MqttQualityOfService qos = MqttQualityOfService.AtLeastOnce,
        CancellationToken cancellationToken = default)
    {
        ValidateFilter(topicFilter);
        ArgumentNullException.ThrowIfNull(handler);
        if (!Enum.IsDefined(qos)) throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS must be AtMostOnce or AtLeastOnce.");
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        var subscription = new Subscription(topicFilter, handler, qos);
        if (!_subscriptions.TryAdd(topicFilter, subscription))
            throw new ArgumentException($"'{topicFilter}' is already subscribed.", nameof(topicFilter));
        if (!_client.IsConnected) return;
        try
        {
            await SendSubscribeAsync([subscription], cancellationToken).ConfigureAwait(false);
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.Authorization)
        {
            _subscriptions.TryRemove(topicFilter, out _);
            throw;
        }
    }

    private async Task SendSubscribeAsync(IReadOnlyList<Subscription> subscriptions, CancellationToken cancellationToken)
    {
        if (subscriptions.Count == 0) return;
        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var s in subscriptions)
            builder.WithTopicFilter(s.Filter, (MqttQualityOfServiceLevel)s.Qos);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        timeout.CancelAfter(_options.OperationTimeout);
        MqttClientSubscribeResult result;
        try
        {
            result = await _client.SubscribeAsync(builder.Build(), timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new IoTException(IoTErrorKind.Unknown, "The broker did not acknowledge the subscription in time.", _provider, "SubscribeTimeout", isTransient: true, innerException: ex);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or MqttClientNotConnectedException or MqttClientDisconnectedException or IOException)
        {
            throw new IoTException(IoTErrorKind.Unknown, "Subscribing failed: the connection was lost.", _provider, "Disconnected", isTransient: true, innerException: ex);
        }
        foreach (var item in result.Items)
        {
            if (item.ResultCode is MqttClientSubscribeResultCode.GrantedQoS0 or MqttClientSubscribeResultCode.GrantedQoS1 or MqttClientSubscribeResultCode.GrantedQoS2)
                continue;
            throw new IoTException(IoTErrorKind.Authorization, $"The broker refused the subscription to '{item.TopicFilter.Topic}': {item.ResultCode}.", _provider, item.ResultCode.ToString());
        }
    }

    private Task OnMessageReceivedAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        _inbox.Writer.TryWrite(new MqttIncomingMessage(message.Topic, message.Payload.ToArray(), message.Retain));
        return Task.CompletedTask;
    }

    private async Task DispatchLoopAsync()
    {
        var token = _disposed.Token;
        try
        {
            await foreach (var message in _inbox.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                foreach (var subscription in _subscriptions.Values)
                {
                    if (MqttTopicFilterComparer.Compare(message.Topic, subscription.Filter) != MqttTopicFilterCompareResult.IsMatch) continue;
                    try
                    {
                        await subscription.Handler(message, token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        Log.SubscriptionHandlerFailed(_logger, ex, _options.ClientId, subscription.Filter);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private static void ValidateFilter(string filter)
    {
        ArgumentException.ThrowIfNullOrEmpty(filter);
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('\0', StringComparison.Ordinal)
                || (level.Contains('#', StringComparison.Ordinal) && (level != "#" || i != levels.Length - 1))
                || (level.Contains('+', StringComparison.Ordinal) && level != "+"))
                throw new ArgumentException($"Topic filter '{filter}' is malformed: '#' must be a whole last level and '+' a whole level.", nameof(filter));
        }
        if (System.Text.Encoding.UTF8.GetByteCount(filter) > 65535)
            throw new ArgumentException("Topic filters are at most 65535 UTF-8 bytes.", nameof(filter));
    }

    private sealed record Subscription(string Filter, MqttMessageHandler Handler, MqttQualityOfService Qos);
}
