using System.Security.Cryptography;
using IoTMastery.Sdk.Azure.Tests.Double;

namespace IoTMastery.Sdk.Azure.Tests.Scenario;

/// <summary>
/// Signed firmware end to end on Azure, mirroring SignedFirmwareLocalTests: releases go out as the desired
/// <c>firmware</c> twin property through the IoT Hub double (which the Node.js SDKs drive first, see
/// NodeDrivesDoubleTests), reach the device over MQTT, and a <see cref="FirmwareUpdateAgent"/> holding the operator key
/// installs the signed release and refuses a tampered and an unsigned one; the rollout sees each refusal in the
/// reported twin.
/// </summary>
[Collection(DoubleCollection.Name)]
public sealed class AzureSignedFirmwareTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

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
        await using var hub = await IotHubDouble.StartAsync();
        await using var iot = IotHubDoubleProviders.Create(hub);
        var image = RandomNumberGenerator.GetBytes(10_000);
        var signed = await iot.Firmware.CreateReleaseAsync(signer.Sign(Release("2.0.0", image)));
        Assert.Equal(signed.Signature, (await iot.Firmware.GetReleaseAsync("2.0.0")).Signature);
        // Tampered: signed, then pointed at another image; the signature no longer matches the manifest.
        await iot.Firmware.CreateReleaseAsync(signer.Sign(Release("2.1.0", image)) with { Sha256 = new string('c', 64) });
        await iot.Firmware.CreateReleaseAsync(Release("3.0.0", image));

        var credential = (await iot.Registry.RegisterAsync(new DeviceRegistration { Id = "fw-dev", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } })).Credential!;
        await using var device = iot.Devices.Create(new DeviceConnectionOptions { DeviceId = "fw-dev", Credential = credential });
        var installed = new List<string>();
        var agent = new FirmwareUpdateAgent(device, "1.0.0", new FirmwareUpdateAgentOptions
        {
            TrustedOperatorKeyPem = signer.PublicKeyPem,
            Downloader = (_, offset, _) => ValueTask.FromResult<Stream>(new MemoryStream(image) { Position = offset }),
        }, (release, _, _) => { lock (installed) installed.Add(release.Version); return ValueTask.FromResult(true); });
        device.SetDesiredStateHandler(agent.HandleDesiredStateAsync);
        await device.ConnectAsync().WaitAsync(Bound);
        await agent.ReportRunningVersionAsync().WaitAsync(Bound);

        var first = await RunRolloutAsync(iot, "2.0.0");
        Assert.Equal(RolloutStatus.Completed, first.Status);
        // The desired twin the device receives carries the signature.
        Assert.Equal(signed.Signature, (string?)(await iot.State.GetAsync("fw-dev")).Desired[FirmwareStateContract.PropertyName]![FirmwareStateContract.SignatureProperty]);
        Assert.Equal("2.0.0", agent.RunningVersion);

        var tampered = Assert.Single((await RunRolloutAsync(iot, "2.1.0")).Devices);
        Assert.Contains(tampered.Status, new[] { DeviceRolloutStatus.Failed, DeviceRolloutStatus.RolledBack });
        Assert.Contains("does not match its manifest", tampered.Error, StringComparison.Ordinal);

        var unsigned = Assert.Single((await RunRolloutAsync(iot, "3.0.0")).Devices);
        Assert.Contains(unsigned.Status, new[] { DeviceRolloutStatus.Failed, DeviceRolloutStatus.RolledBack });
        Assert.Contains("not signed", unsigned.Error, StringComparison.Ordinal);

        Assert.Equal("2.0.0", agent.RunningVersion);
        lock (installed) Assert.Equal(["2.0.0"], installed);
    }

    private static async Task<Rollout> RunRolloutAsync(IIoTProvider iot, string version)
    {
        var rollout = await iot.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = version, DeviceIds = ["fw-dev"], FailureThreshold = 1.0 });
        using var deadline = new CancellationTokenSource(Bound);
        while ((rollout = await iot.Firmware.GetRolloutAsync(rollout.Id)).Status == RolloutStatus.InProgress)
            await Task.Delay(50, deadline.Token);
        return rollout;
    }
}
