using System.Text.Json.Nodes;
using IoTMastery.Sdk.Local.Tests.Services;
using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local.Tests.Security;

/// <summary>
/// Runs a whole Local scenario with every log line captured at Trace level, then checks that no private key —
/// device, CA or firmware operator — appears in a log line, an exception message or ToString(), nor does any
/// PEM private-key marker.
/// </summary>
public sealed class SecretLeakTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task No_private_key_reaches_logs_exceptions_or_to_string_across_a_full_scenario()
    {
        using var temp = new TempDatabase();
        using var logs = new CapturingLoggerFactory();
        ILoggerFactory loggerFactory = logs;
        var texts = new List<string>();
        var secrets = new List<string>();
        void Capture(Exception ex)
        {
            texts.Add(ex.Message);
            texts.Add(ex.ToString());
        }

        using var signer = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        secrets.Add(signer.ExportPkcs8PrivateKeyPem());
        await using (var provider = await LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = temp.Path }, loggerFactory: loggerFactory).WaitAsync(Timeout))
        {
            // Register with X.509 and connect.
            var registration = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "leak-1", Credential = CredentialRequest.X509 });
            var credential = registration.Credential!;
            secrets.Add(credential.PrivateKeyPem!);
            var options = new DeviceConnectionOptions { DeviceId = "leak-1", Credential = credential };
            texts.Add(credential.ToString());
            texts.Add(options.ToString());
            texts.Add(registration.ToString()!);
            await using var device = provider.CreateDeviceConnection(options);
            await device.ConnectAsync().WaitAsync(Timeout);

            // A command that times out.
            device.SetCommandHandler(async (_, ct) => { await Task.Delay(System.Threading.Timeout.Infinite, ct); return new CommandResponse(200, null); });
            Capture(await IoTAssert.ThrowsAsync(IoTErrorKind.CommandTimeout, () =>
                provider.Commands.InvokeAsync("leak-1", new DeviceCommand { Name = "reboot", Timeout = TimeSpan.FromSeconds(1) }).WaitAsync(Timeout)));

            // A state conflict.
            await provider.State.UpdateDesiredAsync("leak-1", new JsonObject { ["rate"] = 1 }, expectedVersion: 0);
            Capture(await IoTAssert.ThrowsAsync(IoTErrorKind.PreconditionFailed, () =>
                provider.State.UpdateDesiredAsync("leak-1", new JsonObject { ["rate"] = 2 }, expectedVersion: 0)));

            // A signed firmware release and an agent holding the public key.
            var unsigned = new FirmwareRelease
            {
                Version = "2.0.0", Uri = new Uri("file:///nonexistent/fw.bin"), Sha256 = new string('a', 64), SizeBytes = 10,
            };
            var release = await provider.Firmware.CreateReleaseAsync(unsigned.Sign(signer));
            texts.Add(release.ToString());
            var agentOptions = new FirmwareUpdateAgentOptions { TrustedOperatorKeyPem = signer.ExportSubjectPublicKeyInfoPem() };
            texts.Add(agentOptions.ToString());

            // Revoke: the live session is closed and the next connect is refused.
            await provider.Registry.RevokeCredentialAsync("leak-1", credential.Id);
            await using var again = provider.CreateDeviceConnection(options);
            Capture(await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => again.ConnectAsync().WaitAsync(Timeout)));

            // The raw MQTT client with the revoked certificate, and its options.
            using var certificate = credential.ToCertificate();
            var mqttOptions = new MqttDeviceClientOptions
            {
                Host = "localhost", Port = provider.Port, ClientId = "leak-1", ClientCertificate = certificate, TrustedRoots = [provider.CertificateAuthority],
                CredentialProvider = _ => ValueTask.FromResult(new MqttCredentials("user", "p@ssw0rd-secret")),
            };
            secrets.Add("p@ssw0rd-secret");
            texts.Add(mqttOptions.ToString());
            texts.Add(new MqttCredentials("user", "p@ssw0rd-secret").ToString());
            await using (var raw = new MqttDeviceClient(mqttOptions, "Local", logger: loggerFactory.CreateLogger("raw")))
            {
                var refused = await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => raw.ConnectAsync().WaitAsync(Timeout));
                Capture(refused);
            }

            // Bad input everywhere, for the messages of argument errors.
            // Signing with a key of the wrong curve, or with only the public half: refused without quoting the key.
            using (var p384 = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384))
            {
                secrets.Add(p384.ExportPkcs8PrivateKeyPem());
                Capture(Assert.Throws<ArgumentException>(() => { unsigned.Sign(p384); }));
            }
            using (var publicOnly = System.Security.Cryptography.ECDsa.Create())
            {
                publicOnly.ImportFromPem(signer.ExportSubjectPublicKeyInfoPem());
                Capture(Assert.Throws<ArgumentException>(() => { unsigned.Sign(publicOnly); }));
            }
            Capture(Assert.Throws<ArgumentException>(() => { FirmwareSignatureVerifier.FromPublicKeyPem(credential.PrivateKeyPem!); }));
            Capture(Assert.Throws<ArgumentException>(() => { LocalCertificateAuthority.FromPem(credential.CertificatePem!, signer.ExportPkcs8PrivateKeyPem()); }));
            texts.Add(new LocalIoTOptions { DatabasePath = temp.Path }.ToString()!);
            secrets.Add("a CA passphrase nobody may see");
            texts.Add(new LocalIoTOptions { DatabasePath = temp.Path, CaKeyPassphrase = "a CA passphrase nobody may see" }.ToString()!);
            // A wrong CA passphrase: the error names where the key came from, never the key.
            Capture(await IoTAssert.ThrowsAsync(IoTErrorKind.CertificateAuthorityKey, () =>
                LocalIoTProvider.StartAsync(new LocalIoTOptions { DatabasePath = temp.Path, CaKeyPassphrase = "a CA passphrase nobody may see" }, loggerFactory: loggerFactory).WaitAsync(Timeout)));
            secrets.Add("tooshort");
            Capture(Assert.Throws<ArgumentException>(() => new LocalIoTOptions { DatabasePath = temp.Path, CaKeyPassphrase = "tooshort" }.Validate()));
            texts.Add(provider.ToString()!);
        }

        // The CA's key, read back from the database it lives in, and the CA object loaded from it.
        SqliteConnection.ClearAllPools();
        await using (var db = new SqliteConnection($"Data Source={temp.Path}"))
        {
            await db.OpenAsync();
            await using var command = db.CreateCommand();
            command.CommandText = "SELECT certificate_pem, private_key_pem FROM certificate_authority";
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            // Saved encrypted with the key file beside the database: the key file, the stored text and the decrypted key are all secrets.
            var passphrase = File.ReadAllText(temp.Path + ".cakey").Trim();
            secrets.Add(passphrase);
            secrets.Add(reader.GetString(1));
            using var key = System.Security.Cryptography.ECDsa.Create();
            key.ImportFromEncryptedPem(reader.GetString(1), passphrase);
            secrets.Add(key.ExportPkcs8PrivateKeyPem());
            using var ca = LocalCertificateAuthority.FromPem(reader.GetString(0), key.ExportPkcs8PrivateKeyPem());
            texts.Add(ca.ToString());
        }
        SqliteConnection.ClearAllPools();

        texts.AddRange(logs.Lines);
        Assert.True(logs.Lines.Count >= 5, $"only {logs.Lines.Count} log lines were captured: the scenario did not exercise logging");
        Assert.Contains(logs.Lines, l => l.Contains("leak-1", StringComparison.Ordinal));   // the logs do talk about the device
        var needles = secrets.SelectMany(Needles).Append("PRIVATE KEY").Distinct().ToArray();
        foreach (var text in texts)
        {
            foreach (var needle in needles)
                Assert.False(text.Contains(needle, StringComparison.Ordinal), $"a secret fragment leaked into: {text[..Math.Min(text.Length, 300)]}");
        }
    }

    // Each base64 line of a PEM body, the whole body joined, and plain secrets as they are.
    private static IEnumerable<string> Needles(string secret)
    {
        if (!secret.Contains("-----BEGIN", StringComparison.Ordinal))
            return [secret];
        var body = secret.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).ToArray();
        return body.Where(l => l.Length >= 16).Append(string.Concat(body));
    }
}
