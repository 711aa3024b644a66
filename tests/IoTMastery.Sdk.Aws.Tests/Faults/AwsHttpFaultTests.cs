using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Faults;

/// <summary>
/// The AWS provider behind a fault-injecting proxy in front of moto: reads end in success or a typed error within
/// the budget after at most 1 + MaxRetries attempts; certificate creation is never forwarded twice.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsHttpFaultTests(MotoServer moto, ITestOutputHelper output) : IAsyncLifetime
{
    private const int MaxRetries = 2;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(1);
    // 3 attempts × 1 s timeout + 2 Retry-After waits of 1 s + slack for two busy cores.
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(8);
    private FaultProxy _proxy = null!;
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        // Set up directly against moto, so a cold start cannot hit the 1 s test timeout.
        await using (var direct = await AwsIoTProvider.StartAsync(moto.Options()))
            await direct.Registry.RegisterAsync(new DeviceRegistration { Id = "fault-dev" });
        _proxy = FaultProxy.Start(moto.Endpoint);
        _provider = await AwsIoTProvider.StartAsync(moto.Options(o =>
        {
            o.ControlPlaneEndpoint = _proxy.BaseUri;
            o.DataPlaneEndpoint = _proxy.BaseUri;
            o.Transport.RequestTimeout = RequestTimeout;
            // MaxDelay 2 s: the proxy's Retry-After of 1 s must fit it to be waited out; the jittered backoff from 10 ms never reaches it.
            o.Transport.MaxRetries = MaxRetries;
            o.Transport.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            o.Transport.RetryMaxDelay = TimeSpan.FromSeconds(2);
        }));
        using (var warm = new HttpClient { Timeout = TimeSpan.FromSeconds(30) })
            (await warm.GetAsync(new Uri(_proxy.BaseUri, "things/fault-dev"))).Dispose();
        _proxy.Reset();
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _proxy.DisposeAsync();
    }

    public static TheoryData<HttpFault> Faults => [.. Enum.GetValues<HttpFault>().Where(f => f != HttpFault.Pass)];

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_read_after_one_fault_ends_in_success_or_a_typed_error_within_the_budget(HttpFault fault)
    {
        _proxy.Targets = IsDescribeThing;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"AWS DescribeThing, one {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        Assert.InRange(_proxy.Matching.Count, 1, MaxRetries + 1);
        // Transient faults on an idempotent read are retried, so one fault is absorbed.
        if (fault is not HttpFault.MalformedJson) Assert.Null(outcome.Error);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task A_read_under_a_persistent_fault_gives_up_with_a_typed_error_after_bounded_attempts(HttpFault fault)
    {
        _proxy.Targets = IsDescribeThing;
        _proxy.Default = fault;
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"AWS DescribeThing, always {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s) in {outcome.Elapsed.TotalMilliseconds:0} ms");
        AssertTypedWithinBudget(outcome);
        Assert.NotNull(outcome.Error);
        Assert.InRange(_proxy.Matching.Count, 1, MaxRetries + 1);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Certificate_creation_is_never_forwarded_twice(HttpFault fault)
    {
        _proxy.Targets = IsCreateCertificate;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "cert-dev", Credential = CredentialRequest.X509 }),
            Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"AWS CreateCertificateFromCsr, one {fault}: {outcome.Describe()}; forwarded {_proxy.Matching.Count(r => r.Forwarded)}, seen {_proxy.Matching.Count}");
        AssertTypedWithinBudget(outcome);
        // Not retried at all: a lost answer might have minted a certificate.
        Assert.Single(_proxy.Matching);
        if (fault is HttpFault.Reset or HttpFault.Timeout) Assert.IsAssignableFrom<IoTException>(outcome.Error);
    }

    [Theory]
    [InlineData(HttpFault.Throttle)]
    [InlineData(HttpFault.Unavailable)]
    [InlineData(HttpFault.Reset)]
    public async Task Each_retry_of_a_read_is_counted_in_the_sdk_meter(HttpFault fault)
    {
        using var retries = new HttpRetryCounter();
        _proxy.Targets = IsDescribeThing;
        _proxy.Plan.Enqueue(fault);
        var outcome = await FaultCall.RunAsync(() => _provider.Registry.GetAsync("fault-dev"), Budget + TimeSpan.FromSeconds(5));
        output.WriteLine($"AWS DescribeThing, one {fault}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s); {retries.For(AwsIoTProvider.ProviderName)} retries counted");
        Assert.Null(outcome.Error);
        Assert.Equal(2, _proxy.Matching.Count);
        // Other test classes may retry at the same time, so at least this call's one retry.
        Assert.True(retries.For(AwsIoTProvider.ProviderName) >= 1, "the retry was not counted");
    }

    private static bool IsDescribeThing(string method, string path) => method == "GET" && path.StartsWith("/things/fault-dev", StringComparison.Ordinal) && !path.Contains("/principals", StringComparison.Ordinal);

    private static bool IsCreateCertificate(string method, string path) => method == "POST" && path.StartsWith("/certificates", StringComparison.Ordinal);

    private static void AssertTypedWithinBudget(FaultOutcome outcome)
    {
        Assert.True(outcome.Error is null or IoTException, outcome.Describe());
        Assert.True(outcome.Elapsed < Budget, $"took {outcome.Elapsed}");
    }
}
