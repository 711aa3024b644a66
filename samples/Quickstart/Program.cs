using System.Diagnostics;
using System.Security.Cryptography;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Local;
using Quickstart;
using Spectre.Console;

// The whole device-management loop on a laptop: provision a fleet with certificates, connect it
// over mutual TLS, stream telemetry with a threshold alert, command every device, and roll
// firmware out in waves while one device fails its update and is rolled back.
QuickstartOptions options;
try
{
    options = QuickstartOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

var clock = Stopwatch.StartNew();
var time = TimeProvider.System;
using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
var ct = cancel.Token;

AnsiConsole.Write(new Rule("[bold]IoTMastery.Sdk quickstart[/] — embedded Local provider").LeftJustified());
// The provider creates the database's folder (owner-only), the database (0600) and, beside it, the CA key file {db}.cakey.
LocalIoTProvider started;
try
{
    started = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = options.DatabasePath }, time, cancellationToken: ct);
}
catch (IoTException ex) when (ex.Kind == IoTErrorKind.CertificateAuthorityKey)
{
    // The database's CA is locked with another key: say so plainly rather than with a stack trace.
    Console.Error.WriteLine(ex.Message);
    return 1;
}
await using var provider = started;
AnsiConsole.MarkupLine($"Broker listening on [green]mqtts://127.0.0.1:{provider.Port}[/] (mutual TLS), registry in [green]{Markup.Escape(options.DatabasePath ?? "memory")}[/].");
if (options.DatabasePath is { } dbPath)
    AnsiConsole.MarkupLine($"The CA's private key is encrypted in the database with the key in [green]{Markup.Escape(dbPath)}.cakey[/] (owner-only; or set {LocalIoTOptions.CaKeyPassphraseEnvironmentVariable}).");

// The fleet operator's firmware signing key. It stays on the operator side; devices get only the public half.
// With --db it is kept beside the database (owner-only) so releases signed on the first run still verify on the next.
using var signer = OperatorKey.LoadOrCreate(options.DatabasePath);
AnsiConsole.MarkupLine($"Firmware releases are signed with the operator's ECDSA P-256 key{(options.DatabasePath is null ? "" : $" ([green]{Markup.Escape(OperatorKey.PathFor(options.DatabasePath))}[/])")}; devices verify before installing.");

// 1. Provision: register each device with an X.509 certificate from the local CA. A device that
// already exists (a second run with --db) gets its certificate rotated instead.
var ids = Enumerable.Range(1, options.Devices).Select(i => $"dev-{i:000}").ToList();
var credentials = new Dictionary<string, IssuedCredential>();
int registered = 0, rotated = 0;
await AnsiConsole.Progress().StartAsync(async progress =>
{
    var task = progress.AddTask("Provisioning devices", maxValue: ids.Count);
    foreach (var id in ids)
    {
        try
        {
            var result = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = CredentialRequest.X509 }, ct);
            credentials[id] = result.Credential!;
            registered++;
        }
        catch (IoTException ex) when (ex.Kind == IoTErrorKind.AlreadyExists)
        {
            var device = await provider.Registry.GetAsync(id, ct);
            var old = device.Credentials.First(c => !c.Revoked);
            credentials[id] = await provider.Registry.RotateCredentialAsync(id, old.Id, cancellationToken: ct);
            rotated++;
        }
        task.Increment(1);
    }
});
AnsiConsole.MarkupLine($"[green]✓[/] {registered} registered, {rotated} re-used with a rotated certificate.");

// 2. Connect every device over mTLS. The device in the middle of the second wave will fail its update.
int canary = Math.Max(1, ids.Count / 10);
var failing = ids[canary + (ids.Count - canary) / 2];
var devices = new List<SimulatedDevice>();
await AnsiConsole.Progress().StartAsync(async progress =>
{
    var task = progress.AddTask("Connecting over mutual TLS", maxValue: ids.Count);
    foreach (var id in ids)
    {
        var connection = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credentials[id] });
        var device = new SimulatedDevice(connection, failsUpdate: id == failing, time, signer.ExportSubjectPublicKeyInfoPem());
        await device.ConnectAsync(ct);
        devices.Add(device);
        task.Increment(1);
    }
});
AnsiConsole.MarkupLine($"[green]✓[/] {devices.Count(d => d.Connection.IsConnected)}/{devices.Count} devices connected.");

