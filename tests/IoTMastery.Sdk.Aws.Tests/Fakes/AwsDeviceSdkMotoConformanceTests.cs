using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// Proves the moto-backed mode of <see cref="AwsIotMqttFake"/> with the official clients before the contract suite
/// relies on it: devices and certificates are registered in moto through the provider, then the official device SDK
/// (aws-iot-device-sdk) is refused with a certificate moto holds INACTIVE, connects with an ACTIVE one, receives the
/// delta of an UpdateThingShadow made straight against moto by the official data-plane client, and its reported update
/// is read back from moto by that client; a named shadow updated in moto reaches its subscriber as delta and documents
/// (tests/conformance/aws-node/device-sdk-moto-scenario.js).
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsDeviceSdkMotoConformanceTests(MotoServer moto)
{
    [Fact]
    public async Task The_official_device_sdk_is_held_to_moto_certificate_status_and_moto_shadows()
    {
        await moto.ResetAsync();
        using var ca = LocalCertificateAuthority.Create("AWS moto-backed double CA");
        await using var fake = await AwsIotMqttFake.StartAsync(ca, moto: new AwsIotMotoBacking(moto.Endpoint) { PollInterval = TimeSpan.FromMilliseconds(250) });
        await using var provider = await AwsIoTProvider.StartAsync(moto.Options(o =>
        {
            o.CertificateAuthority = ca;
        }));
        var active = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "sdk-moto-1", Credential = CredentialRequest.X509 });
        var inactive = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "sdk-moto-2", Credential = CredentialRequest.X509 });
        // Disabling deactivates the device's certificates in moto (status INACTIVE).
        await provider.Registry.DisableAsync("sdk-moto-2");

        var dir = Directory.CreateTempSubdirectory("aws-sdk-moto-");
        try
        {
            string Write(string name, string text)
            {
                var path = Path.Combine(dir.FullName, name);
                File.WriteAllText(path, text);
                return path;
            }
            var stdout = await NodeScripts.RunAsync("device-sdk-moto-scenario.js",
            [
                fake.Port.ToString(CultureInfo.InvariantCulture), Write("ca.pem", ca.CertificatePem),
                Write("active.pem", active.Credential!.CertificatePem!), Write("active.key", active.Credential.PrivateKeyPem!), "sdk-moto-1",
                "sdk-moto-2", Write("inactive.pem", inactive.Credential!.CertificatePem!), Write("inactive.key", inactive.Credential.PrivateKeyPem!),
                moto.Endpoint.ToString(),
            ], TimeSpan.FromSeconds(90));
            var events = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
            Assert.Equal("done", (string?)events[^1]["event"]);

            // The INACTIVE certificate: CONNACK return code 5 (not authorized) to the official client.
            var refused = events.Single(e => (string?)e["event"] is "refused" or "connected-inactive");
            Assert.Equal("refused", (string?)refused["event"]);
            Assert.Equal(5, (int)refused["code"]!);
            Assert.Contains(fake.Refusals, r => r.StartsWith("sdk-moto-2: ", StringComparison.Ordinal) && r.Contains("INACTIVE", StringComparison.Ordinal));

            // The fleet-side update in moto reached the device as a delta with moto's version.
            var fleetVersion = (int)events.Single(e => (string?)e["event"] == "fleet-update")["doc"]!["version"]!;
            var delta = events.First(e => (string?)e["event"] == "delta")["doc"]!;
            Assert.Equal(7, (int)delta["state"]!["speed"]!);
            Assert.Equal(fleetVersion, (int)delta["version"]!);

            // The device's reported update went into moto's shadow.
            var read = events.Single(e => (string?)e["event"] == "fleet-read")["doc"]!;
            Assert.Equal(7, (int)read["state"]!["reported"]!["speed"]!);
            Assert.Equal(7, (int)read["state"]!["desired"]!["speed"]!);
            Assert.Null(read["state"]!["delta"]);
            Assert.True((int)read["version"]! > fleetVersion);

            // A named shadow updated in moto: delta and documents (previous none, current = moto's version) on its topics.
            var namedVersion = (int)events.Single(e => (string?)e["event"] == "fleet-update-named")["doc"]!["version"]!;
            var namedDelta = events.Single(e => ((string?)e["topic"])?.EndsWith("/shadow/name/config/update/delta", StringComparison.Ordinal) == true)["doc"]!;
            Assert.Equal(60, (int)namedDelta["state"]!["interval"]!);
            Assert.Equal(namedVersion, (int)namedDelta["version"]!);
            var namedDocuments = events.Single(e => ((string?)e["topic"])?.EndsWith("/shadow/name/config/update/documents", StringComparison.Ordinal) == true)["doc"]!;
            Assert.Null(namedDocuments["previous"]);
            Assert.Equal(namedVersion, (int)namedDocuments["current"]!["version"]!);
            Assert.Equal(60, (int)namedDocuments["current"]!["state"]!["desired"]!["interval"]!);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
