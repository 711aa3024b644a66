using IoTMastery.Sdk.TestSupport;
namespace IoTMastery.Sdk.Azure.Tests.Service;

/// <summary>The three error body formats IoT Hub answers with (see IotHubErrors) and their mapping to the shared hierarchy.</summary>
public sealed class IotHubErrorTests
{
    [Fact]
    public void Legacy_format_is_parsed()
    {
        var error = IotHubErrors.Parse(409, """{"Message":"ErrorCode:DeviceAlreadyExists;Conflict","ExceptionMessage":"Tracking ID:e4cb-G:11-TimeStamp:07/16/2016 00:12:41"}""", null);
        Assert.Equal(409001, error.Code);
        Assert.Equal("DeviceAlreadyExists", error.Name);
        IoTAssert.Is(IoTErrorKind.AlreadyExists, IotHubErrors.ToException(error, "dev1", null));
    }

    [Fact]
    public void Legacy_throttling_is_transient()
    {
        var error = IotHubErrors.Parse(429, """{"Message":"ErrorCode:ThrottlingBacklogTimeout;The request has been throttled. Wait 10 seconds and try again. Operation type: CRUD","ExceptionMessage":"Tracking ID:x"}""", null);
        Assert.Equal(429003, error.Code);
        var ex = IoTAssert.Is(IoTErrorKind.Throttled, IotHubErrors.ToException(error, null, TimeSpan.FromSeconds(10)));
        Assert.True(ex.IsTransient);
        Assert.Equal(TimeSpan.FromSeconds(10), ex.RetryAfter);
    }

    [Fact]
    public void Json_in_message_format_is_parsed()
    {
        var body = """{"Message":"{\"errorCode\":404103,\"trackingId\":\"abc\",\"message\":\"Timed out waiting for device to connect.\",\"info\":{\"timeout\":\"00:00:00\"},\"timestampUtc\":\"2024-03-14T09:54:49.65Z\"}","ExceptionMessage":""}""";
        var error = IotHubErrors.Parse(404, body, null);
        Assert.Equal(404103, error.Code);
        Assert.Equal("DeviceNotOnline", error.Name);
        var ex = IoTAssert.Is(IoTErrorKind.DeviceOffline, IotHubErrors.ToException(error, "dev1", null));
        Assert.Equal("dev1", ex.DeviceId);
    }

    [Fact]
    public void Long_numeric_codes_keep_their_first_six_digits()
    {
        var error = IotHubErrors.Parse(412, """{"Message":"{\"errorCode\":412001123,\"message\":\"etag mismatch\"}"}""", null);
        Assert.Equal(412001, error.Code);
        IoTAssert.Is(IoTErrorKind.PreconditionFailed, IotHubErrors.ToException(error, "dev1", null));
    }

    [Fact]
    public void Header_format_is_used_when_the_body_has_no_code()
    {
        var error = IotHubErrors.Parse(404, """{"Message":"Device not found"}""", "DeviceNotFound");
        Assert.Equal(404001, error.Code);
        IoTAssert.Is(IoTErrorKind.DeviceNotFound, IotHubErrors.ToException(error, "missing", null));
    }

    [Fact]
    public void Status_alone_is_enough()
    {
        IoTAssert.Is(IoTErrorKind.PreconditionFailed, IotHubErrors.ToException(IotHubErrors.Parse(412, "", null), "d", null));
        IoTAssert.Is(IoTErrorKind.Throttled, IotHubErrors.ToException(IotHubErrors.Parse(429, null, null), "d", null));
        IoTAssert.Is(IoTErrorKind.Authentication, IotHubErrors.ToException(IotHubErrors.Parse(401, null, null), "d", null));
        Assert.True(IotHubErrors.ToException(IotHubErrors.Parse(503, "not json", null), null, null).IsTransient);
        Assert.False(IotHubErrors.ToException(IotHubErrors.Parse(400, null, null), null, null).IsTransient);
    }

    [Fact]
    public void Daily_quota_is_a_quota_error_and_not_transient()
    {
        var error = IotHubErrors.Parse(403, """{"Message":"ErrorCode:IotHubQuotaExceeded;Total number of messages on IotHub exceeded the allocated quota."}""", null);
        var ex = IoTAssert.Is(IoTErrorKind.QuotaExceeded, IotHubErrors.ToException(error, null, null));
        Assert.False(ex.IsTransient);
        IoTAssert.Is(IoTErrorKind.Authorization, IotHubErrors.ToException(IotHubErrors.Parse(403, null, null), null, null));
    }

    [Fact]
    public void Lock_lost_412002_is_not_an_etag_error() =>
        Assert.NotEqual(IoTErrorKind.PreconditionFailed, IotHubErrors.ToException(IotHubErrors.Parse(412, """{"Message":"ErrorCode:DeviceMessageLockLost;x"}""", null), "d", null).Kind);

    [Fact]
    public void Gateway_timeout_is_transient()
    {
        var ex = IotHubErrors.ToException(IotHubErrors.Parse(504, """{"Message":"{\"errorCode\":504101,\"message\":\"timeout\"}"}""", null), "d", null);
        Assert.True(ex.IsTransient);
        Assert.Equal("504101", ex.ErrorCode);
    }

    [Fact]
    public void If_match_is_always_quoted()
    {
        Assert.Equal("\"*\"", IotHubHttpClient.IfMatch(null));
        Assert.Equal("\"AAAA\"", IotHubHttpClient.IfMatch("AAAA"));
        Assert.Equal("\"AAAA\"", IotHubHttpClient.IfMatch("\"AAAA\""));
    }

    [Fact]
    public void Device_queries_are_built_from_the_neutral_filter()
    {
        Assert.Equal("SELECT * FROM devices", AzureDeviceRegistry.BuildQuery(new DeviceQuery()));
        Assert.Equal("SELECT * FROM devices WHERE status = 'disabled' AND tags.site = 'a'",
            AzureDeviceRegistry.BuildQuery(new DeviceQuery { Enabled = false, AttributeName = "site", AttributeValue = "a" }));
        Assert.Equal("SELECT * FROM devices WHERE is_defined(tags.site)", AzureDeviceRegistry.BuildQuery(new DeviceQuery { AttributeName = "site" }));
        Assert.Throws<ArgumentException>(() => AzureDeviceRegistry.BuildQuery(new DeviceQuery { AttributeName = "site", AttributeValue = "x' OR 1=1" }));
        Assert.Throws<ArgumentException>(() => AzureDeviceRegistry.BuildQuery(new DeviceQuery { AttributeName = "a.b" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => AzureDeviceRegistry.BuildQuery(new DeviceQuery { PageSize = 0 }));
    }
}
