using IoTMastery.Sdk.TestSupport;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Errors;

/// <summary>Error-code extraction (Smithy restJson1 compliance vectors vendored in Specs/botocore), classification and retry policy.</summary>
public sealed class AwsErrorTests
{
    public static TheoryData<string, int, string?, string?, string> ComplianceCases()
    {
        var data = new TheoryData<string, int, string?, string?, string>();
        var suites = JsonNode.Parse(File.ReadAllText(VendoredSpecs.Path("botocore", "protocol-tests", "output", "rest-json.json")))!.AsArray();
        var i = 0;
        foreach (var suite in suites)
            foreach (var c in suite!["cases"]!.AsArray())
            {
                if ((string?)c!["errorCode"] is not { } code) continue;
                var response = c["response"]!;
                var header = response["headers"]?.AsObject().FirstOrDefault(h => h.Key.Equals("X-Amzn-Errortype", StringComparison.OrdinalIgnoreCase)).Value;
                data.Add($"case {i++}", (int)response["status_code"]!, (string?)header, (string?)response["body"], code);
            }
        return data;
    }

    [Theory]
    [MemberData(nameof(ComplianceCases))]
    public void Smithy_rest_json_error_vectors(string name, int status, string? errorTypeHeader, string? body, string expectedCode)
    {
        Assert.NotNull(name);
        var error = AwsError.Parse((HttpStatusCode)status, h => h.Equals("x-amzn-ErrorType", StringComparison.OrdinalIgnoreCase) ? errorTypeHeader : null,
            Encoding.UTF8.GetBytes(body ?? ""));
        Assert.Equal(expectedCode, error.Code);
    }

    [Fact]
    public void Header_then_code_then_dunder_type()
    {
        var both = AwsError.Parse(HttpStatusCode.NotFound, h => h == "x-amzn-ErrorType" ? "ResourceNotFoundException" : null,
            """{"code":"Other","__type":"Third","message":"m"}"""u8);
        Assert.Equal("ResourceNotFoundException", both.Code);
        Assert.Equal("m", both.Message);
        Assert.Equal("Other", AwsError.Parse(HttpStatusCode.BadRequest, _ => null, """{"code":"Other","__type":"Third"}"""u8).Code);
        Assert.Equal("Third", AwsError.Parse(HttpStatusCode.BadRequest, _ => null, """{"__type":"ns#Third:http://x"}"""u8).Code);
    }

    [Fact]
    public void Classification_follows_code_then_status()
    {
        static IoTException Map(int status, string? code) => new AwsError((HttpStatusCode)status, code, "m", null, null).ToException("Op");
        IoTAssert.Is(IoTErrorKind.Throttled, Map(400, "ThrottlingException"));
        IoTAssert.Is(IoTErrorKind.Throttled, Map(429, null));
        var quota = IoTAssert.Is(IoTErrorKind.QuotaExceeded, Map(410, "LimitExceededException"));
        Assert.False(quota.IsTransient);
        IoTAssert.Is(IoTErrorKind.PreconditionFailed, Map(409, "VersionConflictException"));
        IoTAssert.Is(IoTErrorKind.PreconditionFailed, Map(409, "ConflictException"));
        IoTAssert.Is(IoTErrorKind.AlreadyExists, Map(409, "ResourceAlreadyExistsException"));
        IoTAssert.Is(IoTErrorKind.Authentication, Map(401, "UnauthorizedException"));
        IoTAssert.Is(IoTErrorKind.Authorization, Map(403, "ForbiddenException"));
        IoTAssert.Is(IoTErrorKind.PayloadTooLarge, Map(413, "RequestEntityTooLargeException"));
        IoTAssert.Is(IoTErrorKind.DeviceNotFound, new AwsError(HttpStatusCode.NotFound, "ResourceNotFoundException", null, null, null).ToException("Op", "dev"));
        Assert.True(Map(503, "ServiceUnavailableException").IsTransient);
        Assert.False(Map(400, "InvalidRequestException").IsTransient);
    }

