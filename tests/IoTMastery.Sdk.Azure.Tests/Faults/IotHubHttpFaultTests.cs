using IoTMastery.Sdk.Azure.Tests.Double;
using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Azure.Tests.Faults;

/// <summary>
/// The Azure provider behind a fault-injecting proxy (plain HTTP toward the provider, HTTPS to the IoT Hub double):
/// reads end in success or a typed error within the budget after at most 1 + MaxRetries attempts; device creation
/// is repeated only when the hub certainly did not process it (429, 503) and is never forwarded twice.
/// </summary>
public sealed class IotHubHttpFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int MaxRetries = 2;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(1);
    // 3 attempts × 1 s timeout + 2 Retry-After waits of 1 s + slack for two busy cores.
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(8);
    private IotHubDouble _hub = null!;
    private FaultProxy _proxy = null!;
    private AzureIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        _hub = await IotHubDouble.StartAsync();
        // Set up directly against the double, so a cold start (JIT, first TLS handshake) cannot hit the 1 s test timeout.
        await using (var direct = IotHubDoubleProviders.Create(_hub))
            await direct.Registry.RegisterAsync(new DeviceRegistration { Id = "fault-dev" });
        _proxy = FaultProxy.Start(new Uri($"https://localhost:{_hub.HttpsPort}/"), IotHubDoubleProviders.TrustingHandler(_hub.CaCertificate));
        _provider = IotHubDoubleProviders.Create(_hub, o =>
        {
            o.ServiceEndpoint = _proxy.BaseUri;
            o.Transport.HttpHandler = new SocketsHttpHandler();
            // MaxDelay 2 s: the proxy's Retry-After of 1 s must fit it to be waited out; the jittered backoff from 10 ms never reaches it.
            o.Transport.MaxRetries = MaxRetries;
            o.Transport.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            o.Transport.RetryMaxDelay = TimeSpan.FromSeconds(2);
            o.Transport.RequestTimeout = RequestTimeout;
        });
        // Warm the proxy's pooled TLS connection to the double with a generous timeout (an unauthenticated call is enough).
        using (var warm = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
            (await warm.GetAsync(new Uri(_proxy.BaseUri, "devices/fault-dev?api-version=2021-04-12"))).Dispose();
        _proxy.Reset();
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _proxy.DisposeAsync();
        await _hub.DisposeAsync();
    }

    public static TheoryData<HttpFault> Faults => [.. Enum.GetValues<HttpFault>().Where(f => f != HttpFault.Pass)];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_device_read_after_one_fault_ends_in_success_or_a_typed_error_within_the_budget(HttpFault fault)
    {
        _proxy.Targets = IsGetDevice;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"IoT Hub GET device, one {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        Assert.InRange(_proxy.Matching.Count, 1, MaxRetries + 1);
        if (fault is not HttpFault.MalformedJson) Assert.Null(outcome.Error);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_device_read_under_a_persistent_fault_gives_up_with_a_typed_error_after_bounded_attempts(HttpFault fault)
    {
        _proxy.Targets = IsGetDevice;
        _proxy.Default = fault;
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"IoT Hub GET device, always {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        Assert.NotNull(outcome.Error);
        Assert.InRange(_proxy.Matching.Count, 1, MaxRetries + 1);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Device_creation_is_never_forwarded_twice(HttpFault fault)
    {
        _proxy.Targets = IsCreateDevice;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "new-dev" }), Budget + TimeSpan.FromSeconds(5));
        var forwarded = _proxy.Matching.Count(r => r.Forwarded);
        output.WriteLine($"IoT Hub PUT device (create), one {fault}: {outcome.Describe()}; forwarded {forwarded}, seen {_proxy.Matching.Count}");
        AssertTypedWithinBudget(outcome);
        Assert.True(forwarded <= 1, $"forwarded {forwarded} times");
        Assert.InRange(_proxy.Matching.Count, 1, MaxRetries + 1);
        if (fault is HttpFault.Reset or HttpFault.Timeout or HttpFault.Truncated or HttpFault.ServerError) Assert.IsAssignableFrom<IoTException>(outcome.Error);
        // 429 and 503 mean "not processed": the one retry is safe and succeeds.
        if (fault is HttpFault.Throttle or HttpFault.ThrottleRetryAfter or HttpFault.Unavailable) Assert.Null(outcome.Error);
    }

    [Theory]
    [InlineData(HttpFault.Throttle)]
    [InlineData(HttpFault.Unavailable)]
    [InlineData(HttpFault.Reset)]
    public async Task Each_retry_of_a_read_is_counted_in_the_sdk_meter(HttpFault fault)
    {
        using var retries = new HttpRetryCounter();
        _proxy.Targets = IsGetDevice;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"IoT Hub GET device, one {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s); {retries.For("Azure")} retries counted");
        Assert.Null(outcome.Error);
        // Other test classes may retry at the same time, so at least the retries this proxy saw.
        Assert.True(retries.For("Azure") >= _proxy.Matching.Count - 1 && retries.For("Azure") >= 1, $"{retries.For("Azure")} retries counted");
    }

    [Theory]
    [InlineData(HttpFault.Reset)]
    [InlineData(HttpFault.ServerError)]
    public async Task Device_creation_that_may_have_reached_the_hub_is_not_retried_nor_counted(HttpFault fault)
    {
        using var retries = new HttpRetryCounter();
        _proxy.Targets = IsCreateDevice;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "new-dev" }), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"IoT Hub PUT device (create), one {fault}: {outcome.Describe()}; seen {_proxy.Matching.Count}");
        Assert.IsAssignableFrom<IoTException>(outcome.Error);
        Assert.Single(_proxy.Matching);
    }

    // Registry.GetAsync reads the twin (and the device identity where needed); each read is its own bounded call.
    [Fact]
    public async Task A_Retry_After_of_a_day_ends_the_read_at_once_with_the_hubs_throttling_error()
    {
        // The hub itself (the double, behind the proxy) answers 429 with Retry-After: 86400, a day past MaxDelay (2 s).
        _hub.FaultRetryAfterSeconds = 86_400;
        _hub.InjectedFaults.Enqueue((429, """{"Message":"ErrorCode:ThrottlingException;throttled","ExceptionMessage":""}"""));
        _proxy.Targets = IsGetDevice;
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"IoT Hub GET device, 429 + Retry-After 86400: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        var throttled = IoTAssert.Is(IoTErrorKind.Throttled, outcome.Error);
        Assert.True(throttled.IsTransient);
        Assert.Equal(TimeSpan.FromDays(1), throttled.RetryAfter);
        Assert.Single(_proxy.Matching);
    }

    private static bool IsGetDevice(string method, string path) => method == "GET" && (path.StartsWith("/devices/fault-dev?", StringComparison.Ordinal) || path.StartsWith("/twins/fault-dev?", StringComparison.Ordinal));

    private static bool IsCreateDevice(string method, string path) => method == "PUT" && path.StartsWith("/devices/new-dev?", StringComparison.Ordinal);

    private static void AssertTypedWithinBudget(FaultOutcome outcome)
    {
        Assert.True(outcome.Error is null or IoTException, outcome.Describe());
        Assert.True(outcome.Elapsed < Budget, $"took {outcome.Elapsed}");
    }
}
