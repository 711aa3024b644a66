using System.Text;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>Retry bounds and input checks, against a loopback server that injects faults.</summary>
public sealed class PubSubClientBehaviourTests
{
    private static PubSubMessage Text(string s, string? key = null) => new() { Data = Encoding.UTF8.GetBytes(s), OrderingKey = key };

    private static string Error(int code, string status) => $"{{\"error\":{{\"code\":{code},\"message\":\"injected\",\"status\":\"{status}\"}}}}";

    [Fact]
    public async Task Pull_retries_google_retryable_codes_within_five_attempts_and_then_fails_transient()
    {
        var calls = 0;
        await using var server = new LoopbackHttpServer(r => Interlocked.Increment(ref calls) <= 2
            ? new CannedResponse(503, Error(503, "UNAVAILABLE"))
            : new CannedResponse(200, "{\"receivedMessages\":[{\"ackId\":\"a1\",\"message\":{\"data\":\"aGk=\",\"messageId\":\"7\",\"publishTime\":\"2026-01-01T00:00:00Z\"}}]}"));
        using var http = new HttpClient();
        var client = new PubSubClient(http, "proj", server.BaseUrl, NoAuthenticator.Instance);
        var pulled = await client.PullAsync("sub-1", 10);
        Assert.Equal("7", Assert.Single(pulled).MessageId);
        Assert.Equal(3, calls);

        await using var down = new LoopbackHttpServer(_ => new CannedResponse(500, Error(500, "INTERNAL")));
        var failing = new PubSubClient(http, "proj", down.BaseUrl, NoAuthenticator.Instance);
        var ex = await Assert.ThrowsAsync<IoTException>(() => failing.PullAsync("sub-1", 10));
        Assert.True(ex.IsTransient);
        Assert.Equal(5, down.Requests.Count);
    }

    [Fact]
    public async Task Publish_is_sent_once_and_the_transport_classifies_by_google_publish_codes()
    {
        await using var server = new LoopbackHttpServer(r => r.Path.EndsWith(":publish", StringComparison.Ordinal) && r.Body.Contains("YmFk", StringComparison.Ordinal)
            ? new CannedResponse(400, Error(400, "INVALID_ARGUMENT"))
            : new CannedResponse(503, Error(503, "UNAVAILABLE")));
        using var http = new HttpClient();
        var client = new PubSubClient(http, "proj", server.BaseUrl, NoAuthenticator.Instance);
        var transport = new PubSubTelemetryTransport(client, "topic-1");
        var unavailable = await Assert.ThrowsAsync<IoTException>(() => client.PublishAsync("topic-1", [Text("x")]));
        Assert.Single(server.Requests);
        Assert.True(transport.IsTransient(unavailable));
        var invalid = await Assert.ThrowsAsync<IoTException>(() => client.PublishAsync("topic-1", [Text("bad")]));
        Assert.False(transport.IsTransient(invalid));
        Assert.Equal("INVALID_ARGUMENT", invalid.ErrorCode);
    }

    [Fact]
    public async Task Bad_requests_are_refused_before_any_call()
    {
        await using var server = new LoopbackHttpServer(_ => new CannedResponse(200));
        using var http = new HttpClient();
        var client = new PubSubClient(http, "proj", server.BaseUrl, NoAuthenticator.Instance);
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", Enumerable.Range(0, 1001).Select(i => Text("x")).ToArray()));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", [Text("a", "k1"), Text("b", "k2")]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", [new PubSubMessage()]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", []));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", [new PubSubMessage { Attributes = new Dictionary<string, string> { ["googkey"] = "v" } }]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", [new PubSubMessage { Attributes = Enumerable.Range(0, 101).ToDictionary(i => "k" + i, i => "v") }]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", [Text("x", new string('k', 1025))]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("topic-1", [new PubSubMessage { Data = new byte[7_600_000] }]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("ab", [Text("x")]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("goog-topic", [Text("x")]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.PullAsync("sub-1", 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.ModifyAckDeadlineAsync("sub-1", ["a"], 601));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.CreateSubscriptionAsync("sub-1", "topic-1", new PubSubSubscriptionSettings { AckDeadlineSeconds = 5 }));
        Assert.Throws<ArgumentException>(() => new PubSubClient(http, "bad/project", server.BaseUrl, NoAuthenticator.Instance));
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task A_vendor_token_goes_in_its_header_and_never_into_ToString()
    {
        await using var server = new LoopbackHttpServer(_ => new CannedResponse(200, "{}"));
        using var http = new HttpClient();
        var auth = new VendorTokenAuthenticator("ClearBlade-UserToken", _ => ValueTask.FromResult("s3cret-token"));
        var client = new PubSubClient(http, "proj", server.BaseUrl, auth);
        await client.PullAsync("sub-1", 1);
        Assert.Equal("s3cret-token", Assert.Single(server.Requests).Headers["clearblade-usertoken"]);
        Assert.DoesNotContain("s3cret", auth.ToString());
    }
}