    [Fact]
    public async Task Throttling_is_retried_for_idempotent_calls()
    {
        await using var server = await FaultServer.StartAsync(
            (400, """{"__type":"ThrottlingException","message":"Rate exceeded"}"""),
            (200, """{"thingName":"dev","version":1}"""));
        var iot = new IotControlPlane(server.Client("iot"));
        var thing = await iot.DescribeThingAsync("dev", default);
        Assert.Equal("dev", (string?)thing["thingName"]);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task Retries_are_bounded()
    {
        await using var server = await FaultServer.StartAsync(Enumerable.Repeat((503, """{"__type":"ServiceUnavailableException"}"""), 10).ToArray());
        var iot = new IotControlPlane(server.Client("iot"));
        var ex = await Assert.ThrowsAsync<IoTException>(() => iot.DescribeThingAsync("dev", default));
        Assert.True(ex.IsTransient);
        Assert.Equal(3, server.Requests); // MaxRetries = 2
    }

    [Fact]
    public async Task Certificate_minting_is_never_retried_blindly()
    {
        await using var server = await FaultServer.StartAsync((503, """{"__type":"ServiceUnavailableException"}"""), (200, "{}"));
        var iot = new IotControlPlane(server.Client("iot"));
        var ex = await Assert.ThrowsAsync<IoTException>(() => iot.CreateCertificateFromCsrAsync("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", true, default));
        Assert.True(ex.IsTransient);
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task Quota_is_not_retried()
    {
        await using var server = await FaultServer.StartAsync((410, """{"__type":"LimitExceededException","message":"too many policies"}"""), (200, "{}"));
        var iot = new IotControlPlane(server.Client("iot"));
        await IoTAssert.ThrowsAsync(IoTErrorKind.QuotaExceeded, () => iot.AttachPolicyAsync("p", "arn", default));
        Assert.Equal(1, server.Requests);
    }

    /// <summary>
    /// Injects throttling and 5xx answers (no offline peer throttles, so client policies are
    /// tested with injected responses). Raw TCP HTTP/1.1, loopback only.
    /// </summary>
    private sealed class FaultServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Queue<(int Status, string Body)> _answers;
        private readonly CancellationTokenSource _stop = new();
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
        private Task _loop = Task.CompletedTask;
        private int _requests;

        private FaultServer((int, string)[] answers) => _answers = new Queue<(int, string)>(answers);

        public int Requests => Volatile.Read(ref _requests);

        public static Task<FaultServer> StartAsync(params (int, string)[] answers)
        {
            var server = new FaultServer(answers);
            server._listener.Start();
            server._loop = server.RunAsync();
            return Task.FromResult(server);
        }

        public AwsHttpClient Client(string service) => new(_http, new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/"), "us-east-1", service,
            _ => ValueTask.FromResult(new Amazon.Runtime.ImmutableCredentials("AKID", "secret", null)),
            IoTTransportOptions.DefaultRetry with { MaxRetries = 2, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) },
            TimeProvider.System, NullLogger.Instance);

        private async Task RunAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                using (client)
                {
                    var stream = client.GetStream();
                    var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                    var length = 0;
                    string? line;
                    while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync()))
                        if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) length = int.Parse(line[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    var buffer = new char[length];
                    for (var read = 0; read < length;) read += await reader.ReadAsync(buffer.AsMemory(read));
                    Interlocked.Increment(ref _requests);
                    var (status, body) = _answers.Count > 0 ? _answers.Dequeue() : (500, "{}");
                    var bytes = Encoding.UTF8.GetBytes(body);
                    var head = $"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                    await stream.WriteAsync(bytes);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try { await _loop; } catch (Exception) { /* listener stopped */ }
            _http.Dispose();
            _stop.Dispose();
        }
    }
}
