using System.Globalization;

namespace IoTMastery.Sdk.Aws;

/// <summary>The AWS IoT data-plane operations (service "iotdata"): device shadows and HTTP publish.</summary>
internal sealed class IotDataPlane(AwsHttpClient http)
{
    private static List<KeyValuePair<string, string>> ShadowQuery(string? shadowName) =>
        shadowName is null ? [] : [new("name", shadowName)];

    /// <summary>GetThingShadow: GET /things/{thingName}/shadow?name=; the body is the shadow document.</summary>
    public async Task<byte[]> GetThingShadowAsync(string thingName, string? shadowName, CancellationToken ct) =>
        (await http.SendAsync(new AwsRequest(HttpMethod.Get, $"/things/{IotControlPlane.Label(thingName)}/shadow", "GetThingShadow")
        { Query = ShadowQuery(shadowName), Idempotent = true }, ct).ConfigureAwait(false)).Body;

    /// <summary>
    /// UpdateThingShadow: POST /things/{thingName}/shadow?name= with the raw document as the body.
    /// Retried only when the document carries a version (a replay then fails with 409 instead of applying twice).
    /// </summary>
    public async Task<byte[]> UpdateThingShadowAsync(string thingName, string? shadowName, byte[] document, bool versioned, CancellationToken ct) =>
        (await http.SendAsync(new AwsRequest(HttpMethod.Post, $"/things/{IotControlPlane.Label(thingName)}/shadow", "UpdateThingShadow")
        { Query = ShadowQuery(shadowName), Body = document, ContentType = "application/octet-stream", Idempotent = versioned }, ct).ConfigureAwait(false)).Body;

    /// <summary>DeleteThingShadow: DELETE /things/{thingName}/shadow?name=.</summary>
    public async Task<byte[]> DeleteThingShadowAsync(string thingName, string? shadowName, CancellationToken ct) =>
        (await http.SendAsync(new AwsRequest(HttpMethod.Delete, $"/things/{IotControlPlane.Label(thingName)}/shadow", "DeleteThingShadow")
        { Query = ShadowQuery(shadowName), Idempotent = true }, ct).ConfigureAwait(false)).Body;

    /// <summary>Publish: POST /topics/{topic}?qos=&amp;retain= with the raw payload; never retried (no dedup on the service).</summary>
    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, int qos, bool retain, CancellationToken ct)
    {
        var query = new List<KeyValuePair<string, string>> { new("qos", qos.ToString(CultureInfo.InvariantCulture)) };
        if (retain) query.Add(new("retain", "true"));
        return http.SendAsync(new AwsRequest(HttpMethod.Post, $"/topics/{IotControlPlane.Label(topic)}", "Publish")
        { Query = query, Body = payload.ToArray(), ContentType = "application/octet-stream" }, ct);
    }
}
