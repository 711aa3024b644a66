using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace FleetHealthSample;

/// <summary>What the run ended with: the last summary and which devices were made faulty.</summary>
/// <param name="Summary">The fleet health summary at the end.</param>
/// <param name="SilentDevices">Devices that stopped sending while staying connected.</param>
/// <param name="OfflineDevice">The device that disconnected.</param>
/// <param name="DriftingDevice">The device whose temperature drifted away.</param>
/// <param name="Alerts">Every alert transition seen, as dashboard lines.</param>
public sealed record FleetHealthReport(FleetHealthSummary Summary, IReadOnlyList<string> SilentDevices, string OfflineDevice, string DriftingDevice, IReadOnlyList<string> Alerts)
{
    /// <summary>Whether the summary names every faulty device under the right rule.</summary>
    public bool Detected =>
        SilentDevices.All(Firing("silence").Contains) && Firing("offline").Contains(OfflineDevice)
        && Firing("anomaly").Contains(DriftingDevice);

    /// <summary>The devices the rule named <paramref name="ruleName"/> (<see cref="AlertRule.Name"/>) fires for at the end.</summary>
    public IReadOnlyList<string> Firing(string ruleName) => Summary.Firing.FirstOrDefault(r => r.Key.Name == ruleName).Value ?? [];
}

/// <summary>The simulation and the dashboard; the program and the sample's test both run it.</summary>
public static class FleetHealthDemo
{
    private const string Metric = "temperature";
    private static readonly TimeSpan ReadingEvery = TimeSpan.FromMilliseconds(250);

