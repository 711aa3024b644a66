using IoTMastery.Sdk.Azure.Tests.Double;

namespace IoTMastery.Sdk.Azure.Tests.Scenario;

/// <summary>The quickstart scenario against the IoT Hub double (which the Node.js SDKs drive first, see NodeDrivesDoubleTests).</summary>
[Collection(DoubleCollection.Name)]
public sealed class AzureScenarioTests
{
    [Theory]
    [InlineData(CredentialKind.SymmetricKey)]
    [InlineData(CredentialKind.X509Certificate)]
    public async Task Quickstart_scenario_runs_against_the_double(CredentialKind kind)
    {
        await using var hub = await IotHubDouble.StartAsync();
        await using var provider = IotHubDoubleProviders.Create(hub);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var log = new StringWriter();
        var outcome = await AzureScenario.RunAsync(provider, 5, log, cancel.Token, kind);

        Assert.Equal(5, outcome.Registered);
        Assert.Equal(5, outcome.Connected);
        Assert.Equal(5, outcome.CommandsOk);
        // Every record reached the hub, packed into few messages (no MQTT batching: one message, many records).
        var messages = hub.Telemetry.Where(t => t.Topic.Contains("%24.ct=application%2Fjson", StringComparison.Ordinal)).ToList();
        Assert.Equal(outcome.RecordsSent, messages.Sum(m => TelemetryJson.ReadBatch(m.Payload).Count));
        Assert.True(messages.Count <= 10, $"{messages.Count} messages for {outcome.RecordsSent} records");
        Assert.All(messages, m => Assert.Matches(@"^devices/dev-\d{3}/messages/events/%24\.mid=[0-9a-f]{32}&%24\.ct=application%2Fjson&%24\.ce=utf-8$", m.Topic));
        Assert.Equal(RolloutStatus.Completed, outcome.Rollout.Status);
        Assert.Equal(4, outcome.Rollout.Count(DeviceRolloutStatus.Succeeded));
        Assert.Equal(1, outcome.Rollout.Count(DeviceRolloutStatus.RolledBack));
        Assert.Equal("1.0.0", outcome.RunningVersions["dev-005"]);
        Assert.All(outcome.RunningVersions.Where(p => p.Key != "dev-005"), p => Assert.Equal("1.1.0", p.Value));
    }
}
