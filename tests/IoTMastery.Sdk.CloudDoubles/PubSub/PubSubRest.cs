using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.CloudDoubles.PubSub;

/// <summary>
/// The few Pub/Sub REST v1 calls the doubles and samples need against the emulator: create a topic and a subscription,
/// and publish as the vendor bridge does. Written here, not taken from the SDK, so a peer never runs the client under test
/// (and the SDK's Pub/Sub client stays internal). No credentials: the emulator takes none.
/// </summary>
public sealed class PubSubRest(HttpClient http, Uri baseUrl, string projectId)
{
    /// <summary>The project that owns the topics and subscriptions.</summary>
    public string ProjectId { get; } = projectId;

    /// <summary>Creates a topic (<c>PUT v1/projects/{p}/topics/{t}</c>).</summary>
    public Task CreateTopicAsync(string topicId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Put, $"v1/projects/{ProjectId}/topics/{Uri.EscapeDataString(topicId)}", new JsonObject(), cancellationToken);

    /// <summary>Creates a subscription to a topic of this project with the given ack deadline.</summary>
    public Task CreateSubscriptionAsync(string subscriptionId, string topicId, int ackDeadlineSeconds = 10, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Put, $"v1/projects/{ProjectId}/subscriptions/{Uri.EscapeDataString(subscriptionId)}",
            new JsonObject { ["topic"] = $"projects/{ProjectId}/topics/{topicId}", ["ackDeadlineSeconds"] = ackDeadlineSeconds }, cancellationToken);

    /// <summary>Publishes one message with <paramref name="data"/> and <paramref name="attributes"/>.</summary>
    public Task PublishAsync(string topicId, ReadOnlyMemory<byte> data, IReadOnlyDictionary<string, string> attributes, CancellationToken cancellationToken = default)
    {
        var message = new JsonObject();
        if (!data.IsEmpty) message["data"] = Convert.ToBase64String(data.Span);
        var attrs = new JsonObject();
        foreach (var (k, v) in attributes) attrs[k] = v;
        message["attributes"] = attrs;
        return SendAsync(HttpMethod.Post, $"v1/projects/{ProjectId}/topics/{Uri.EscapeDataString(topicId)}:publish",
            new JsonObject { ["messages"] = new JsonArray(message) }, cancellationToken);
    }

    private async Task SendAsync(HttpMethod method, string path, JsonObject body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(baseUrl, path)) { Content = JsonContent.Create(body) };
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"Pub/Sub {method} {path} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}",
                null, response.StatusCode);
    }
}
