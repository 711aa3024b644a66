using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// Google Pub/Sub v1 over REST/JSON: topics, subscriptions, publish, pull, acknowledge and
/// modify-ack-deadline, with Google's per-RPC retryable status codes. Point <c>baseUrl</c> at
/// <c>https://pubsub.googleapis.com/</c> with <see cref="GoogleOAuthAuthenticator"/>, or at the emulator
/// (<c>http://127.0.0.1:PORT/</c>) with <see cref="NoAuthenticator"/>. Thread-safe.
/// </summary>
internal class PubSubClient
{
    /// <summary>For mocking: a subclass in a test overrides the members it uses; the others are not usable, and <see cref="ProjectId"/> is null.</summary>
    protected PubSubClient()
    {
        ProjectId = null!;
        _rest = null!;
    }

    /// <summary>The production endpoint.</summary>
    public static readonly Uri DefaultBaseUrl = new("https://pubsub.googleapis.com/");

    private readonly GoogleRestClient _rest;

    /// <summary>Creates a client for <paramref name="projectId"/>.</summary>
    /// <param name="httpClient">The HTTP client; its lifetime is the caller's.</param>
    /// <param name="projectId">The project that owns topics and subscriptions.</param>
    /// <param name="baseUrl">The service root; <see cref="DefaultBaseUrl"/> when <see langword="null"/>.</param>
    /// <param name="authenticator">Adds credentials; <see cref="NoAuthenticator"/> for the emulator.</param>
    /// <param name="timeProvider">The clock for retry backoff.</param>
    /// <param name="retry">The user's retry bounds for the RPCs that retry; <see langword="null"/> keeps Google's schedule.</param>
    public PubSubClient(HttpClient httpClient, string projectId, Uri? baseUrl, IGcpAuthenticator authenticator, TimeProvider? timeProvider = null, HttpRetryBounds? retry = null)
    {
        PubSubNames.ValidateProject(projectId);
        ProjectId = projectId;
        _rest = new GoogleRestClient(httpClient, baseUrl ?? DefaultBaseUrl, authenticator, timeProvider, retry);
    }

    /// <summary>The project id.</summary>
    public string ProjectId { get; }

