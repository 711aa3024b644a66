using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Aws.Devices;
using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// Signed firmware end to end on AWS, mirroring SignedFirmwareLocalTests: releases are created through the provider in
/// moto (job templates), each rollout is a moto job whose document (read back from moto with GetJobDocument) is
/// queued for the device on the AWS IoT MQTT fake, and a <see cref="FirmwareUpdateAgent"/> holding the operator key
/// installs the signed release and refuses a tampered and an unsigned one. moto has no jobs data plane, so handing the
/// job document to the device gateway is the one step this test does itself.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsSignedFirmwareTests(MotoServer moto) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS fake device CA");
    private AwsIotMqttFake _fake = null!;
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        _fake = await AwsIotMqttFake.StartAsync(_ca);
        _provider = await AwsIoTProvider.StartAsync(moto.Options());
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _fake.DisposeAsync();
        _ca.Dispose();
    }

    private static FirmwareRelease Release(string version, byte[] image) => new()
    {
        Version = version,
        Uri = new Uri($"https://firmware.example/{version}.bin"),
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(image)),
        SizeBytes = image.Length,
    };

    [Fact]
    public async Task The_signature_survives_the_job_template_and_the_job_document()
    {
        using var signer = FirmwareSigner.Create();
        var signed = signer.Sign(Release("2.0.0", [1, 2, 3]));
        await _provider.Firmware.CreateReleaseAsync(signed);
        await _provider.Firmware.CreateReleaseAsync(Release("1.0.0", [9]));

        Assert.Equal(signed.Signature, (await _provider.Firmware.GetReleaseAsync("2.0.0")).Signature);
        Assert.Null((await _provider.Firmware.GetReleaseAsync("1.0.0")).Signature);
        Assert.Equal(signed.Signature, (await _provider.Firmware.ListReleasesAsync().ToListAsync()).Single(r => r.Version == "2.0.0").Signature);
        // A replay of the same release is success; the same version with another signature is a different release.
        Assert.Equal(signed.Signature, (await _provider.Firmware.CreateReleaseAsync(signed)).Signature);
        await Assert.ThrowsAsync<ResourceAlreadyExistsException>(() => _provider.Firmware.CreateReleaseAsync(signer.Sign(Release("2.0.0", [1, 2, 3])) with { Signature = null }));

        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "fw-doc" });
        var rollout = await _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = "2.0.0", DeviceIds = ["fw-doc"] });
        var document = JsonNode.Parse((await _provider.ControlPlane.GetJobDocumentAsync(rollout.Id, default))!)!;
        Assert.Equal(signed.Signature, (string?)document["firmware"]![FirmwareStateContract.SignatureProperty]);
    }

    [Fact]
    public async Task A_device_with_the_operator_key_installs_a_signed_rollout_and_refuses_a_tampered_and_an_unsigned_one()
    {
        using var signer = FirmwareSigner.Create();
        var image = RandomNumberGenerator.GetBytes(10_000);
        var other = RandomNumberGenerator.GetBytes(10_000);
        await _provider.Firmware.CreateReleaseAsync(signer.Sign(Release("2.0.0", image)));
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
        using var cts = new CancellationTokenSource(Timeout);
        await device.ConnectAsync(cts.Token);

        var first = await RunJobAsync("2.0.0");
        Assert.Equal("SUCCEEDED", (string?)first["status"]);
        Assert.Equal("2.0.0", agent.RunningVersion);

        var tampered = await RunJobAsync("2.1.0");
        Assert.Equal("FAILED", (string?)tampered["status"]);
        Assert.Contains("does not match its manifest", (string?)tampered["statusDetails"]!["error"], StringComparison.Ordinal);

        var unsigned = await RunJobAsync("3.0.0");
        Assert.Equal("FAILED", (string?)unsigned["status"]);
        Assert.Contains("not signed", (string?)unsigned["statusDetails"]!["error"], StringComparison.Ordinal);

        Assert.Equal("2.0.0", agent.RunningVersion);
        Assert.Equal(["2.0.0"], installed);
    }

    /// <summary>Starts a rollout in moto, hands its job document to the device gateway and waits for the execution to end.</summary>
    private async Task<JsonObject> RunJobAsync(string version)
    {
        var rollout = await _provider.Firmware.StartRolloutAsync(new RolloutPlan { ReleaseVersion = version, DeviceIds = ["fw-dev"], FailureThreshold = 1.0 });
        var document = JsonNode.Parse((await _provider.ControlPlane.GetJobDocumentAsync(rollout.Id, default))!)!.AsObject();
        await _fake.QueueJobAsync("fw-dev", rollout.Id, document);
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            if (_fake.DescribeJobExecution("fw-dev", rollout.Id) is { } execution && (string?)execution["status"] is "SUCCEEDED" or "FAILED")
                return execution;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The job for {version} did not end within {Timeout}.");
            await Task.Delay(25);
        }
    }
}