    /// <summary>Runs the simulated fleet for <see cref="FleetHealthOptions.Seconds"/> and draws the dashboard on <paramref name="console"/>.</summary>
    public static async Task<FleetHealthReport> RunAsync(FleetHealthOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        var time = TimeProvider.System;
        await using var provider = await LocalIoTProvider.StartAsync(timeProvider: time, cancellationToken: cancellationToken);
        var ids = Enumerable.Range(1, options.Devices).Select(i => $"dev-{i:00}").ToList();
        string[] silent = [ids[2], ids[6]];
        var offline = ids[4];
        var drifting = ids[8];

        // Silence and offline after 3 s; the anomaly rule learns slowly (alpha 0.05), raises at |z| > 4 and clears only
        // below 1, so a device that keeps drifting stays flagged instead of being learned as the new normal.
        var monitor = new AlertMonitor(
        [
            AlertRule.Silence(TimeSpan.FromSeconds(3), cooldown: TimeSpan.FromSeconds(30)),
            AlertRule.Offline(TimeSpan.FromSeconds(3), cooldown: TimeSpan.FromSeconds(30)),
            AlertRule.Ewma(Metric, alpha: 0.05, raiseAboveZ: 4, clearBelowZ: 1, warmUp: 10),
        ], time);
        var alertLines = new ConcurrentQueue<string>();
        // One alert type for every rule: metric alerts carry a value and score, health alerts how long the device was quiet.
        void Log(Alert a) =>
            alertLines.Enqueue($"{time.GetLocalNow():HH:mm:ss} {(a.Cleared ? "[green]cleared[/]" : "[red]raised[/]")} {a.Rule.Name} {a.DeviceId} "
                + (a.Duration is { } d ? $"after {d.TotalSeconds:0.0} s" : $"{a.Value:0.0} °C, |z| {a.Score:0.0}"));

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Each stream subscribes on its first MoveNextAsync, started here before any device connects, so nothing is missed.
        // The monitor streams every rule's alerts, so the dashboard reads them in one place.
        var pumps = new[]
        {
            Pump(provider.Registry.ReadPresenceEventsAsync(stop.Token), e => monitor.Observe(e)),
            Pump(provider.Telemetry.ReadAllAsync(stop.Token), r => monitor.Process([r])),
            Pump(monitor.ReadAlertsAsync(stop.Token), Log),
        };
        var evaluator = monitor.RunAsync(TimeSpan.FromMilliseconds(500), stop.Token);

        var devices = new List<IDeviceConnection>();
        try
        {
            console.MarkupLine($"Provisioning and connecting {ids.Count} devices over mutual TLS to the embedded broker on port {provider.Port}…");
            foreach (var (id, index) in ids.Select((id, i) => (id, i)))
            {
                var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }, cancellationToken);
                var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = registration.Credential! });
                await device.ConnectAsync(cancellationToken);
                var version = index % 4 == 0 ? "1.3.0" : "1.4.2";
                // The device reports the firmware it runs the way the SDK's firmware agent does (reported "firmware": {"version"}).
                await new FirmwareUpdateAgent(device, version, (_, _, _) => ValueTask.FromResult(true)).ReportRunningVersionAsync(cancellationToken);
                monitor.Expect(id);
                devices.Add(device);
            }
            console.MarkupLine($"In {options.Seconds / 3} s [yellow]{string.Join(" and ", silent)}[/] go silent, [yellow]{offline}[/] disconnects and [yellow]{drifting}[/] starts to drift.");

            var faultsAt = TimeSpan.FromSeconds(options.Seconds / 3.0);
            var endAt = TimeSpan.FromSeconds(options.Seconds);
            var started = time.GetTimestamp();
            var nextDraw = TimeSpan.Zero;
            var reading = 0;
            var faulty = false;
            var driftFrom = 0;
            using var tick = new PeriodicTimer(ReadingEvery, time);
            var display = new DashboardView(console);
            while (time.GetElapsedTime(started) < endAt && await tick.WaitForNextTickAsync(cancellationToken))
            {
                if (!faulty && time.GetElapsedTime(started) >= faultsAt)
                {
                    faulty = true;
                    driftFrom = reading;
                    await devices[ids.IndexOf(offline)].DisposeAsync(); // a clean disconnect; the broker reports it
                }
                reading++;
                for (var i = 0; i < devices.Count; i++)
                {
                    var id = ids[i];
                    if (faulty && (silent.Contains(id) || id == offline)) continue;
                    // A gentle, deterministic wobble around 20 °C; the drifting device climbs 0.5 °C per reading once faulty.
                    var value = 20 + 0.3 * Math.Sin(reading * 0.9 + i) + (faulty && id == drifting ? 0.5 * (reading - driftFrom + 1) : 0);
                    await devices[i].SendTelemetryAsync(new TelemetryRecord(id, Metric, Math.Round(value, 2), time.GetUtcNow()), cancellationToken);
                }
                if (time.GetElapsedTime(started) >= nextDraw)
                {
                    nextDraw += TimeSpan.FromSeconds(1);
                    display.Draw(await SummarizeAsync(provider, monitor, time, cancellationToken), alertLines, time.GetElapsedTime(started));
                }
            }
            monitor.Evaluate();
            var summary = await SummarizeAsync(provider, monitor, time, cancellationToken);
            display.Draw(summary, alertLines, time.GetElapsedTime(started), final: true);
            return new FleetHealthReport(summary, silent, offline, drifting, [.. alertLines]);
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var device in devices.Where((_, i) => ids[i] != offline)) await device.DisposeAsync();
            foreach (var pump in pumps.Append(evaluator))
            {
                try
                {
                    await pump.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                }
                catch (OperationCanceledException)
                {
                    // Stopped, as asked.
                }
            }
        }
    }

    private static async Task<FleetHealthSummary> SummarizeAsync(LocalIoTProvider provider, AlertMonitor monitor, TimeProvider time, CancellationToken ct)
    {
        var presence = new List<DevicePresence>();
        var firmware = new Dictionary<string, string>(StringComparer.Ordinal);
        // Every page of the fleet's presence; the listing fetches the next page as the loop reaches it.
        await foreach (var p in provider.Registry.ListPresenceAsync(cancellationToken: ct))
            presence.Add(p);
        foreach (var p in presence)
        {
            var state = await provider.State.GetAsync(p.DeviceId, ct);
            // The running version as the firmware agent reports it: reported "firmware": {"version": ...}.
            if (state.Reported["firmware"]?["version"]?.GetValue<string>() is { } version) firmware[p.DeviceId] = version;
        }
        return FleetHealthSummary.Create(presence, firmware, monitor, time);
    }

    private static Task Pump<T>(IAsyncEnumerable<T> source, Action<T> handle)
    {
        var items = source.GetAsyncEnumerator();
        var first = items.MoveNextAsync(); // subscribes now
        return Task.Run(async () =>
        {
            try
            {
                for (var next = first; await next.ConfigureAwait(false); next = items.MoveNextAsync()) handle(items.Current);
            }
            finally
            {
                await items.DisposeAsync().ConfigureAwait(false);
            }
        });
    }

    /// <summary>Draws the summary: in place on a terminal, as successive snapshots when the output is redirected.</summary>
    private sealed class DashboardView(IAnsiConsole console)
    {
        public void Draw(FleetHealthSummary summary, IEnumerable<string> alerts, TimeSpan elapsed, bool final = false)
        {
            if (console.Profile.Capabilities.Interactive && !final) console.Clear(home: true);
            else if (!final) console.WriteLine();
            console.Write(Render(summary, alerts, elapsed, final));
        }

        private static IRenderable Render(FleetHealthSummary s, IEnumerable<string> alerts, TimeSpan elapsed, bool final)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("What", "OK", "Firing / count", "Devices");
            table.AddRow("Connectivity", $"{s.Online} online", $"{s.Offline} offline, {s.Unknown} unknown", "");
            foreach (var (version, count) in s.FirmwareVersions) table.AddRow("Firmware", "", $"{count}", Markup.Escape(version));
            foreach (var (rule, firing) in s.Firing)
                table.AddRow(Markup.Escape(rule.Metric is null ? rule.Name : $"{rule.Name} ({rule.Metric})"), $"{s.Devices - firing.Count}",
                    firing.Count == 0 ? "[green]0[/]" : $"[red]{firing.Count}[/]", Markup.Escape(string.Join(", ", firing)));
            table.Title($"[bold]Fleet health[/] — {s.Devices} devices, t+{elapsed.TotalSeconds:0} s{(final ? " (final)" : "")}");
            var recent = alerts.TakeLast(8).ToList();
            return new Rows(table, new Markup(recent.Count == 0 ? "[grey]no alerts yet[/]" : string.Join('\n', recent)));
        }
    }
}
