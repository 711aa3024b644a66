using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;
using Xunit.Abstractions;

namespace IoTMastery.Sdk.Gcp.Tests.Faults;

/// <summary>
/// <see cref="GcpIoTOptions.Transport"/>'s retry settings (<see cref="IoTTransportOptions.MaxRetries"/> and its delays) on the GCP-style provider, against the Cloud
/// IoT registry double behind a fault-injecting loopback proxy: a read that Google's config retries is attempted exactly
/// 1 + <see cref="IoTTransportOptions.MaxRetries"/> times (more or fewer than Google's own 5), each retry counted; without the
/// option Google's schedule stays; a call that is not safe to repeat (CreateDevice) is forwarded once whatever the bounds.
/// Attempt counts, not durations, are asserted: the backoff is milliseconds and every call has a hard cap.
/// </summary>
public sealed class GcpTransportRetryTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int GoogleReadAttempts = 5; // GoogleRetryPolicy.CloudIotRead
    private static readonly TimeSpan HardCap = TimeSpan.FromSeconds(60);
    private readonly CloudIotRegistryDouble _registry = new();
    private readonly TempFirmwareStore _firmware = new();
    private FaultProxy _proxy = null!;

    public Task InitializeAsync()
    {
        _proxy = FaultProxy.Start(_registry.Server.BaseUrl);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _registry.DisposeAsync();
        _firmware.Dispose();
    }

    private Task<GcpIoTProvider> StartAsync(Action<IoTTransportOptions>? retry)
    {
        var options = new GcpIoTOptions
        {
            ProjectId = "retry-project", RegistryId = "retry-reg",
            CloudIotBaseUrl = _proxy.BaseUri,
            // Never called here: the registry is the only peer these tests talk to.
            PubSubBaseUrl = new Uri("http://127.0.0.1:1/"),
            // Backoff of milliseconds, so the bounded attempts take no real time. A Timeout fault ends its attempt after 5 s: long
            // enough that a healthy attempt on a loaded machine never times out too (which would add an attempt to the counts).
            Transport = { RequestTimeout = TimeSpan.FromSeconds(5) },
            FirmwareStorePath = _firmware.Path,
        };
        retry?.Invoke(options.Transport);
        return GcpIoTProvider.StartAsync(options);
    }

    private static Action<IoTTransportOptions> Retries(int maxRetries) => t =>
    {
        t.MaxRetries = maxRetries;
        t.RetryBaseDelay = TimeSpan.FromMilliseconds(5);
        t.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
    };

    private static bool IsGetDevice(string method, string path) => method == "GET" && path.Contains("/devices/dev-1", StringComparison.Ordinal);

    private static bool IsCreateDevice(string method, string path) => method == "POST" && path.EndsWith("/devices", StringComparison.Ordinal);

    [Theory]
    [InlineData(HttpFault.Unavailable, 0)]
    [InlineData(HttpFault.Unavailable, 2)]
    [InlineData(HttpFault.Unavailable, 7)]
    [InlineData(HttpFault.Reset, 2)]
    public async Task A_read_under_a_persistent_fault_is_attempted_exactly_once_plus_MaxRetries(HttpFault fault, int maxRetries)
    {
        await using var provider = await StartAsync(Retries(maxRetries));
        using var retries = new HttpRetryCounter();
        _proxy.Targets = IsGetDevice;
        _proxy.Default = fault;

        var outcome = await FaultCall.RunAsync(() => provider.CloudIot.GetDeviceAsync("dev-1"), HardCap);

        output.WriteLine($"GetDevice, always {fault}, MaxRetries {maxRetries}: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s); {retries.For("Gcp")} retries counted");
        var error = Assert.IsAssignableFrom<IoTException>(outcome.Error);
        Assert.Equal("UNAVAILABLE", error.ErrorCode);
        Assert.True(error.IsTransient);
        Assert.Equal(1 + maxRetries, _proxy.Matching.Count);
        // Other GCP test classes may retry at the same time: at least this call's retries.
        Assert.True(retries.For("Gcp") >= maxRetries, $"{retries.For("Gcp")} retries counted, {maxRetries} expected");
    }

    [Fact]
    public async Task Without_the_option_a_read_follows_Googles_schedule()
    {
        await using var provider = await StartAsync(retry: null);
        _proxy.Targets = IsGetDevice;
        _proxy.Default = HttpFault.Unavailable;

        var outcome = await FaultCall.RunAsync(() => provider.CloudIot.GetDeviceAsync("dev-1"), HardCap);

        output.WriteLine($"GetDevice, always Unavailable, no Retry option: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s)");
        Assert.Equal("UNAVAILABLE", Assert.IsAssignableFrom<IoTException>(outcome.Error).ErrorCode);
        Assert.Equal(GoogleReadAttempts, _proxy.Matching.Count);
    }

    [Theory]
    [InlineData(HttpFault.Unavailable)]
    [InlineData(HttpFault.Reset)]
    [InlineData(HttpFault.Timeout)]
    public async Task A_read_after_one_fault_succeeds_on_the_retry(HttpFault fault)
    {
        await using var provider = await StartAsync(Retries(2));
        await provider.CloudIot.CreateDeviceAsync(new JsonObject { ["id"] = "dev-1" });
        _proxy.Targets = IsGetDevice;
        _proxy.Plan.Enqueue(fault);

        var outcome = await FaultCall.RunAsync(async () => Assert.Equal("dev-1", (await provider.CloudIot.GetDeviceAsync("dev-1"))["id"]?.GetValue<string>()), HardCap);

        output.WriteLine($"GetDevice, one {fault}, MaxRetries 2: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s)");
        Assert.Null(outcome.Error);
        Assert.Equal(2, _proxy.Matching.Count);
    }

    [Fact]
    public async Task The_codes_a_read_retries_stay_Googles_so_an_internal_error_is_not_retried()
    {
        await using var provider = await StartAsync(Retries(3));
        _proxy.Targets = IsGetDevice;
        _proxy.Default = HttpFault.ServerError;

        var outcome = await FaultCall.RunAsync(() => provider.CloudIot.GetDeviceAsync("dev-1"), HardCap);

        output.WriteLine($"GetDevice, always 500, MaxRetries 3: {outcome.Describe()} after {_proxy.Matching.Count} attempt(s)");
        Assert.IsAssignableFrom<IoTException>(outcome.Error);
        // INTERNAL is not among GetDevice's retryable codes (UNAVAILABLE, DEADLINE_EXCEEDED): one attempt.
        Assert.Single(_proxy.Matching);
    }

    [Theory]
    [InlineData(HttpFault.Unavailable)]
    [InlineData(HttpFault.Reset)]
    [InlineData(HttpFault.Timeout)]
    [InlineData(HttpFault.Throttle)]
    [InlineData(HttpFault.ServerError)]
    public async Task CreateDevice_is_forwarded_once_whatever_the_retry_bounds(HttpFault fault)
    {
        await using var provider = await StartAsync(Retries(5));
        _proxy.Targets = IsCreateDevice;
        _proxy.Plan.Enqueue(fault);

        var outcome = await FaultCall.RunAsync(() => provider.CloudIot.CreateDeviceAsync(new JsonObject { ["id"] = "dev-once" }), HardCap);

        output.WriteLine($"CreateDevice, one {fault}, MaxRetries 5: {outcome.Describe()}; seen {_proxy.Matching.Count}, forwarded {_proxy.Matching.Count(r => r.Forwarded)}");
        Assert.IsAssignableFrom<IoTException>(outcome.Error);
        // Not idempotent (no request id): the registry may already hold the device when the answer is lost.
        Assert.Single(_proxy.Matching);
    }

    [Fact]
    public async Task Retry_bounds_out_of_range_are_refused_before_any_request()
    {
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => StartAsync(t => t.MaxRetries = 11));
        Assert.Equal("Transport.MaxRetries", error.ParamName);
        error = await Assert.ThrowsAnyAsync<ArgumentException>(() => StartAsync(t => { t.RetryBaseDelay = TimeSpan.FromSeconds(2); t.RetryMaxDelay = TimeSpan.FromSeconds(1); }));
        Assert.Equal("Transport.RetryMaxDelay", error.ParamName);
        // One delay alone past the other's default (20 s) is refused at start too, naming the one that was set.
        error = await Assert.ThrowsAnyAsync<ArgumentException>(() => StartAsync(t => t.RetryBaseDelay = TimeSpan.FromSeconds(30)));
        Assert.Equal("Transport.RetryBaseDelay", error.ParamName);
        Assert.Empty(_proxy.Seen);
    }
}
