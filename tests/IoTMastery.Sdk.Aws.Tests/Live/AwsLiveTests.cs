using IoTMastery.Sdk.TestSupport;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws.Tests.Live;

/// <summary>
/// Opt-in tests against a real AWS IoT Core account (<see cref="LiveFactAttribute"/>). Each test creates its own
/// uniquely named thing and deletes it (with its certificate) in finally; the device policy <c>iotmastery-device</c>
/// is created once by the provider and left in place.
/// </summary>
public sealed class AwsLiveTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static Task<AwsIoTProvider> StartAsync() =>
        AwsIoTProvider.StartAsync(new AwsIoTOptions { Region = Environment.GetEnvironmentVariable("AWS_REGION") ?? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") ?? "us-east-1" });

    private static string NewThing() => "iotm-live-" + Guid.NewGuid().ToString("N")[..12];

    [LiveFact]
    public async Task A_thing_is_created_described_and_deleted()
    {
        await using var aws = await StartAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var thing = NewThing();
        try
        {
            var registered = await aws.Registry.RegisterAsync(new DeviceRegistration { Id = thing, Attributes = new Dictionary<string, string> { ["site"] = "live-test" } }, cts.Token);
            Assert.NotNull(registered.Credential?.CertificatePem);
            var described = await aws.Registry.GetAsync(thing, cts.Token);
            Assert.Equal(thing, described.Id);
            Assert.Equal("live-test", described.Attributes["site"]);
        }
        finally
        {
            await aws.Registry.DeleteAsync(thing, CancellationToken.None);
        }
        await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => aws.Registry.GetAsync(thing, cts.Token));
    }

    [LiveFact]
    public async Task The_shadow_round_trips_desired_state_with_versions()
    {
        await using var aws = await StartAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var thing = NewThing();
        try
        {
            await aws.Registry.RegisterAsync(new DeviceRegistration { Id = thing }, cts.Token);
            var first = await aws.State.UpdateDesiredAsync(thing, new JsonObject { ["mode"] = "eco" }, cancellationToken: cts.Token);
            var read = await aws.State.GetAsync(thing, cts.Token);
            Assert.Equal("eco", (string?)read.Desired["mode"]);
            Assert.Equal(first.DesiredVersion, read.DesiredVersion);
            await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () => aws.State.UpdateDesiredAsync(thing, new JsonObject { ["mode"] = "boost" }, first.DesiredVersion - 1, cts.Token));
        }
        finally
        {
            await aws.Registry.DeleteAsync(thing, CancellationToken.None);
        }
    }

    [LiveFact]
    public async Task A_real_device_receives_desired_state_over_mqtt_and_reports_back()
    {
        await using var aws = await StartAsync();
        using var cts = new CancellationTokenSource(Timeout);
        var thing = NewThing();
        try
        {
            var registered = await aws.Registry.RegisterAsync(new DeviceRegistration { Id = thing }, cts.Token);
            await aws.State.UpdateDesiredAsync(thing, new JsonObject { ["mode"] = "eco" }, cancellationToken: cts.Token);
            await using var device = aws.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = thing, Credential = registered.Credential! });
            var changes = new ConcurrentQueue<(JsonObject Desired, long Version)>();
            device.SetDesiredStateHandler((document, version, _) => { changes.Enqueue((document, version)); return ValueTask.CompletedTask; });
            await device.ConnectAsync(cts.Token);
            while (!changes.Any(c => (string?)c.Desired["mode"] == "eco")) await Task.Delay(200, cts.Token);
            await device.ReportStateAsync(new JsonObject { ["mode"] = "eco" }, cts.Token);
            while ((string?)(await aws.State.GetAsync(thing, cts.Token)).Reported["mode"] != "eco") await Task.Delay(500, cts.Token);
        }
        finally
        {
            await aws.Registry.DeleteAsync(thing, CancellationToken.None);
        }
    }
}
