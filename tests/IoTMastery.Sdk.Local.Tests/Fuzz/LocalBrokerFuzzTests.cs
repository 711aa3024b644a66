using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;
using IoTMastery.Sdk.TestSupport.Fuzz;
using MQTTnet;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Local.Tests.Fuzz;

/// <summary>
/// The fuzz corpus over real MQTT: a misbehaving device (a raw MQTTnet client with its own certificate) publishes hostile
/// reported state, command replies and telemetry to a started <see cref="LocalIoTProvider"/>. The broker must stay up,
/// refuse or count what is malformed, never corrupt stored state, never hang a command, never log the payload's secret,
/// and a well-behaved device must keep working afterwards.
/// </summary>
public sealed class LocalBrokerFuzzTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    // Planted in every seed; no log line may ever repeat it.
    private const string Secret = "tok-5ecr3t-9b41f7";
    private const string Bad = "dev-fuzz";
    private const string Good = "dev-good";
    private const int Mutations = 300;

    private readonly CapturingLoggerFactory _logs = new();
    private LocalIoTProvider _provider = null!;
    private IMqttClient _bad = null!;
    private IDeviceConnection _good = null!;

    public async Task InitializeAsync()
    {
        _provider = await LocalIoTProvider.StartAsync(loggerFactory: _logs).WaitAsync(Timeout);
        var badCredential = (await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = Bad, Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
        var goodCredential = (await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = Good, Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
        _good = _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = Good, Credential = goodCredential });
        _good.SetCommandHandler((command, _) => ValueTask.FromResult(new CommandResponse(200, new JsonObject { ["echo"] = command.Name })));
        await _good.ConnectAsync().WaitAsync(Timeout);
        await _good.ReportStateAsync(new JsonObject { ["interval"] = 5 }).WaitAsync(Timeout);
        _bad = new MqttClientFactory().CreateMqttClient();
        using var certificate = badCredential.ToCertificate();
        await _bad.ConnectAsync(RawOptions(Bad, certificate)).WaitAsync(Timeout);
    }

    public async Task DisposeAsync()
    {
        _bad.Dispose();
        await _good.DisposeAsync();
        await _provider.DisposeAsync();
    }

    private static readonly string[] ReportedSeeds =
    [
        $"{{\"mode\":\"eco\",\"token\":\"{Secret}\",\"temp\":21.5,\"fw\":{{\"version\":\"1.0\",\"ok\":true}}}}",
        $"{{\"firmware\":{{\"version\":\"2.0\",\"status\":\"Installed\"}},\"token\":\"{Secret}\",\"list\":[1,2,3]}}",
        $"{{\"mode\":null,\"token\":\"{Secret}\"}}",
    ];

    [Fact]
    public async Task Malformed_reported_state_is_refused_and_never_corrupts_stored_state()
    {
        var oversize = Encoding.UTF8.GetBytes($"{{\"blob\":\"{new string('x', 4 << 20)}\",\"token\":\"{Secret}\"}}");
        var inputs = FuzzInputs.For(51, Mutations, ReportedSeeds).Append(oversize).ToList();
        var before = await _provider.State.GetAsync(Bad).WaitAsync(Timeout);
        var failures = new List<string>();
        int accepted = 0;
        foreach (var input in inputs)
        {
            var ack = await PublishAsync(LocalTopics.ReportedState(Bad), input);
            var after = await _provider.State.GetAsync(Bad).WaitAsync(Timeout);
            // The stored document must stay strict JSON (no duplicate keys, valid UTF-16) whatever was published.
            var stored = after.Reported.ToJsonString();
            if (!IsStrictJson(stored)) failures.Add($"stored state is not strict JSON after {FuzzInputs.Describe(input)}: {stored}");
            if (ack == MqttClientPublishReasonCode.Success)
            {
                accepted++;
                var expected = JsonMergePatch.Apply((JsonObject)before.Reported.DeepClone(), JsonNode.Parse(input)!.AsObject());
                if (after.ReportedVersion != before.ReportedVersion + 1 || !JsonNode.DeepEquals(expected, after.Reported))
                    failures.Add($"accepted but stored wrongly: {FuzzInputs.Describe(input)} -> {after.Reported.ToJsonString()}");
            }
            else if (ack == MqttClientPublishReasonCode.PayloadFormatInvalid)
            {
                if (after.ReportedVersion != before.ReportedVersion || after.Reported.ToJsonString() != before.Reported.ToJsonString())
                    failures.Add($"refused but the stored state changed: {FuzzInputs.Describe(input)}");
            }
            else failures.Add($"unexpected reason {ack}: {FuzzInputs.Describe(input)}");
            before = after;
            if (failures.Count >= 10) break;
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.InRange(accepted, 3, inputs.Count - 60); // the seeds pass, the corpus does not
        await AssertHealthyAsync();
    }

    private static readonly string[] ReplySeeds =
    [
        $"{{\"status\":200,\"payload\":{{\"ok\":true,\"token\":\"{Secret}\",\"n\":[1,2,3]}}}}",
        $"{{\"status\":500,\"payload\":\"{Secret}\"}}",
        "{\"status\":404}",
    ];

    [Fact]
    public async Task Malformed_command_replies_fail_with_MalformedReply_and_never_hang()
    {
        byte[] reply = [];
        _bad.ApplicationMessageReceivedAsync += e =>
        {
            var requestId = e.ApplicationMessage.Topic[(e.ApplicationMessage.Topic.LastIndexOf('/') + 1)..];
            var payload = Volatile.Read(ref reply);
            // Publishing from inside the receive handler at QoS 1 would wait on this very loop for the PUBACK.
            _ = Task.Run(() => _bad.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(LocalTopics.Reply(Bad, requestId)).WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()));
            return Task.CompletedTask;
        };
        await _bad.SubscribeAsync(LocalTopics.CommandFilter(Bad), MqttQualityOfServiceLevel.AtLeastOnce).WaitAsync(Timeout);
        var oversize = Encoding.UTF8.GetBytes($"{{\"status\":200,\"payload\":\"{new string('x', 4 << 20)}\"}}");
        var inputs = FuzzInputs.For(52, Mutations, ReplySeeds).Append(oversize).ToList();

        var failures = new List<string>();
        int answered = 0, malformed = 0;
        foreach (var input in inputs)
        {
            Volatile.Write(ref reply, input);
            try
            {
                var response = await _provider.Commands.InvokeAsync(Bad, new DeviceCommand { Name = "probe", Timeout = TimeSpan.FromSeconds(5) }).WaitAsync(Timeout);
                if (response.Status is < 100 or > 599) failures.Add($"status {response.Status}: {FuzzInputs.Describe(input)}");
                answered++;
            }
            catch (IoTException ex) when (ex.ErrorCode == "MalformedReply")
            {
                Assert.DoesNotContain(Secret, ex.ToString(), StringComparison.Ordinal);
                malformed++;
            }
            catch (Exception ex)
            {
                failures.Add($"{ex.GetType().Name}: {ex.Message} for {FuzzInputs.Describe(input)}");
            }
            if (failures.Count >= 10) break;
        }
        // Replies nobody waits for, under odd request ids, are ignored.
        foreach (var requestId in new[] { "0", "ffffffffffffffffffffffffffffffff", new string('a', 5000), "x y", "\u00e9\u00e8" })
            await PublishAsync(LocalTopics.Reply(Bad, requestId), Encoding.UTF8.GetBytes(ReplySeeds[0]));
        await PublishAsync($"devices/{Bad}/replies/a/b", Encoding.UTF8.GetBytes(ReplySeeds[0]));

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(inputs.Count, answered + malformed);
        Assert.InRange(answered, 3, inputs.Count - 60);
        await AssertHealthyAsync();
    }

    private static readonly string[] TelemetrySeeds =
    [
        $"[{{\"d\":\"{Bad}\",\"m\":\"temp\",\"v\":21.5,\"t\":1700000000000}},{{\"d\":\"{Bad}\",\"m\":\"hum\",\"v\":40,\"t\":1700000000001,\"s\":7}}]",
        $"[{{\"d\":\"{Good}\",\"m\":\"temp\",\"v\":1,\"t\":1}},{{\"d\":\"{Bad}\",\"m\":\"{Secret}\",\"v\":2,\"t\":2}}]",
    ];

    [Fact]
    public async Task Malformed_telemetry_is_dropped_and_counted_exactly()
    {
        var channel = (LocalTelemetryChannel)_provider.Telemetry;
        var record = $"{{\"d\":\"{Bad}\",\"m\":\"temp\",\"v\":1,\"t\":1}}";
        var oversize = Encoding.UTF8.GetBytes("[" + string.Join(',', Enumerable.Repeat(record, 100_000)) + "]");
        var inputs = FuzzInputs.For(53, Mutations, TelemetrySeeds).Append(oversize).ToList();
        long expectedRejected = 0;
        var failures = new List<string>();
        foreach (var input in inputs)
        {
            // The oracle: the same parser, offline. A malformed batch counts once; a record naming another device counts once.
            try { expectedRejected += TelemetryJson.ReadBatch(input).Count(r => r.DeviceId != Bad); }
            catch (FormatException) { expectedRejected++; }
            var ack = await PublishAsync(LocalTopics.Telemetry(Bad), input);
            if (ack != MqttClientPublishReasonCode.Success) failures.Add($"unexpected reason {ack}: {FuzzInputs.Describe(input)}");
            if (failures.Count >= 10) break;
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // Each batch was handled before its PUBACK, so the count is final.
        Assert.Equal(expectedRejected, channel.RejectedRecords);
        Assert.True(expectedRejected > 60, $"only {expectedRejected} rejections");
        await AssertHealthyAsync();
    }

    // The broker still answers, the well-behaved device's state, commands and telemetry still work, and no log repeated the secret.
    private async Task AssertHealthyAsync()
    {
        Assert.True(_bad.IsConnected, "the broker dropped the fuzzing device's session");
        Assert.Equal(5, (int?)(await _provider.State.GetAsync(Good).WaitAsync(Timeout)).Reported["interval"]);
        await _good.ReportStateAsync(new JsonObject { ["interval"] = 6 }).WaitAsync(Timeout);
        Assert.Equal(6, (int?)(await _provider.State.GetAsync(Good).WaitAsync(Timeout)).Reported["interval"]);

        var response = await _provider.Commands.InvokeAsync(Good, new DeviceCommand { Name = "ping", Timeout = TimeSpan.FromSeconds(5) }).WaitAsync(Timeout);
        Assert.Equal(200, response.Status);

        await using var reader = _provider.Telemetry.ReadAllAsync().GetAsyncEnumerator();
        var next = reader.MoveNextAsync(); // registers the reader before the device sends
        await _good.SendTelemetryAsync(new TelemetryRecord(Good, "temp", 20.5, DateTimeOffset.UtcNow)).AsTask().WaitAsync(Timeout);
        await _good.FlushAsync().WaitAsync(Timeout);
        Assert.True(await next.AsTask().WaitAsync(Timeout));
        Assert.Equal((Good, 20.5), (reader.Current.DeviceId, reader.Current.Value));

        var leaks = _logs.Lines.Where(l => l.Contains(Secret, StringComparison.Ordinal)).ToList();
        Assert.True(leaks.Count == 0, "logged the payload's secret:\n" + string.Join("\n", leaks.Take(3).Select(l => l.Length > 400 ? l[..400] : l)));
    }

    // No duplicate keys, and every name and string decodes (no lone surrogate escapes): readable by any consumer.
    private static bool IsStrictJson(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowDuplicateProperties = false });
            Touch(document.RootElement);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }

        static void Touch(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object) foreach (var p in e.EnumerateObject()) { _ = p.Name; Touch(p.Value); }
            else if (e.ValueKind == JsonValueKind.Array) foreach (var i in e.EnumerateArray()) Touch(i);
            else if (e.ValueKind == JsonValueKind.String) _ = e.GetString();
        }
    }

    private async Task<MqttClientPublishReasonCode> PublishAsync(string topic, byte[] payload)
    {
        var result = await _bad.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).WaitAsync(Timeout);
        return result.ReasonCode;
    }

    private MqttClientOptions RawOptions(string clientId, X509Certificate2 certificate) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", _provider.Port)
            .WithClientId(clientId)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithTlsOptions(tls => tls.UseTls().WithClientCertificates([certificate]).WithCertificateValidationHandler(e => TrustsProviderCa(e.Certificate)))
            .Build();

    private bool TrustsProviderCa(X509Certificate? certificate)
    {
        if (certificate is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_provider.CertificateAuthority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
