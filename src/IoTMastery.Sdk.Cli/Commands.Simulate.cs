using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Cli.Simulation;
using IoTMastery.Sdk.Local;

namespace IoTMastery.Sdk.Cli;

internal static partial class IotmApp
{
    /// <summary>Devices per bulk registration call while the simulator registers its fleet (progress is shown between calls).</summary>
    private const int SimulationRegistrationChunk = 5_000;

    private static Command SimulateCommand(TextWriter stdout, TextWriter stderr)
    {
        var devices = new Option<int>("--devices") { Description = "simulated devices", Required = true };
        var rate = new Option<double>("--rate") { Description = "telemetry records per second across the whole fleet", Required = true };
        var duration = new Option<string>("--duration") { Description = "how long records are sent once the fleet is connected (e.g. 30s, 5m)", DefaultValueFactory = _ => "10s" };
        var broker = new Option<string?>("--broker") { Description = "host:port of an MQTT broker: plain MQTT without registration; with --provider local, the Local broker of that database running in another process (TLS)" };
        var drop = new Option<double>("--drop-percent") { Description = "percent of devices whose connection is cut once during the run (they reconnect)" };
        var silent = new Option<double>("--silent-percent") { Description = "percent of devices that stay connected but send nothing" };
        var bad = new Option<double>("--bad-record-percent") { Description = "percent of records sent as malformed JSON" };
        var connectTimeout = new Option<string>("--connect-timeout") { Description = "how long one device may take to (re)connect, retries included", DefaultValueFactory = _ => "120s" };
        var concurrency = new Option<int>("--connect-concurrency") { Description = "connection attempts in flight at once", DefaultValueFactory = _ => 32 };
        var seed = new Option<int>("--seed") { Description = "seeds the choice of silent and cut devices and of bad records", DefaultValueFactory = _ => 17 };
        var simulate = new Command("simulate", "a fleet of simulated devices in one process: registers them on Local with the bulk API and connects them all, or connects to any MQTT broker; live connects/s, records/s and RSS; exit 7 if any device failed")
        {
            devices, rate, duration, broker, drop, silent, bad, connectTimeout, concurrency, seed,
        };
        SimulationOptions Input(ParseResult p)
        {
            var options = new SimulationOptions
            {
                Devices = p.GetValue(devices),
                Rate = p.GetValue(rate),
                Duration = Durations.Parse(p.GetValue(duration)!, "--duration"),
                DropPercent = p.GetValue(drop),
                SilentPercent = p.GetValue(silent),
                BadRecordPercent = p.GetValue(bad),
                ConnectTimeout = Durations.Parse(p.GetValue(connectTimeout)!, "--connect-timeout"),
                ConnectConcurrency = p.GetValue(concurrency),
                Seed = p.GetValue(seed),
            };
            options.Validate();
            if (p.GetValue(broker) is { } b) SimulationTarget.ParseHostPort(b);
            var kind = p.GetValue(ProviderOption);
            if (kind is not null && kind != "local")
                throw new CliUsageException("simulate registers devices on the Local provider only; for AWS, Azure or GCP-style brokers give --broker host:port without --provider.");
            if (kind is null && p.GetValue(broker) is null)
                throw new CliUsageException("simulate needs --provider local (registers the fleet and connects to the Local broker) or --broker host:port (any MQTT broker, plain MQTT).");
            return options;
        }
        SetAction(simulate, stdout, stderr, false, async (c, cancellationToken) =>
        {
            var options = Input(c.Parse);
            var brokerText = c.Parse.GetValue(broker);
            var runId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
            var ids = Enumerable.Range(0, options.Devices).Select(i => $"sim-{runId}-{i:D6}").ToArray();
            var silentPick = FleetSimulator.Pick(options.Devices, options.SilentPercent, new Random(options.Seed + 1));
            var received = 0L;
            var registrationFailed = 0;
            double? registrationSeconds = null;
            SimulationTarget target;
            List<SimulatedDevice> fleet;
            Task? drain = null;
            using var stopDrain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            LocalIoTProvider? local = null;

            if (c.Parse.GetValue(ProviderOption) is null)
            {
                var (host, port) = SimulationTarget.ParseHostPort(brokerText!);
                target = new SimulationTarget(host, port, null);
                fleet = ids.Select((id, i) => new SimulatedDevice(id, null, silentPick[i])).ToList();
            }
            else
            {
                var (kind, name, _) = ProviderSession.Select(c.Configuration, "local", c.Parse.GetValue(NameOption));
                c.Session = await ProviderSession.StartAsync(c.Configuration, kind, name, cancellationToken).ConfigureAwait(false);
                local = c.Provider as LocalIoTProvider ?? throw new CliUsageException("simulate needs the Local provider itself.");
                var (host, port) = brokerText is null ? ("127.0.0.1", local.Port) : SimulationTarget.ParseHostPort(brokerText);
                target = new SimulationTarget(host, port, local.CertificateAuthority);
                var watch = Stopwatch.StartNew();
                fleet = new List<SimulatedDevice>(options.Devices);
                for (var start = 0; start < ids.Length; start += SimulationRegistrationChunk)
                {
                    var chunk = ids.Skip(start).Take(SimulationRegistrationChunk)
                        .Select(id => new DeviceRegistration { Id = id, Attributes = new Dictionary<string, string> { ["simulation"] = runId }, Credential = CredentialRequest.X509 })
                        .ToList();
                    var result = await local.Registry.RegisterManyAsync(chunk, cancellationToken).ConfigureAwait(false);
                    foreach (var item in result)
                    {
                        if (item.Succeeded) fleet.Add(new SimulatedDevice(item.DeviceId, item.Registration!.Credential, silentPick[start + item.Index]));
                        else registrationFailed++;
                    }
                    await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"registered {fleet.Count:N0}/{ids.Length:N0} ({fleet.Count / Math.Max(0.001, watch.Elapsed.TotalSeconds):N0}/s)")).ConfigureAwait(false);
                }
                registrationSeconds = watch.Elapsed.TotalSeconds;
                // The embedded broker hands records to the provider's telemetry channel; reading it keeps the intake from filling.
                if (brokerText is null)
                    drain = Task.Run(async () =>
                    {
                        try
                        {
                            await foreach (var _ in local.Telemetry.ReadAllAsync(stopDrain.Token).ConfigureAwait(false)) Interlocked.Increment(ref received);
                        }
                        catch (OperationCanceledException)
                        {
                        }
                    }, CancellationToken.None);
            }

            var simulator = new FleetSimulator(options, target, fleet);
            using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var progress = ReportProgressAsync(simulator, stderr, stopProgress.Token);
            SimulationSummary summary;
            try
            {
                summary = await simulator.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await stopProgress.CancelAsync().ConfigureAwait(false);
                await progress.ConfigureAwait(false);
            }
            if (drain is not null)
            {
                // QoS 0 records still in the broker's hands arrive within moments; the count is read after a bounded settle.
                var expected = summary.RecordsSent - summary.BadRecordsSent;
                for (var i = 0; i < 50 && Interlocked.Read(ref received) < expected; i++) await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                await stopDrain.CancelAsync().ConfigureAwait(false);
                await drain.ConfigureAwait(false);
            }

            var failed = summary.Failed + registrationFailed;
            var peakRss = ProcessMemory.PeakBytes();
            var doc = new JsonObject
            {
                ["devices"] = options.Devices,
                ["target"] = local is null ? $"mqtt://{target.Host}:{target.Port}" : $"local mqtts://{target.Host}:{target.Port}",
                ["brokerInProcess"] = local is not null && brokerText is null,
                ["registered"] = local is null ? null : fleet.Count,
                ["registrationSeconds"] = registrationSeconds is { } rs ? Math.Round(rs, 3) : null,
                ["registrationsPerSecond"] = registrationSeconds is { } r2 ? Math.Round(fleet.Count / Math.Max(0.001, r2), 1) : null,
                ["connected"] = summary.Connected,
                ["peakConnected"] = summary.PeakConnected,
                ["secondsToConnectAll"] = summary.SecondsToConnectAll < 0 ? null : Math.Round(summary.SecondsToConnectAll, 3),
                ["failed"] = failed,
                ["connects"] = summary.Connects,
                ["drops"] = summary.Drops,
                ["reconnects"] = summary.Reconnects,
                ["connectionsLost"] = summary.ConnectionsLost,
                ["silentDevices"] = summary.SilentDevices,
                ["recordsSent"] = summary.RecordsSent,
                ["badRecordsSent"] = summary.BadRecordsSent,
                ["recordsReceived"] = drain is null ? null : Interlocked.Read(ref received),
                ["runSeconds"] = Math.Round(summary.RunSeconds, 3),
                ["recordsPerSecond"] = Math.Round(summary.RecordsSent / Math.Max(0.001, summary.RunSeconds), 1),
                ["peakRssMb"] = Math.Round(peakRss / 1048576.0, 1),
                ["firstError"] = failed > 0 ? summary.FirstError : null,
            };
            c.Output.WriteObject(doc);
            return failed > 0 ? ExitCodes.Unsuccessful : ExitCodes.Ok;
        }, p => Input(p));
        return simulate;
    }

    // One line a second on stderr, so stdout stays the summary alone (parseable with --output json).
    private static async Task ReportProgressAsync(FleetSimulator simulator, TextWriter stderr, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var watch = Stopwatch.StartNew();
        var (lastConnects, _, lastRecords, _) = simulator.Counters;
        var lastTime = TimeSpan.Zero;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var (connects, connected, records, failed) = simulator.Counters;
                var now = watch.Elapsed;
                var seconds = Math.Max(0.001, (now - lastTime).TotalSeconds);
                await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"[{now.TotalSeconds,5:0}s] connected {connected,7:N0}  connects/s {(connects - lastConnects) / seconds,7:N0}  records/s {(records - lastRecords) / seconds,8:N0}  failed {failed,5:N0}  rss {ProcessMemory.CurrentBytes() / 1048576.0,7:N0} MB")).ConfigureAwait(false);
                (lastConnects, lastRecords, lastTime) = (connects, records, now);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
