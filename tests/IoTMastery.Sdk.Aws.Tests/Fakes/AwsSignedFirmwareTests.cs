using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Aws.Devices;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// Signed firmware end to end on AWS, mirroring the firmware contract: the fleet side is the provider against moto (the
/// shared firmware engine writing desired.firmware into moto's classic shadow and reading reported.firmware from it),
/// the device side an <see cref="AwsDeviceConnection"/> on the AWS IoT MQTT fake running a <see cref="FirmwareUpdateAgent"/>
/// that holds the operator key. moto serves shadows over REST but has no MQTT gateway, so <see cref="ShadowRelay"/>
/// moving the firmware objects between moto's shadow and the fake's (desired down, reported up) is the one step this
/// test does itself; the gateway double replacing it is another branch's work.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsSignedFirmwareTests(MotoServer moto) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS fake device CA");
    private readonly TempFirmwareStore _firmwareStore = new();
    private AwsIotMqttFake _fake = null!;
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        _fake = await AwsIotMqttFake.StartAsync(_ca);
        _provider = await AwsIoTProvider.StartAsync(moto.Options(o => o.FirmwareStorePath = _firmwareStore.Path));
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _fake.DisposeAsync();
        _ca.Dispose();
        _firmwareStore.Dispose();
    }

    private static FirmwareRelease Release(string version, byte[] image) => new()
    {
        Version = version,
        Uri = new Uri($"https://firmware.example/{version}.bin"),
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)),
        SizeBytes = image.Length,
    };

    [Fact]
    public async Task A_device_with_the_operator_key_installs_a_signed_rollout_and_refuses_a_tampered_and_an_unsigned_one()
    {
        using var signer = FirmwareSigner.Create();
        var image = RandomNumberGenerator.GetBytes(10_000);
        var other = RandomNumberGenerator.GetBytes(10_000);
        var signed = await _provider.Firmware.CreateReleaseAsync(signer.Sign(Release("2.0.0", image)));
        // Tampered: signed, then pointed at another image; the signature no longer matches the manifest.
        await _provider.Firmware.CreateReleaseAsync(signer.Sign(Release("2.1.0", image)) with { Sha256 = Convert.ToHexStringLower(SHA256.HashData(other)) });
        await _provider.Firmware.CreateReleaseAsync(Release("3.0.0", image));
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "fw-dev" });

        await using var device = new AwsDeviceConnection(
            new DeviceConnectionOptions { DeviceId = "fw-dev", Credential = _ca.IssueDeviceCertificate("fw-dev") },
            new AwsDeviceEndpoint("localhost", _fake.Port, _fake.TrustedRoots), TimeProvider.System, NullLoggerFactory.Instance);
        var installed = new ConcurrentQueue<string>();
        var agent = new FirmwareUpdateAgent(device, "1.0.0", new FirmwareUpdateAgentOptions
        {
            TrustedOperatorKeyPem = signer.PublicKeyPem,
            // Every release points at the same image bytes; only the signature decides what is installed.
            Downloader = (_, offset, _) => ValueTask.FromResult<Stream>(new MemoryStream(image) { Position = offset }),
        }, (release, _, _) => { installed.Enqueue(release.Version); return ValueTask.FromResult(true); });
        device.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
        using var cts = new CancellationTokenSource(Timeout * 3);
        await device.ConnectAsync(cts.Token);
        await using var relay = ShadowRelay.Start(_provider, _fake, "fw-dev");
        await agent.ReportRunningVersionAsync(cts.Token);

        var first = await RunRolloutAsync("2.0.0");
        Assert.Equal(RolloutStatus.Completed, first.Status);
        Assert.Equal(DeviceRolloutStatus.Succeeded, first.Devices.Single().Status);
        // The desired shadow the device receives carries the signature.
        Assert.Equal(signed.Signature, (string?)(await _provider.State.GetAsync("fw-dev")).Desired[FirmwareStateContract.PropertyName]![FirmwareStateContract.SignatureProperty]);
        Assert.Equal("2.0.0", agent.RunningVersion);

        var tampered = Assert.Single((await RunRolloutAsync("2.1.0")).Devices);
        Assert.Equal(DeviceRolloutStatus.RolledBack, tampered.Status);
        Assert.Contains("does not match its manifest", tampered.Error, StringComparison.Ordinal);

        var unsigned = Assert.Single((await RunRolloutAsync("3.0.0")).Devices);
        Assert.Equal(DeviceRolloutStatus.RolledBack, unsigned.Status);
        Assert.Contains("not signed", unsigned.Error, StringComparison.Ordinal);

        Assert.Equal("2.0.0", agent.RunningVersion);
        Assert.Equal(["2.0.0"], installed);
    }

    private async Task<Rollout> RunRolloutAsync(string version)
    {
        var rollout = await _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = version, DeviceIds = ["fw-dev"], FailureThreshold = 1.0 });
        var deadline = DateTime.UtcNow + Timeout;
        while ((rollout = await _provider.Firmware.GetRolloutAsync(rollout.Id)).Status == RolloutStatus.InProgress)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The rollout of {version} did not end within {Timeout}.");
            await Task.Delay(50);
        }
        return rollout;
    }

    /// <summary>Stands in for the AWS gateway moto lacks: desired.firmware from moto's shadow to the fake's, reported.firmware back.</summary>
    private sealed class ShadowRelay : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        public static ShadowRelay Start(AwsIoTProvider provider, AwsIotMqttFake fake, string thing)
        {
            var relay = new ShadowRelay();
            relay._loop = relay.RunAsync(provider, fake, thing);
            return relay;
        }

        private async Task RunAsync(AwsIoTProvider provider, AwsIotMqttFake fake, string thing)
        {
            string? desiredSent = null, reportedSent = null;
            while (!_stop.IsCancellationRequested)
            {
                var desired = (await provider.State.GetAsync(thing)).Desired[FirmwareStateContract.PropertyName];
                if (desired is not null && desired.ToJsonString() != desiredSent)
                {
                    // moto's merge dropped the keys the engine set to null (an unsigned release's signature): clear them here too.
                    var patch = desired.DeepClone().AsObject();
                    if (fake.GetShadow(thing)?["state"]?["desired"]?[FirmwareStateContract.PropertyName] is JsonObject previous)
                        foreach (var (key, _) in previous)
                            if (!patch.ContainsKey(key)) patch[key] = null;
                    await fake.UpdateShadowAsync(thing, Patch("desired", patch));
                    desiredSent = desired.ToJsonString();
                }
                var reported = fake.GetShadow(thing)?["state"]?["reported"]?[FirmwareStateContract.PropertyName];
                if (reported is not null && reported.ToJsonString() != reportedSent)
                {
                    await provider.Shadows.UpdateAsync(thing, Patch("reported", reported));
                    reportedSent = reported.ToJsonString();
                }
                try { await Task.Delay(25, _stop.Token); } catch (OperationCanceledException) { }
            }
        }

        private static JsonObject Patch(string section, JsonNode firmware) =>
            new() { ["state"] = new JsonObject { [section] = new JsonObject { [FirmwareStateContract.PropertyName] = firmware.DeepClone() } } };

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }
}
