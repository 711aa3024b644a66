using System.Diagnostics;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Azure.Tests.Double;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Azure.Tests.Diagnostics;

/// <summary>
/// Spans of the Azure provider against the IoT Hub double (driven by the official Node SDK in its own tests), read
/// through a real <see cref="ActivityListener"/>: the same registry spans as every provider, one HTTP span per attempt
/// under them, errors that carry the hub's request id and status, and no secret in any tag.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class AzureObservabilityTests
{
    [Fact]
    public async Task A_registry_call_is_a_span_with_its_http_attempts_underneath()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        using var trace = new ActivityRecorder();

        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-az-1" });

        var register = Assert.Single(trace.Named("registry.register"));
        Assert.Equal("Azure", register.Tag("iotmastery.provider"));
        Assert.Equal("otel-az-1", register.Tag("iotmastery.device.id"));
        var attempts = trace.Named("iotmastery.http.attempt");
        Assert.NotEmpty(attempts);
        Assert.All(attempts, attempt =>
        {
            Assert.Equal(register.SpanId, attempt.ParentSpanId);
            Assert.Equal(ActivityKind.Client, attempt.Kind);
            Assert.Equal("localhost", attempt.Tag("server.address"));
            Assert.Equal(hub.HttpsPort, attempt.Tag("server.port"));
            Assert.Equal("Azure", attempt.Tag("iotmastery.provider"));
            Assert.Equal(200, attempt.Tag("http.response.status_code"));
        });
        Assert.Contains(attempts, a => (string?)a.Tag("http.request.method") == "PUT");
    }

    [Fact]
    public async Task A_retried_503_is_two_attempt_spans_and_the_first_says_why()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-az-2" });
        using var trace = new ActivityRecorder();
        hub.InjectedFaults.Enqueue((503, """{"Message":"{\"errorCode\":503001,\"trackingId\":\"track-503\",\"message\":\"busy\"}"}"""));

        await provider.Registry.GetAsync("otel-az-2");

        var get = Assert.Single(trace.Named("registry.get"));
        Assert.Equal(ActivityStatusCode.Unset, get.Status);
        var attempts = trace.Named("iotmastery.http.attempt");
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(get.SpanId, a.ParentSpanId));
        Assert.Equal([503, 200], attempts.Select(a => a.Tag("http.response.status_code")));
        Assert.Equal([null, 1], attempts.Select(a => a.Tag("http.request.resend_count")));
        Assert.Equal(ActivityStatusCode.Error, attempts[0].Status);
        Assert.Equal("Unknown", attempts[0].Tag("error.type"));
        Assert.Equal("503001", attempts[0].Tag("iotmastery.error.code"));
        Assert.Equal("track-503", attempts[0].Tag("iotmastery.request.id"));
    }

    [Fact]
    public async Task An_error_from_the_hub_carries_its_tracking_id_and_status_and_its_span_is_an_error()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-az-off" });
        using var trace = new ActivityRecorder();

        var offline = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceOffline, () => provider.Commands.InvokeAsync("otel-az-off", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(5) }));

        // The double answers 404103 as the hub does, with a fresh trackingId in the error body.
        Assert.Equal(404, offline.HttpStatus);
        Assert.Matches("^[0-9a-f]{32}$", offline.RequestId);
        Assert.Contains($"HTTP 404, request id {offline.RequestId}", offline.ToString(), StringComparison.Ordinal);
        var span = Assert.Single(trace.Named("command.invoke"));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal("DeviceOffline", span.Tag("error.type"));
        Assert.Equal(offline.RequestId, span.Tag("iotmastery.request.id"));
    }

    [Fact]
    public void The_x_ms_request_id_header_wins_over_the_body_tracking_id()
    {
        var error = IotHubErrors.Parse(429, """{"Message":"{\"errorCode\":429001,\"trackingId\":\"from-body\"}"}""", "ThrottlingException", "from-header");
        var exception = IotHubErrors.ToException(error, null, TimeSpan.FromSeconds(1));
        IoTAssert.Is(IoTErrorKind.Throttled, exception);
        Assert.Equal("from-header", exception.RequestId);
        Assert.Equal(429, exception.HttpStatus);
    }

    [Fact]
    public async Task No_tag_of_any_span_holds_a_key_or_a_sas_token()
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        using var trace = new ActivityRecorder();

        // The service authenticates with the policy key (a SAS token per request); the device with its own key.
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-az-sas", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });
        var key = registered.Credential!.SymmetricKey!;
        await using (var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "otel-az-sas", Credential = registered.Credential }))
        {
            device.SetCommandHandler((_, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["echo"] = "reply-payload-marker" })));
            device.SetDesiredStateHandler((_, _, _) => ValueTask.CompletedTask);
            await device.ConnectAsync();
            await provider.Commands.InvokeAsync("otel-az-sas", new DeviceCommand { Name = "reboot", Payload = new JsonObject { ["p"] = "command-payload-marker" }, Timeout = TimeSpan.FromSeconds(10) });
            await provider.State.UpdateDesiredAsync("otel-az-sas", new JsonObject { ["d"] = "desired-payload-marker" });
        }
        await provider.Registry.RotateCredentialAsync("otel-az-sas", "sas-primary");
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Registry.GetAsync("otel-az-missing"));

        var values = ActivityTags.EveryValue(trace.Spans).ToList();
        Assert.Contains(values, v => v.StartsWith("iotmastery.device.id=otel-az-sas", StringComparison.Ordinal));
        Assert.Contains(trace.Spans, s => s.OperationName == "iotmastery.http.attempt");
        var secrets = new[] { key, IotHubDouble.PolicyKey, "SharedAccessSignature", "sig=", "SharedAccessKey", "-marker" };
        foreach (var secret in secrets)
            Assert.DoesNotContain(values, v => v.Contains(secret, StringComparison.Ordinal));
    }
}
