using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// A <see cref="TelemetryPipeline"/> transport that publishes batches to a Pub/Sub topic: at most 1000
/// messages and 10 MB per request (the batch is the request body, see <see cref="PubSubTelemetryEncoder"/>).
/// With ordering by device, a batch holding several devices is split into one request per device
/// (each keeping its order, sent concurrently), because Pub/Sub requires one ordering key per request. Faults are transient for
/// Google's Publish retry codes; the pipeline retries them within its bounds.
/// </summary>
internal sealed class PubSubTelemetryTransport : ITelemetryTransport
{
    private readonly PubSubClient _client;
    private readonly string _topicId;
    private readonly bool _orderByDevice;

    /// <summary>Creates the transport.</summary>
    /// <param name="client">The Pub/Sub client.</param>
    /// <param name="topicId">The telemetry topic.</param>
    /// <param name="orderByDevice">Send the device id as ordering key (subscriptions need message ordering enabled).</param>
    public PubSubTelemetryTransport(PubSubClient client, string topicId, bool orderByDevice = false)
    {
        ArgumentNullException.ThrowIfNull(client);
        PubSubNames.ValidateResourceId(topicId, "Topic", nameof(topicId));
        _client = client;
        _topicId = topicId;
        _orderByDevice = orderByDevice;
        Encoder = new PubSubTelemetryEncoder(orderByDevice);
    }

    /// <inheritdoc />
    public string Provider => "Gcp";

    /// <summary>The encoder the pipeline must use with this transport (set as <see cref="TelemetryPipelineOptions.Encoder"/>).</summary>
    public ITelemetryEncoder Encoder { get; }

    /// <inheritdoc />
    public TelemetryTransportLimits Limits { get; } = new()
    {
        MaxMessageBytes = PubSubLimits.MaxRequestBytes,
        MaxRecordsPerMessage = PubSubLimits.MaxMessagesPerRequest,
    };

    /// <summary>Creates a pipeline wired to this transport and its encoder.</summary>
    public TelemetryPipeline CreatePipeline(TelemetryPipelineOptions? options = null, TimeProvider? timeProvider = null, Microsoft.Extensions.Logging.ILogger? logger = null) =>
        new(this, (options ?? new TelemetryPipelineOptions()) with { Encoder = Encoder }, timeProvider, logger);

    /// <inheritdoc />
    public async ValueTask SendAsync(TelemetryBatch batch, CancellationToken cancellationToken)
    {
        if (!_orderByDevice)
        {
            await _client.PublishRawAsync(_topicId, batch.Payload, cancellationToken).ConfigureAwait(false);
            return;
        }
        // Group by key, keeping each key's order; keys are independent, so their requests go out together.
        var messages = JsonNode.Parse(batch.Payload.Span)!["messages"]!.AsArray();
        var groups = new Dictionary<string, JsonArray>(StringComparer.Ordinal);
        foreach (var message in messages.ToArray())
        {
            var key = message!["orderingKey"]?.GetValue<string>() ?? "";
            messages.Remove(message);
            if (!groups.TryGetValue(key, out var group)) groups[key] = group = new JsonArray();
            group.Add(message);
        }
        await Task.WhenAll(groups.Values.Select(g => SendRunAsync(g, cancellationToken))).ConfigureAwait(false);
    }

    private Task<IReadOnlyList<string>> SendRunAsync(JsonArray run, CancellationToken cancellationToken) =>
        _client.PublishRawAsync(_topicId, System.Text.Encoding.UTF8.GetBytes(new JsonObject { ["messages"] = run }.ToJsonString()), cancellationToken);

    /// <inheritdoc />
    public bool IsTransient(Exception exception) =>
        exception is IoTException { ErrorCode: { } code } && GoogleRetryPolicy.PubSubPublish.RetryableCodes.Contains(code);
}