// 3. Telemetry with a threshold alert: raise above 80 °C, clear only below 70 °C (hysteresis).
var rule = AlertRule.Threshold("temperature", raiseAbove: 80, clearBelow: 70);
var alerts = new AlertMonitor([rule]);
var alertLog = new List<Alert>();
const int readingsPerDevice = 40;
int expected = readingsPerDevice * devices.Count, received = 0;
using var consumerStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
var consumerReady = new TaskCompletionSource();
var consumer = Task.Run(async () =>
{
    var stream = provider.Telemetry.ReadAllAsync(consumerStop.Token).GetAsyncEnumerator(consumerStop.Token);
    var next = stream.MoveNextAsync();
    consumerReady.SetResult();
    try
    {
        while (await next)
        {
            lock (alertLog) alerts.Process([stream.Current], alertLog); // adds the transitions it causes
            if (Interlocked.Increment(ref received) == expected) break;
            next = stream.MoveNextAsync();
        }
    }
    finally
    {
        await stream.DisposeAsync();
    }
}, ct);
await consumerReady.Task;
var hot = devices[Math.Min(6, devices.Count - 1)];
await AnsiConsole.Progress().StartAsync(async progress =>
{
    var task = progress.AddTask("Streaming telemetry", maxValue: expected);
    var start = time.GetUtcNow();
    for (int i = 0; i < readingsPerDevice; i++)
    {
        foreach (var device in devices)
        {
            double value = device == hot ? HotProfile(i) : 21 + Random.Shared.NextDouble() * 3;
            await device.Connection.SendTelemetryAsync(new TelemetryRecord(device.Id, "temperature", Math.Round(value, 2), start.AddSeconds(i)), ct);
        }
        task.Increment(devices.Count);
    }
    foreach (var device in devices) await device.Connection.FlushAsync(ct);
});
await consumer.WaitAsync(TimeSpan.FromSeconds(30), ct);
AnsiConsole.MarkupLine($"[green]✓[/] {received}/{expected} telemetry records delivered and consumed.");
var alertTable = new Table().AddColumns("Device", "Alert", "Value", "At reading");
foreach (var alert in alertLog)
    alertTable.AddRow(alert.DeviceId, alert.Cleared ? "[green]cleared[/]" : "[red]raised[/]", $"{alert.Value:0.0} °C", $"t+{(alert.Timestamp - alertLog[0].Timestamp).TotalSeconds:0} s");
AnsiConsole.Write(alertTable.Title($"Threshold alerts: {rule.Metric} raises above {rule.RaiseAbove}, clears below {rule.ClearBelow}"));

// 4. Commands: reboot every device and collect the replies.
var replies = await Task.WhenAll(devices.Select(async d =>
{
    var sw = Stopwatch.StartNew();
    try
    {
        var reply = await provider.Commands.InvokeAsync(d.Id, new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(10) }, ct);
        return (d.Id, reply.Status, sw.Elapsed);
    }
    catch (IoTException ex)
    {
        return (d.Id, Status: ex is IoTException { Kind: IoTErrorKind.CommandTimeout } ? 504 : 503, sw.Elapsed);
    }
}));
var ok = replies.Count(r => r.Status == 200);
AnsiConsole.MarkupLine($"[green]✓[/] reboot: {ok}/{replies.Length} replied 200, median round trip {replies.Select(r => r.Elapsed.TotalMilliseconds).Order().ElementAt(replies.Length / 2):0.0} ms.");

