using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Gcp.Tests.Faults;

/// <summary>
/// The Pub/Sub client behind a fault-injecting proxy in front of the real emulator: GetTopic (retried per Google's
/// admin-read config, at most 5 attempts) ends in success or a typed error within the budget; Publish (sent once,
/// no dedup) is never forwarded twice.
/// </summary>
[Collection(PubSubEmulatorCollection.Name)]
public sealed class PubSubHttpFaultTests(PubSubEmulator emulator, ITestOutputHelper output) : IAsyncLifetime
{
    private const int MaxAttempts = 5; // GoogleRetryPolicy.PubSubAdminRead
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(1);
    // 5 attempts, backoff 0.1 s ×1.3 (≈0.6 s in all), or 4 Retry-After waits of 1 s, plus slack for two busy cores.
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(8);
    private readonly string _topic = "faults-" + Guid.NewGuid().ToString("N")[..8];
    private FaultProxy _proxy = null!;
    private HttpClient _http = null!;
    private PubSubClient _client = null!;

    public async Task InitializeAsync()
    {
        await emulator.CreateClient().CreateTopicAsync(_topic);
        _proxy = FaultProxy.Start(emulator.BaseUrl);
        _http = new HttpClient { Timeout = RequestTimeout };
        _client = new PubSubClient(_http, emulator.ProjectId, _proxy.BaseUri, NoAuthenticator.Instance);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _proxy.DisposeAsync();
    }

    public static TheoryData<HttpFault> Faults => [.. Enum.GetValues<HttpFault>().Where(f => f != HttpFault.Pass)];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task GetTopic_after_one_fault_ends_in_success_or_a_typed_error_within_the_budget(HttpFault fault)
    {
        _proxy.Targets = IsGetTopic;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(async () => Assert.True(await _client.TopicExistsAsync(_topic)), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"Pub/Sub GetTopic, one {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        Assert.InRange(_proxy.Matching.Count, 1, MaxAttempts);
        // UNAVAILABLE (503, reset, truncated body) is retryable for admin reads, so one such fault is absorbed.
        if (fault is HttpFault.Unavailable or HttpFault.Reset or HttpFault.Truncated) Assert.Null(outcome.Error);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task GetTopic_under_a_persistent_fault_gives_up_with_a_typed_error_after_bounded_attempts(HttpFault fault)
    {
        _proxy.Targets = IsGetTopic;
        _proxy.Default = fault;
        var outcome = await FaultCall.RunAsync(() => _client.TopicExistsAsync(_topic), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"Pub/Sub GetTopic, always {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        Assert.NotNull(outcome.Error);
        Assert.InRange(_proxy.Matching.Count, 1, MaxAttempts);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Publish_is_never_forwarded_twice(HttpFault fault)
    {
        _proxy.Targets = IsPublish;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _client.PublishAsync(_topic, [new PubSubMessage { Data = "{\"t\":1}"u8.ToArray() }]), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"Pub/Sub Publish, one {fault}: {outcome.Describe()}; forwarded {_proxy.Matching.Count(r => r.Forwarded)}, seen {_proxy.Matching.Count}");
        AssertTypedWithinBudget(outcome);
        // Sent once: the emulator may already hold the message when the answer is lost.
        Assert.Single(_proxy.Matching);
        Assert.IsAssignableFrom<IoTException>(outcome.Error);
    }

    [Theory]
    [InlineData(HttpFault.Unavailable)]
    [InlineData(HttpFault.Reset)]
    public async Task Each_retry_of_GetTopic_is_counted_in_the_sdk_meter(HttpFault fault)
    {
        using var retries = new HttpRetryCounter();
        _proxy.Targets = IsGetTopic;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(async () => Assert.True(await _client.TopicExistsAsync(_topic)), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"Pub/Sub GetTopic, one {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s); {retries.For("Gcp")} retries counted");
        Assert.Null(outcome.Error);
        Assert.Equal(2, _proxy.Matching.Count);
        // Other test classes may retry at the same time, so at least this call's one retry.
        Assert.True(retries.For("Gcp") >= 1, "the retry was not counted");
    }

    [Fact]
    public async Task An_rpc_deadline_that_runs_out_is_a_typed_deadline_exceeded()
    {
        _proxy.Default = HttpFault.Timeout;
        var rest = new GoogleRestClient(_http, _proxy.BaseUri, NoAuthenticator.Instance);
        // A total deadline shorter than the HTTP timeout: Polly's timeout fires first and must not escape as TimeoutRejectedException.
        var policy = GoogleRetryPolicy.PubSubAdminRead with { Name = "short-deadline", Timeout = TimeSpan.FromMilliseconds(300) };
        var outcome = await FaultCall.RunAsync(() => rest.SendAsync("GetTopic", HttpMethod.Get, $"v1/projects/{emulator.ProjectId}/topics/{_topic}", null, policy, default),
            TimeSpan.FromSeconds(10));
        output.WriteLine($"Pub/Sub GetTopic, deadline 300 ms, always Timeout: {outcome.Describe()} in {outcome.Elapsed.TotalMilliseconds:0} ms");
        var error = Assert.IsAssignableFrom<IoTException>(outcome.Error);
        Assert.Equal("DEADLINE_EXCEEDED", error.ErrorCode);
        Assert.True(error.IsTransient);
        Assert.True(outcome.Elapsed < TimeSpan.FromSeconds(3), $"took {outcome.Elapsed}");
    }

    private bool IsGetTopic(string method, string path) => method == "GET" && path.EndsWith("/topics/" + _topic, StringComparison.Ordinal);

    private bool IsPublish(string method, string path) => method == "POST" && path.EndsWith("/topics/" + _topic + ":publish", StringComparison.Ordinal);

    private static void AssertTypedWithinBudget(FaultOutcome outcome)
    {
        Assert.True(outcome.Error is null or IoTException, outcome.Describe());
        Assert.True(outcome.Elapsed < Budget, $"took {outcome.Elapsed}");
    }
}