    /// <summary>Creates a topic.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.AlreadyExists"/>: The topic exists.</exception>
    public virtual async Task CreateTopicAsync(string topicId, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(topicId, "Topic", nameof(topicId));
        await _rest.SendAsync("CreateTopic", HttpMethod.Put, PubSubNames.TopicUrl(ProjectId, topicId), new JsonObject(), GoogleRetryPolicy.PubSubUnavailableOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes a topic.</summary>
    public virtual async Task DeleteTopicAsync(string topicId, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(topicId, "Topic", nameof(topicId));
        await _rest.SendAsync("DeleteTopic", HttpMethod.Delete, PubSubNames.TopicUrl(ProjectId, topicId), null, GoogleRetryPolicy.PubSubUnavailableOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether a topic exists.</summary>
    public virtual async Task<bool> TopicExistsAsync(string topicId, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(topicId, "Topic", nameof(topicId));
        try
        {
            await _rest.SendAsync("GetTopic", HttpMethod.Get, PubSubNames.TopicUrl(ProjectId, topicId), null, GoogleRetryPolicy.PubSubAdminRead, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (IoTException ex) when (ex.IsNotFound)
        {
            return false;
        }
    }

    /// <summary>Creates a subscription to a topic of this project.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.AlreadyExists"/>: The subscription exists.</exception>
    public virtual async Task CreateSubscriptionAsync(string subscriptionId, string topicId, PubSubSubscriptionSettings? settings = null, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(subscriptionId, "Subscription", nameof(subscriptionId));
        PubSubNames.ValidateResourceId(topicId, "Topic", nameof(topicId));
        settings ??= new PubSubSubscriptionSettings();
        if (settings.AckDeadlineSeconds is < 10 or > 600)
            throw new ArgumentOutOfRangeException(nameof(settings), settings.AckDeadlineSeconds, "AckDeadlineSeconds must be between 10 and 600.");
        var body = new JsonObject
        {
            ["topic"] = PubSubNames.Topic(ProjectId, topicId),
            ["ackDeadlineSeconds"] = settings.AckDeadlineSeconds,
        };
        if (settings.EnableMessageOrdering) body["enableMessageOrdering"] = true;
        await _rest.SendAsync("CreateSubscription", HttpMethod.Put, PubSubNames.SubscriptionUrl(ProjectId, subscriptionId), body, GoogleRetryPolicy.PubSubUnavailableOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes a subscription.</summary>
    public virtual async Task DeleteSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(subscriptionId, "Subscription", nameof(subscriptionId));
        await _rest.SendAsync("DeleteSubscription", HttpMethod.Delete, PubSubNames.SubscriptionUrl(ProjectId, subscriptionId), null, GoogleRetryPolicy.PubSubUnavailableOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Publishes up to 1000 messages (≤ 10 MB request) in one request and returns their ids in order.
    /// Sent once: Pub/Sub publish is not idempotent, so retrying is the caller's choice (the telemetry
    /// transport retries with a content id subscribers use to drop duplicates).
    /// </summary>
    /// <exception cref="ArgumentException">A message or the request breaks a limit, or the messages have different ordering keys.</exception>
    public virtual async Task<IReadOnlyList<string>> PublishAsync(string topicId, IReadOnlyList<PubSubMessage> messages, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(topicId, "Topic", nameof(topicId));
        var body = PubSubWire.BuildPublishRequest(messages);
        return await PublishRawAsync(topicId, body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes a request body already built and validated (the telemetry encoder's output).</summary>
    internal async Task<IReadOnlyList<string>> PublishRawAsync(string topicId, JsonNode body, CancellationToken cancellationToken)
    {
        var response = await _rest.SendAsync("Publish", HttpMethod.Post, PubSubNames.TopicUrl(ProjectId, topicId) + ":publish", body, GoogleRetryPolicy.None, cancellationToken).ConfigureAwait(false);
        return response?["messageIds"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? [];
    }

    /// <summary>Publishes a UTF-8 request body the caller built under the same rules (the telemetry encoder's output). Sent once.</summary>
    internal async Task<IReadOnlyList<string>> PublishRawAsync(string topicId, ReadOnlyMemory<byte> utf8Body, CancellationToken cancellationToken)
    {
        var response = await _rest.SendRawAsync("Publish", HttpMethod.Post, PubSubNames.TopicUrl(ProjectId, topicId) + ":publish", utf8Body, GoogleRetryPolicy.None, cancellationToken).ConfigureAwait(false);
        return response?["messageIds"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? [];
    }

    /// <summary>Pulls up to <paramref name="maxMessages"/> messages; may return none.</summary>
    public virtual async Task<IReadOnlyList<ReceivedPubSubMessage>> PullAsync(string subscriptionId, int maxMessages, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(subscriptionId, "Subscription", nameof(subscriptionId));
        if (maxMessages is < 1 or > PubSubLimits.MaxPullMessages)
            throw new ArgumentOutOfRangeException(nameof(maxMessages), maxMessages, "maxMessages must be between 1 and 1000.");
        var response = await _rest.SendAsync("Pull", HttpMethod.Post, PubSubNames.SubscriptionUrl(ProjectId, subscriptionId) + ":pull",
            new JsonObject { ["maxMessages"] = maxMessages }, GoogleRetryPolicy.PubSubPull, cancellationToken).ConfigureAwait(false);
        return PubSubWire.ParsePullResponse(response);
    }

    /// <summary>Acknowledges messages so they are not redelivered.</summary>
    public virtual async Task AcknowledgeAsync(string subscriptionId, IReadOnlyCollection<string> ackIds, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(subscriptionId, "Subscription", nameof(subscriptionId));
        var ids = ValidateAckIds(ackIds);
        if (ids.Count == 0) return;
        await _rest.SendAsync("Acknowledge", HttpMethod.Post, PubSubNames.SubscriptionUrl(ProjectId, subscriptionId) + ":acknowledge",
            new JsonObject { ["ackIds"] = ids }, GoogleRetryPolicy.PubSubUnavailableOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets the ack deadline of messages; 0 nacks them (immediate redelivery).</summary>
    public virtual async Task ModifyAckDeadlineAsync(string subscriptionId, IReadOnlyCollection<string> ackIds, int ackDeadlineSeconds, CancellationToken cancellationToken = default)
    {
        PubSubNames.ValidateResourceId(subscriptionId, "Subscription", nameof(subscriptionId));
        if (ackDeadlineSeconds is < 0 or > 600)
            throw new ArgumentOutOfRangeException(nameof(ackDeadlineSeconds), ackDeadlineSeconds, "ackDeadlineSeconds must be between 0 and 600.");
        var ids = ValidateAckIds(ackIds);
        if (ids.Count == 0) return;
        await _rest.SendAsync("ModifyAckDeadline", HttpMethod.Post, PubSubNames.SubscriptionUrl(ProjectId, subscriptionId) + ":modifyAckDeadline",
            new JsonObject { ["ackIds"] = ids, ["ackDeadlineSeconds"] = ackDeadlineSeconds }, GoogleRetryPolicy.PubSubUnavailableOnly, cancellationToken).ConfigureAwait(false);
    }

    private static JsonArray ValidateAckIds(IReadOnlyCollection<string> ackIds)
    {
        ArgumentNullException.ThrowIfNull(ackIds);
        var array = new JsonArray();
        foreach (var id in ackIds)
        {
            if (string.IsNullOrEmpty(id)) throw new ArgumentException("Ack ids must not be empty.", nameof(ackIds));
            array.Add(id);
        }
        return array;
    }
}

/// <summary>Builds and parses Pub/Sub JSON bodies, enforcing the request rules before sending.</summary>
internal static class PubSubWire
{
    internal static JsonObject BuildPublishRequest(IReadOnlyList<PubSubMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) throw new ArgumentException("A publish request needs at least one message.", nameof(messages));
        if (messages.Count > PubSubLimits.MaxMessagesPerRequest)
            throw new ArgumentException($"A publish request holds at most {PubSubLimits.MaxMessagesPerRequest} messages; got {messages.Count}.", nameof(messages));
        string? key = messages[0]?.OrderingKey ?? "";
        var array = new JsonArray();
        foreach (var message in messages)
        {
            ArgumentNullException.ThrowIfNull(message, nameof(messages));
            ValidateMessage(message);
            if ((message.OrderingKey ?? "") != key)
                throw new ArgumentException("All messages in one publish request must have the same ordering key.", nameof(messages));
            var item = new JsonObject();
            if (!message.Data.IsEmpty) item["data"] = Convert.ToBase64String(message.Data.Span);
            if (message.Attributes.Count > 0)
            {
                var attributes = new JsonObject();
                foreach (var (k, v) in message.Attributes) attributes[k] = v;
                item["attributes"] = attributes;
            }
            if (!string.IsNullOrEmpty(message.OrderingKey)) item["orderingKey"] = message.OrderingKey;
            array.Add(item);
        }
        var body = new JsonObject { ["messages"] = array };
        var size = Encoding.UTF8.GetByteCount(body.ToJsonString());
        if (size > PubSubLimits.MaxRequestBytes)
            throw new ArgumentException($"A publish request is at most {PubSubLimits.MaxRequestBytes} bytes; this one is {size}.", nameof(messages));
        return body;
    }

    internal static void ValidateMessage(PubSubMessage message)
    {
        if (message.Data.IsEmpty && message.Attributes.Count == 0)
            throw new ArgumentException("A Pub/Sub message needs data or at least one attribute.", nameof(message));
        if (message.Attributes.Count > PubSubLimits.MaxAttributes)
            throw new ArgumentException($"A Pub/Sub message has at most {PubSubLimits.MaxAttributes} attributes; got {message.Attributes.Count}.", nameof(message));
        foreach (var (k, v) in message.Attributes)
        {
            if (string.IsNullOrEmpty(k) || Encoding.UTF8.GetByteCount(k) > PubSubLimits.MaxAttributeKeyBytes || k.StartsWith("goog", StringComparison.Ordinal))
                throw new ArgumentException($"Attribute keys must be 1-{PubSubLimits.MaxAttributeKeyBytes} bytes and not start with 'goog'.", nameof(message));
            if (v is null || Encoding.UTF8.GetByteCount(v) > PubSubLimits.MaxAttributeValueBytes)
                throw new ArgumentException($"Attribute '{k}' must have a value of at most {PubSubLimits.MaxAttributeValueBytes} bytes.", nameof(message));
        }
        if (message.OrderingKey is { } key && Encoding.UTF8.GetByteCount(key) > PubSubLimits.MaxOrderingKeyBytes)
            throw new ArgumentException($"Ordering keys are at most {PubSubLimits.MaxOrderingKeyBytes} bytes.", nameof(message));
    }

    /// <summary>The messages of a <c>pull</c> answer.</summary>
    /// <exception cref="IoTException"><c>INVALID_RESPONSE</c>: a field has the wrong type or <c>data</c> is not base64.</exception>
    internal static IReadOnlyList<ReceivedPubSubMessage> ParsePullResponse(JsonNode? response)
    {
        try
        {
            return ParsePullResponseCore(response);
        }
        // Wrong-typed fields (InvalidOperationException, FormatException), bad base64 (FormatException), lazy duplicate keys (ArgumentException) used to escape as is.
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new IoTException(IoTErrorKind.Unknown, "Pub/Sub pull failed: the response is malformed: " + ex.Message, GoogleApiErrors.Provider, "INVALID_RESPONSE", isTransient: false, innerException: ex);
        }
    }

    private static IReadOnlyList<ReceivedPubSubMessage> ParsePullResponseCore(JsonNode? response)
    {
        // The service may answer {} when there is nothing to deliver.
        if (response?["receivedMessages"] is not JsonArray received) return [];
        var list = new List<ReceivedPubSubMessage>(received.Count);
        foreach (var node in received)
        {
            var message = node?["message"];
            if (node?["ackId"]?.GetValue<string>() is not { } ackId || message is null) continue;
            var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
            if (message["attributes"] is JsonObject attrs)
                foreach (var (k, v) in attrs) attributes[k] = v?.GetValue<string>() ?? "";
            list.Add(new ReceivedPubSubMessage
            {
                AckId = ackId,
                MessageId = message["messageId"]?.GetValue<string>() ?? "",
                Data = message["data"]?.GetValue<string>() is { Length: > 0 } data ? Convert.FromBase64String(data) : ReadOnlyMemory<byte>.Empty,
                Attributes = attributes,
                OrderingKey = message["orderingKey"]?.GetValue<string>() is { Length: > 0 } key ? key : null,
                PublishTime = message["publishTime"]?.GetValue<string>() is { } t && DateTimeOffset.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var pt) ? pt : null,
                DeliveryAttempt = node["deliveryAttempt"]?.GetValue<int>() ?? 0,
            });
        }
        return list;
    }
}