// 5. Firmware: 1.0.0 is what devices run; 1.1.0 goes to a canary wave, then the rest.
// Images live beside the database when there is one, so a second run can still roll back to them.
var firmwareDir = options.DatabasePath is { } db ? Directory.CreateDirectory(db + ".firmware") : Directory.CreateTempSubdirectory("iotmastery-firmware-");
try
{
    var previous = await EnsureReleaseAsync(provider.Firmware, signer, "1.0.0", firmwareDir, ct);
    var release = await EnsureReleaseAsync(provider.Firmware, signer, "1.1.0", firmwareDir, ct);
    var plan = new RolloutPlan
    {
        ReleaseVersion = release.Version,
        DeviceIds = ids,
        WaveSizes = [canary, ids.Count - canary],
        SuccessThreshold = 0.9,
        FailureThreshold = 0.2,
        DeviceTimeout = TimeSpan.FromSeconds(30),
    };
    var operation = await provider.Firmware.StartRolloutAsync(plan, ct);
    var rollout = operation.Value;
    await AnsiConsole.Progress().StartAsync(async progress =>
    {
        var task = progress.AddTask($"Rolling out {release.Version}", maxValue: ids.Count);
        // No polling loop: the handle wakes on each device report and hands every new state to the progress callback.
        rollout = await operation.WaitForCompletionAsync(new InlineProgress<Rollout>(current =>
        {
            task.Value = current.Devices.Count(d => d.Status is not (DeviceRolloutStatus.Pending or DeviceRolloutStatus.InProgress));
            task.Description = $"Rolling out {release.Version} (wave {current.CurrentWave + 1}/{current.WaveCount})";
        }), ct);
        task.Value = task.MaxValue;
    });
    var waves = new Table().AddColumns("Wave", "Devices", "Succeeded", "Failed → rolled back");
    foreach (var wave in rollout.Devices.GroupBy(d => d.Wave).OrderBy(g => g.Key))
        waves.AddRow($"{wave.Key + 1}", $"{wave.Count()}", $"{wave.Count(d => d.Status == DeviceRolloutStatus.Succeeded)}",
            string.Join(", ", wave.Where(d => d.Status is DeviceRolloutStatus.Failed or DeviceRolloutStatus.RolledBack).Select(d => d.DeviceId)));
    AnsiConsole.Write(waves.Title($"Rollout {Markup.Escape(rollout.Id)}: [bold]{rollout.Status}[/]"));

    // Give the rolled-back device a moment to reinstall its previous release, then show what runs where.
    await WaitUntilAsync(() => devices.Single(d => d.Id == failing).RunningVersion == previous.Version, TimeSpan.FromSeconds(10), ct);
    var running = devices.GroupBy(d => d.RunningVersion).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}");
    AnsiConsole.MarkupLine($"[green]✓[/] firmware now running — {string.Join(", ", running)} ({failing} failed its health check and was rolled back).");

    var summary = new Table().AddColumns("Step", "Result");
    summary.AddRow("Provisioned", $"{ids.Count} devices with X.509 certificates (ECDSA P-256)");
    summary.AddRow("Connected", $"{devices.Count(d => d.Connection.IsConnected)} over mutual TLS");
    summary.AddRow("Telemetry", $"{received}/{expected} records, {alertLog.Count} alert events");
    summary.AddRow("Commands", $"reboot answered by {ok}/{replies.Length}");
    summary.AddRow("Firmware", $"{release.Version} (signed, verified on every device): {rollout.Count(DeviceRolloutStatus.Succeeded)} succeeded, {rollout.Count(DeviceRolloutStatus.RolledBack) + rollout.Count(DeviceRolloutStatus.Failed)} rolled back, rollout {rollout.Status}");
    summary.AddRow("Time", $"{clock.Elapsed.TotalSeconds:0.0} s");
    AnsiConsole.Write(summary.Title("[bold]Summary[/]"));

    bool success = received == expected && ok == replies.Length && alertLog.Count >= 2 &&
                   rollout.Status == RolloutStatus.Completed && rollout.Count(DeviceRolloutStatus.Succeeded) == ids.Count - 1;
    foreach (var device in devices) await device.DisposeAsync();
    return success ? 0 : 1;
}
finally
{
    if (options.DatabasePath is null) firmwareDir.Delete(recursive: true);
}

// A reading profile that crosses 80 °C, hovers between the thresholds (no flapping), then cools below 70 °C.
static double HotProfile(int i) => i switch
{
    < 10 => 60 + i * 2,
    < 16 => 85,
    < 24 => 75,
    _ => 65,
};

static async Task<FirmwareRelease> EnsureReleaseAsync(IFirmwareService firmware, ECDsa signer, string version, DirectoryInfo dir, CancellationToken ct)
{
    try
    {
        return await firmware.GetReleaseAsync(version, ct);
    }
    catch (IoTException ex) when (ex.Kind is IoTErrorKind.NotFound or IoTErrorKind.DeviceNotFound)
    {
        var image = new byte[64 * 1024];
        RandomNumberGenerator.Fill(image);
        var path = Path.Combine(dir.FullName, $"firmware-{version}.bin");
        await File.WriteAllBytesAsync(path, image, ct);
        var release = new FirmwareRelease
        {
            Version = version,
            Uri = new Uri(path),
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)),
            SizeBytes = image.Length,
        };
        return await firmware.CreateReleaseAsync(release.Sign(signer), ct);
    }
}

static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, CancellationToken ct)
{
    var deadline = Stopwatch.StartNew();
    while (!condition() && deadline.Elapsed < timeout) await Task.Delay(50, ct);
}

/// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> would post each report to the thread pool).</summary>
sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
