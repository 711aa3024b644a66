using System.Diagnostics;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Aws.Tests.Diagnostics;

/// <summary>
/// Spans and errors of the AWS provider against moto's server: the same registry spans as every provider, the SigV4
/// HTTP attempts underneath, and errors that carry the <c>x-amzn-RequestId</c> moto answered with and the HTTP status.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsObservabilityTests(MotoServer moto) : IAsyncLifetime
{
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        _provider = await AwsIoTProvider.StartAsync(moto.Options());
    }

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    [Fact]
    public async Task A_missing_thing_is_an_error_with_the_request_id_and_status_on_the_exception_and_the_spans()
    {
        using var trace = new ActivityRecorder();

        var missing = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => _provider.Registry.GetAsync("otel-aws-missing"));

        Assert.Equal(404, missing.HttpStatus);
        Assert.False(string.IsNullOrWhiteSpace(missing.RequestId));
        Assert.Contains($"HTTP 404, request id {missing.RequestId}", missing.ToString(), StringComparison.Ordinal);
        var get = Assert.Single(trace.Named("registry.get"));
        Assert.Equal("Aws", get.Tag("iotmastery.provider"));
        Assert.Equal("otel-aws-missing", get.Tag("iotmastery.device.id"));
        Assert.Equal(ActivityStatusCode.Error, get.Status);
        Assert.Equal("DeviceNotFound", get.Tag("error.type"));
        Assert.Equal(missing.RequestId, get.Tag("iotmastery.request.id"));
        var attempt = Assert.Single(trace.Named("iotmastery.http.attempt"));
        Assert.Equal(get.SpanId, attempt.ParentSpanId);
        Assert.Equal("GET", attempt.Tag("http.request.method"));
        Assert.Equal("127.0.0.1", attempt.Tag("server.address"));
        Assert.Equal(moto.Port, attempt.Tag("server.port"));
        Assert.Equal(404, attempt.Tag("http.response.status_code"));
        Assert.Equal(ActivityStatusCode.Error, attempt.Status);
    }

    [Fact]
    public async Task A_missing_certificate_carries_the_request_id_and_404_too()
    {
        var missing = await IoTAssert.ThrowsAsync(IoTErrorKind.NotFound, () => _provider.ControlPlane.DescribeCertificateAsync(new string('0', 64), default));

        Assert.Equal(404, missing.HttpStatus);
        Assert.False(string.IsNullOrWhiteSpace(missing.RequestId));
        Assert.Contains(missing.RequestId!, missing.Message, StringComparison.Ordinal);
    }
}
