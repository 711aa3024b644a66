using IoTMastery.Sdk.Http;

namespace IoTMastery.Sdk.Tests.Http;

/// <summary>The shared transport options refuse each bad value with an argument error naming it as <c>Transport.&lt;member&gt;</c>.</summary>
public sealed class IoTTransportOptionsTests
{
    [Fact]
    public void The_defaults_are_valid_and_leave_timeout_and_retry_to_the_provider()
    {
        var options = new IoTTransportOptions();
        options.Validate();
        Assert.Null(options.HttpHandler);
        Assert.Null(options.RequestTimeout);
        Assert.Null(options.MaxRetries);
        Assert.Null(options.RetryBaseDelay);
        Assert.Null(options.RetryMaxDelay);
        Assert.Null(options.DeviceHost);
        Assert.Equal(8883, options.DevicePort);
        Assert.Equal(TimeSpan.FromSeconds(42), options.ResolveRequestTimeout(TimeSpan.FromSeconds(42)));
    }

    public static TheoryData<string, Action<IoTTransportOptions>> Bad => new()
    {
        { "Transport.RequestTimeout", t => t.RequestTimeout = TimeSpan.FromTicks(-1) },
        { "Transport.RequestTimeout", t => t.RequestTimeout = IoTTransportOptions.MaxRequestTimeout + TimeSpan.FromSeconds(1) },
        { "Transport.DevicePort", t => t.DevicePort = 65536 },
        { "Transport.DeviceHost", t => t.DeviceHost = "" },
        { "Transport.DeviceHost", t => t.DeviceHost = "host:8883" },
        { "Transport.TrustedRoots", t => t.TrustedRoots = [] },
        { "Transport.MaxRetries", t => t.MaxRetries = -1 },
        { "Transport.MaxRetries", t => t.MaxRetries = 11 },
        { "Transport.RetryBaseDelay", t => t.RetryBaseDelay = TimeSpan.Zero },
        { "Transport.RetryMaxDelay", t => t.RetryMaxDelay = TimeSpan.FromTicks(-1) },
        { "Transport.RetryMaxDelay", t => { t.RetryBaseDelay = TimeSpan.FromSeconds(2); t.RetryMaxDelay = TimeSpan.FromSeconds(1); } },
    };

    [Theory]
    [MemberData(nameof(Bad))]
    public void A_bad_value_is_an_argument_error_naming_it(string member, Action<IoTTransportOptions> breakIt)
    {
        var options = new IoTTransportOptions();
        breakIt(options);
        Assert.Equal(member, Assert.ThrowsAny<ArgumentException>(options.Validate).ParamName);
    }

    [Fact]
    public void Each_retry_setting_left_unset_takes_the_providers_default()
    {
        var provider = new HttpRetryBounds(3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10));
        Assert.False(new IoTTransportOptions().HasRetrySettings);
        Assert.Equal(provider, new IoTTransportOptions().ResolveRetry(provider));
        var some = new IoTTransportOptions { MaxRetries = 0, RetryMaxDelay = TimeSpan.FromSeconds(4) };
        Assert.True(some.HasRetrySettings);
        Assert.Equal(new HttpRetryBounds(0, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4)), some.ResolveRetry(provider));
    }

    [Theory]
    [InlineData(30_000, null, "Transport.RetryBaseDelay")]
    [InlineData(null, 100, "Transport.RetryMaxDelay")]
    public void A_delay_that_crosses_the_providers_default_for_the_other_is_an_argument_error_naming_the_set_one(int? baseMs, int? maxMs, string member)
    {
        var options = new IoTTransportOptions
        {
            RetryBaseDelay = baseMs is { } b ? TimeSpan.FromMilliseconds(b) : null,
            RetryMaxDelay = maxMs is { } m ? TimeSpan.FromMilliseconds(m) : null,
        };
        options.Validate();
        var error = Assert.ThrowsAny<ArgumentException>(() => options.ResolveRetry(new HttpRetryBounds(3, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(10))));
        Assert.Equal(member, error.ParamName);
    }

    [Theory]
    [InlineData("broker.example.com")]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void A_host_name_or_address_is_a_valid_device_host(string host)
    {
        new IoTTransportOptions { DeviceHost = host }.Validate();
    }

    [Fact]
    public async Task The_client_sends_through_the_given_handler_and_disposes_it_with_itself()
    {
        var handler = new AnsweringHandler();
        var client = new IoTTransportOptions { HttpHandler = handler }.CreateHttpClient(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.FromSeconds(5), client.Timeout);
        using (var response = await client.GetAsync(new Uri("http://127.0.0.1:1/probe")))
            Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1, handler.Calls);
        client.Dispose();
        Assert.True(handler.Disposed);
    }

    /// <summary>Answers 202 itself, so the test shows the route without a server.</summary>
    private sealed class AnsweringHandler : HttpMessageHandler
    {
        public int Calls;
        public bool Disposed;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.Accepted));
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
