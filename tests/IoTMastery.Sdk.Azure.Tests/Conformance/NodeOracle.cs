using System.Diagnostics;
using IoTMastery.Sdk.Azure.Tests.Double;

namespace IoTMastery.Sdk.Azure.Tests.Conformance;

/// <summary>
/// Runs the official Azure IoT Node.js SDKs (tests/conformance/azure-node, versions pinned in package-lock.json) against a
/// double. Installs them with <c>npm ci</c> when node_modules is missing. Node 20 and npm are required: a missing tool is
/// a failure with a clear message, never a skip.
/// </summary>
public static class NodeOracle
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    public static string Directory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IoTMastery.Sdk.sln"))) dir = dir.Parent;
            return dir is null
                ? throw new InvalidOperationException("IoTMastery.Sdk.sln not found above " + AppContext.BaseDirectory)
                : Path.Combine(dir.FullName, "tests", "conformance", "azure-node");
        }
    }

    public static async Task EnsureInstalledAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "azure-iothub"))) return;
            var (code, output) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], new Dictionary<string, string>(), TimeSpan.FromMinutes(5));
            if (code != 0) throw new InvalidOperationException("npm ci failed in " + Directory + ":\n" + output);
        }
        finally
        {
            InstallGate.Release();
        }
    }

    /// <summary>The self-signed certificate the X.509 step uses (Node and our provider use the same one).</summary>
    public static readonly Lazy<(string CertificatePem, string KeyPem, string Thumbprint)> CameraCertificate = new(() =>
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=cam1", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.RawData)));
    });

    /// <summary>
    /// What azure-iot-device's <c>SharedAccessSignature.create(host, id, key, expiry)</c> returns for each of
    /// <paramref name="deviceIds"/> (tests/conformance/azure-node/sas.js).
    /// </summary>
    public static async Task<Dictionary<string, string>> DeviceSasTokensAsync(string host, string key, DateTimeOffset expiry, IReadOnlyList<string> deviceIds)
    {
        await EnsureInstalledAsync();
        var (code, output) = await RunAsync("node", ["sas.js"], new Dictionary<string, string>
        {
            ["HOST"] = host,
            ["KEY"] = key,
            ["EXPIRY"] = expiry.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["IDS"] = System.Text.Json.JsonSerializer.Serialize(deviceIds),
        }, TimeSpan.FromMinutes(1));
        if (code != 0) throw new InvalidOperationException("sas.js failed:\n" + output);
        // stdout comes first and is one line; stderr (warnings) follows it.
        return System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(output.Split('\n')[0])!;
    }

    /// <summary>Runs scenario.js against <paramref name="hub"/>; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunScenarioAsync(IotHubDouble hub)
    {
        await EnsureInstalledAsync();
        var caFile = Path.Combine(Path.GetTempPath(), "iothub-double-ca-" + Guid.NewGuid().ToString("N") + ".pem");
        var certFile = caFile + ".cert.pem";
        var keyFile = caFile + ".key.pem";
        await File.WriteAllTextAsync(caFile, hub.CaPem);
        await File.WriteAllTextAsync(certFile, CameraCertificate.Value.CertificatePem);
        await File.WriteAllTextAsync(keyFile, CameraCertificate.Value.KeyPem);
        var caSigned = hub.VerifiedCa.IssueDeviceCertificate("cam2");
        await File.WriteAllTextAsync(caFile + ".cam2.pem", caSigned.CertificatePem);
        await File.WriteAllTextAsync(caFile + ".cam2.key", caSigned.PrivateKeyPem);
        try
        {
            return await RunAsync("node", ["scenario.js"], new Dictionary<string, string>
            {
                ["HTTPS_PORT"] = hub.HttpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["MQTT_PORT"] = hub.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["CA_FILE"] = caFile,
                ["NODE_EXTRA_CA_CERTS"] = caFile,
                ["SERVICE_CS"] = hub.ServiceConnectionString,
                ["GROUP_KEY"] = IotHubDouble.GroupKey,
                ["INDIVIDUAL_KEY"] = IotHubDouble.IndividualKey,
                ["ID_SCOPE"] = IotHubDouble.IdScope,
                ["X509_CERT_FILE"] = certFile,
                ["X509_KEY_FILE"] = keyFile,
                ["X509_THUMBPRINT"] = CameraCertificate.Value.Thumbprint,
                ["CA_SIGNED_CERT_FILE"] = caFile + ".cam2.pem",
                ["CA_SIGNED_KEY_FILE"] = caFile + ".cam2.key",
                ["RESERVED_IDS"] = System.Text.Json.JsonSerializer.Serialize(AzureConformanceTests.ReservedIds),
            }, TimeSpan.FromMinutes(2));
        }
        finally
        {
            File.Delete(caFile);
            File.Delete(certFile);
            File.Delete(keyFile);
            File.Delete(caFile + ".cam2.pem");
            File.Delete(caFile + ".cam2.key");
        }
    }

    private static async Task<(int, string)> RunAsync(string tool, string[] arguments, Dictionary<string, string> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(tool) { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException(tool + " did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"'{tool}' is not installed: install Node.js 20 and npm (apt-get install -y nodejs npm) to run the Azure conformance tests.", ex);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                return (-1, $"{tool} timed out after {timeout}:\n{await stdout}\n{await stderr}");
            }
            return (process.ExitCode, await stdout + "\n" + await stderr);
        }
    }
}
