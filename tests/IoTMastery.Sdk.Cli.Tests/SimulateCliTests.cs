using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// <c>iotm simulate</c> as a process: against the Local provider (registration with the bulk API, mutual TLS to the embedded
/// broker, records read back from its telemetry channel) and against Mosquitto over plain MQTT. Counts only, never timings.
/// </summary>
public sealed class SimulateCliTests : IDisposable
{
    // Connecting is bounded per device by --connect-timeout; the process bound covers that and the run on a busy machine.
    private static readonly TimeSpan ProcessBound = TimeSpan.FromMinutes(6);
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-sim-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string LocalConfig()
    {
        var config = Path.Combine(_dir, "appsettings.json");
        File.WriteAllText(config, new JsonObject
        {
            ["IoT"] = new JsonObject { ["Local"] = new JsonObject { ["sim"] = new JsonObject { ["DatabasePath"] = Path.Combine(_dir, "fleet.db") } } },
        }.ToJsonString());
        return config;
    }

    private static Task<IotmRun> Iotm(params string[] args) => IotmProcess.RunFileAsync("dotnet", [IotmProcess.DllPath, .. args], bound: ProcessBound);

    private static JsonNode Summary(IotmRun run)
    {
        Assert.True(run.ExitCode == 0, run.ToString());
        return JsonNode.Parse(run.Stdout)!;
    }

    [Fact]
    public async Task Local_fleet_with_cut_silent_devices_and_bad_records_connects_every_device_and_delivers_records()
    {
        var run = await Iotm("simulate", "--provider", "local", "--config", LocalConfig(), "--devices", "200", "--rate", "100", "--duration", "3s",
            "--drop-percent", "10", "--silent-percent", "10", "--bad-record-percent", "10", "--connect-timeout", "240s", "-o", "json");
        var s = Summary(run);

        Assert.Equal(200, (int)s["devices"]!);
        Assert.True((bool)s["brokerInProcess"]!);
        Assert.Equal(200, (int)s["registered"]!);
        Assert.Equal(0, (int)s["failed"]!);
        Assert.Equal(200, (int)s["peakConnected"]!);
        // Every cut device came back: all 200 are connected when the run ends.
        Assert.Equal(200, (int)s["connected"]!);
        Assert.Equal(20, (int)s["drops"]!);
        Assert.True((long)s["reconnects"]! >= 20, run.ToString());
        Assert.Equal(20, (int)s["silentDevices"]!);
        var sent = (long)s["recordsSent"]!;
        var bad = (long)s["badRecordsSent"]!;
        var received = (long)s["recordsReceived"]!;
        Assert.True(sent > 0, run.ToString());
        Assert.InRange(bad, 0, sent);
        // The broker drops malformed batches; a good record can be lost only with a cut connection (QoS 0).
        Assert.InRange(received, 1, sent - bad);
        Assert.True((double)s["peakRssMb"]! > 0);
        Assert.Contains("connected", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("rss", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_mqtt_broker_gets_every_simulated_device_without_registration()
    {
        var plainPort = FreePort();
        // A second, plain listener next to the harness's TLS one; per_listener_settings applies allow_anonymous to it alone.
        await using var mosquitto = await MosquittoBroker.StartAsync(new MosquittoBrokerOptions
        {
            ExtraConfiguration = [$"listener {plainPort} 127.0.0.1", "allow_anonymous true"],
            LogTypes = ["notice", "error", "warning"],
        });

        var run = await Iotm("simulate", "--broker", $"127.0.0.1:{plainPort}", "--devices", "50", "--rate", "50", "--duration", "2s",
            "--silent-percent", "20", "--connect-timeout", "240s", "-o", "json");
        var s = Summary(run);

        Assert.Equal(50, (int)s["connected"]!);
        Assert.Equal(0, (int)s["failed"]!);
        Assert.Equal(10, (int)s["silentDevices"]!);
        Assert.True((long)s["recordsSent"]! > 0, run.ToString());
        Assert.Null(s["registered"]);
        // Mosquitto logs each new client at notice level: every device reached it.
        var log = mosquitto.ReadLog();
        var clients = System.Text.RegularExpressions.Regex.Matches(log, @"as (sim-[0-9a-f]{6}-\d{6})").Select(m => m.Groups[1].Value).Distinct().Count();
        Assert.Equal(50, clients);
    }

    [Theory]
    [InlineData("--devices", "0")]
    [InlineData("--drop-percent", "150")]
    [InlineData("--connect-concurrency", "0")]
    public async Task Bad_input_is_a_usage_error_before_any_connection(string option, string value)
    {
        var args = new List<string> { "simulate", "--broker", "127.0.0.1:1", "--devices", "5", "--rate", "1" };
        var at = args.IndexOf(option);
        if (at >= 0) args[at + 1] = value;
        else args.AddRange([option, value]);

        var run = await Iotm([.. args]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains(option, run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout.Trim());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
