using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// A managing process for the firmware contract: a provider instance of its own (on the fixture's peer) whose firmware
/// store lives in <see cref="Directory"/>, real devices running the core <see cref="FirmwareUpdateAgent"/> with the
/// operator's public key, signed releases whose images are files served by <c>file:</c> URIs, and a restart that disposes
/// the instance (and the devices' connections) and builds a new one on the same store.
/// </summary>
public sealed class FirmwareFleet : IAsyncDisposable
{
    private readonly ProviderFixture _fixture;
    private readonly Dictionary<string, FleetDevice> _devices = new(StringComparer.Ordinal);
    private readonly CancellationToken _ct;

    private FirmwareFleet(ProviderFixture fixture, IIoTProvider provider, DirectoryInfo directory, CancellationToken ct)
    {
        _fixture = fixture;
        Provider = provider;
        Directory = directory;
        _ct = ct;
    }

    /// <summary>The current managing instance.</summary>
    public IIoTProvider Provider { get; private set; }

    /// <summary>Where the firmware store and the images live; deleted on dispose.</summary>
    public DirectoryInfo Directory { get; }

    /// <summary>The fleet operator's signing key (ECDSA P-256); devices trust its public half.</summary>
    public ECDsa Signer { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>Starts a managing instance with a fresh store.</summary>
    public static async Task<FirmwareFleet> StartAsync(ProviderFixture fixture, CancellationToken ct)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("iotm-contract-fw-");
        return new FirmwareFleet(fixture, await fixture.StartFirmwareInstanceAsync(directory.FullName), directory, ct);
    }

    /// <summary>Writes an image file and registers it as a signed release (or unsigned, or signed and then pointed at other bytes).</summary>
    public async Task<FirmwareRelease> ReleaseAsync(string version, bool sign = true, bool tamper = false)
    {
        var image = RandomNumberGenerator.GetBytes(4096);
        var path = Path.Combine(Directory.FullName, version + ".bin");
        await File.WriteAllBytesAsync(path, image, _ct);
        var release = new FirmwareRelease { Version = version, Uri = new Uri(path), Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)), SizeBytes = image.Length };
        if (sign) release = release.Sign(Signer);
        // Tampered: the signed manifest no longer matches the digest the device is told to expect.
        if (tamper) release = release with { Sha256 = Convert.ToHexStringLower(SHA256.HashData(RandomNumberGenerator.GetBytes(16))) };
        return await Provider.Firmware.CreateReleaseAsync(release, _ct);
    }

    /// <summary>Registers a device, connects it with an agent running <paramref name="running"/>, and waits until the fleet sees that version reported.</summary>
    /// <param name="running">The version the device runs now.</param>
    /// <param name="unhealthy">Versions whose post-install health check fails on this device.</param>
    public async Task<FleetDevice> DeviceAsync(string running, params string[] unhealthy)
    {
        var id = ProviderFixture.NewDeviceId("fw");
        var registration = await Provider.Registry.RegisterAsync(new DeviceRegistration { Id = id, Credential = _fixture.DeviceCredential }, _ct);
        var device = new FleetDevice(id, registration.Credential!, running, unhealthy);
        _devices[id] = device;
        await device.ConnectAsync(Provider, Signer.ExportSubjectPublicKeyInfoPem(), _ct);
        await EventuallyAsync(async () => FirmwareStateContract.TryGetReported((await Provider.State.GetAsync(id, _ct)).Reported)?.Version == running,
            $"{id} to report running {running}");
        return device;
    }

    /// <summary>Disposes the devices' connections and the managing instance, then builds a new instance on the same store and reconnects the devices.</summary>
    public async Task RestartAsync()
    {
        foreach (var device in _devices.Values) await device.DisconnectAsync();
        await Provider.DisposeAsync();
        Provider = await _fixture.StartFirmwareInstanceAsync(Directory.FullName);
        foreach (var device in _devices.Values) await device.ConnectAsync(Provider, Signer.ExportSubjectPublicKeyInfoPem(), _ct);
    }

    /// <summary>Reads the rollout until it has ended and every device in it has settled; bounded by <see cref="ProviderFixture.Patience"/>.</summary>
    public async Task<Rollout> FinishAsync(string rolloutId)
    {
        Rollout rollout = null!;
        try
        {
            await EventuallyAsync(async () =>
            {
                rollout = await Provider.Firmware.GetRolloutAsync(rolloutId, _ct);
                return rollout.Status != RolloutStatus.InProgress && rollout.Devices.All(d => d.Status != DeviceRolloutStatus.InProgress);
            }, $"rollout {rolloutId} to end");
        }
        catch (TimeoutException ex)
        {
            // A hang says nothing by itself: name where each device stands, in the store and in what it reported.
            throw new TimeoutException($"{ex.Message} {await DescribeAsync(rollout)}", ex);
        }
        return rollout;
    }

    private async Task<string> DescribeAsync(Rollout? rollout)
    {
        if (rollout is null) return "(the rollout was never read)";
        var parts = new List<string> { $"rollout {rollout.Status}, wave {rollout.CurrentWave}" };
        foreach (var device in rollout.Devices)
        {
            string reported;
            try { reported = (await Provider.State.GetAsync(device.DeviceId, _ct)).Reported[FirmwareStateContract.PropertyName]?.ToJsonString() ?? "none"; }
            catch (IoTException read) { reported = "unreadable: " + read.GetType().Name; }
            var agent = _devices.TryGetValue(device.DeviceId, out var d) ? $"running {d.RunningVersion}, installed [{string.Join(",", d.Installed)}]" : "not in this fleet";
            parts.Add($"{device.DeviceId}: {device.Status} (wave {device.Wave}); reported {reported}; {agent}");
        }
        return string.Join("; ", parts);
    }

    /// <summary>The device's reported firmware as the fleet reads it.</summary>
    internal async Task<ReportedFirmware?> ReportedAsync(string deviceId) =>
        FirmwareStateContract.TryGetReported((await Provider.State.GetAsync(deviceId, _ct)).Reported);

    /// <summary>The device's desired firmware version as the fleet reads it; null when none was ever offered.</summary>
    public async Task<string?> DesiredVersionAsync(string deviceId) =>
        (await Provider.State.GetAsync(deviceId, _ct)).Desired[FirmwareStateContract.PropertyName] is JsonObject firmware
            ? FirmwareStateContract.ParseDesired(firmware).Release.Version : null;

    /// <summary>Polls <paramref name="done"/> until it holds; fails after <see cref="ProviderFixture.Patience"/>.</summary>
    public async Task EventuallyAsync(Func<Task<bool>> done, string what)
    {
        var deadline = DateTime.UtcNow + ProviderFixture.Patience;
        while (!await done())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not within {ProviderFixture.Patience.TotalSeconds} s: {what}.");
            await Task.Delay(100, _ct);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var device in _devices.Values) await device.DisconnectAsync();
        await Provider.DisposeAsync();
        Signer.Dispose();
        try { Directory.Delete(recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>A device running the core firmware agent; its install callback fails the health check for chosen versions.</summary>
public sealed class FleetDevice(string id, IssuedCredential credential, string running, IReadOnlyCollection<string> unhealthy)
{
    private readonly List<string> _installed = [];
    private IDeviceConnection? _connection;
    private FirmwareUpdateAgent? _agent;

    /// <summary>The device id.</summary>
    public string Id => id;

    /// <summary>The device's live connection, for traffic besides the agent's (telemetry, other reported state).</summary>
    public IDeviceConnection Connection => _connection ?? throw new InvalidOperationException($"{id} is not connected.");

    /// <summary>The version the device runs now (kept across reconnects, as flash would).</summary>
    public string RunningVersion => _agent?.RunningVersion ?? running;

    /// <summary>Every version whose image passed verification and was handed to the installer, in order.</summary>
    public IReadOnlyList<string> Installed { get { lock (_installed) return [.. _installed]; } }

    internal async Task ConnectAsync(IIoTProvider provider, string operatorKeyPem, CancellationToken ct)
    {
        var current = RunningVersion;
        _connection = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credential });
        _agent = new FirmwareUpdateAgent(_connection, current, new FirmwareUpdateAgentOptions { TrustedOperatorKeyPem = operatorKeyPem }, (release, image, _) =>
        {
            lock (_installed) _installed.Add(release.Version);
            return ValueTask.FromResult(!unhealthy.Contains(release.Version));
        });
        _connection.SetDesiredStateHandler(_agent.HandleDesiredStateAsync);
        await _connection.ConnectAsync(ct);
        await _agent.ReportRunningVersionAsync(ct);
    }

    internal async Task DisconnectAsync()
    {
        if (_connection is null) return;
        running = RunningVersion;
        await _connection.DisposeAsync();
        _connection = null;
    }
}
