using System.Diagnostics;
using System.Text.RegularExpressions;
using IoTMastery.Sdk.Aws;
using IoTMastery.Sdk.CloudDoubles.Aws;
using IoTMastery.Sdk.CloudDoubles.Moto;
using IoTMastery.Sdk.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using WorkerService;

namespace IoTMastery.Sdk.Local.Tests.DependencyInjection;

/// <summary>
/// Runs samples/WorkerService with its own appsettings.json, which holds a Local section (<c>IoT:Local:edge</c>) and an AWS
/// section (<c>IoT:Aws:eu</c>) whose region is left empty: in-process as shipped (Local only, and the sample says why AWS
/// does not run), and as its own process with the AWS peers on loopback — moto for the registry and the repo's AWS IoT
/// gateway double (backed by that moto) for the devices and the service's own MQTT connection — configured only through
/// environment variables, as a user would, the service's client certificate included (as PEM files).
/// </summary>
public sealed class WorkerServiceSampleTests
{
    private static readonly TimeSpan ProcessBound = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task As_shipped_the_sample_runs_the_local_provider_and_says_the_aws_one_is_not_configured()
    {
        using var host = Program.CreateBuilder([]).Build();
        var report = host.Services.GetRequiredService<WorkerReport>();
        var setup = host.Services.GetRequiredService<SampleSetup>();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        // The worker stops the host when it is done (Worker:StopWhenDone in appsettings.json); the bound only guards a hang.
        await host.RunAsync(bound.Token);
        Assert.False(bound.IsCancellationRequested, "the sample did not finish within its bound");

        Assert.False(report.Failed);
        var run = Assert.Single(report.Runs);
        Assert.Equal("edge", run.Provider);
        Assert.Equal("Local", run.Kind);
        Assert.Equal(5, run.Sent);
        Assert.Equal(5, run.Received);
        // 20 + 21 + 22 + 23 + 24: every reading came back once, with its value.
        Assert.Equal(110, run.Sum);
        var skipped = Assert.Single(setup.Skipped);
        Assert.Contains("AWS provider 'eu' is not configured (IoT:Aws:eu:Region is empty)", skipped);
        Assert.Contains("IoT__Aws__eu__Region", skipped);
    }

    [Fact]
    public async Task The_sample_process_runs_local_and_aws_side_by_side_reads_telemetry_back_on_both_and_prints_spans_and_metrics()
    {
        var moto = new MotoServer();
        await moto.InitializeAsync();
        var work = Directory.CreateTempSubdirectory("iotm-worker-sample-");
        try
        {
            using var ca = LocalCertificateAuthority.Create("WorkerService sample gateway CA");
            // Backed by moto: a device is admitted only with a certificate moto issued, ACTIVE and attached to its thing.
            await using var gateway = await AwsIotMqttFake.StartAsync(ca, moto: new AwsIotMotoBacking(moto.Endpoint));
            var roots = Path.Combine(work.FullName, "gateway-ca.pem");
            await File.WriteAllTextAsync(roots, ca.CertificatePem);
            // The service's own MQTT identity, provisioned as an operator would: a thing whose certificate moto registered,
            // handed to the sample as the two PEM files AWS gives out (certificate, private key), through configuration only.
            const string serviceThing = "iotm-worker-service";
            IssuedCredential service;
            await using (var registrar = await AwsIoTProvider.StartAsync(moto.Options(o => o.CertificateAuthority = ca)))
                service = (await registrar.Registry.RegisterAsync(new DeviceRegistration { Id = serviceThing, Credential = CredentialRequest.X509 })).Credential!;
            var serviceCertificate = Path.Combine(work.FullName, "service-certificate.pem.crt");
            var serviceKey = Path.Combine(work.FullName, "service-private.pem.key");
            await File.WriteAllTextAsync(serviceCertificate, service.CertificatePem);
            await File.WriteAllTextAsync(serviceKey, service.PrivateKeyPem);
            // The sample's devices get their certificates from the same CA, given as its two PEM files: moto answers
            // CreateCertificateFromCsr with a certificate for a key of its own, not the CSR's, which no device could use.
            var (caCertificatePem, caKeyPem) = ca.ExportCertificateAndKeyPem();
            var caCertificate = Path.Combine(work.FullName, "device-ca.pem");
            var caKey = Path.Combine(work.FullName, "device-ca-key.pem");
            await File.WriteAllTextAsync(caCertificate, caCertificatePem);
            await File.WriteAllTextAsync(caKey, caKeyPem);

            var (exitCode, output, errors) = await RunSampleAsync(new Dictionary<string, string>
            {
                ["IoT__Aws__eu__Region"] = "us-east-1",
                ["IoT__Aws__eu__ControlPlaneEndpoint"] = moto.Endpoint.ToString(),
                ["IoT__Aws__eu__DataPlaneEndpoint"] = moto.Endpoint.ToString(),
                ["IoT__Aws__eu__Transport__DeviceHost"] = "localhost",
                ["IoT__Aws__eu__Transport__DevicePort"] = gateway.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Worker__Aws__eu__CertificateAuthorityPemFile"] = caCertificate,
                ["Worker__Aws__eu__CertificateAuthorityKeyPemFile"] = caKey,
                // The per-provider key algorithm reaches the CA: the device connects with an RSA-2048 key it signed.
                ["Worker__KeyAlgorithms__eu"] = "Rsa2048",
                ["IoT__Aws__eu__FirmwareStorePath"] = Path.Combine(work.FullName, "aws-firmware.db"),
                ["Worker__Aws__eu__TrustedRootsPemFile"] = roots,
                ["IoT__Aws__eu__ServiceMqttClientId"] = serviceThing,
                ["IoT__Aws__eu__ServiceMqttCertificateFile"] = serviceCertificate,
                ["IoT__Aws__eu__ServiceMqttPrivateKeyFile"] = serviceKey,
                // The AWS SDK's standard credential chain, as against real AWS; moto accepts any key.
                ["AWS_ACCESS_KEY_ID"] = "testing",
                ["AWS_SECRET_ACCESS_KEY"] = "testing",
                ["AWS_EC2_METADATA_DISABLED"] = "true",
            });
            Assert.True(exitCode == 0, $"exit code {exitCode}\n{output}\n{errors}");

            // Both providers did their work, each on its own cloud.
            Assert.Contains("[edge] (Local) registered device sensor-edge-0", output);
            Assert.Contains("[eu] (Aws) registered device sensor-eu-0", output);
            Assert.Matches(new Regex(@"\[edge\] sent 5 readings, read 5 back"), output);
            // AWS reads back over the service connection the configuration set up, through the same gateway double.
            Assert.Matches(new Regex(@"\[eu\] sent 5 readings, read 5 back"), output);
            Assert.DoesNotContain("reads none back", output);
            Assert.DoesNotContain("is not configured", output);
            // The AWS device really published through the gateway double (moto has no MQTT broker).
            Assert.Contains(gateway.Received, r => r.ClientId == "sensor-eu-0");
            Assert.Matches(new Regex(@"\[eu\] read back sensor-eu-0 temperature = 24\b"), output);

            // Spans of the SDK's source from both providers: registry calls and telemetry sends, tagged with provider and device.
            Assert.Matches(new Regex($@"Instrumentation scope \(ActivitySource\):\s+Name: {Regex.Escape(IoTDiagnostics.ActivitySourceName)}\b"), output);
            foreach (var span in new[] { "registry.register", "registry.delete", "send" })
                Assert.Matches(new Regex($@"Activity\.DisplayName:\s+{Regex.Escape(span)}\b"), output);
            foreach (var (provider, device) in new[] { ("Local", "sensor-edge-0"), ("Aws", "sensor-eu-0") })
            {
                Assert.Matches(new Regex($@"iotmastery\.device\.id:\s+{device}\b"), output);
                Assert.Matches(new Regex($@"iotmastery\.provider:\s+{provider}\b"), output);
            }
            // Metrics of the SDK's meter: the records sent counter is one sum per provider over its pipelines, so its
            // last export's points add up to what both providers' devices sent together (each line above says what one sent).
            Assert.Matches(new Regex($@"Instrumentation scope \(Meter\):\s+Name: {Regex.Escape(IoTDiagnostics.MeterName)}\b"), output);
            var rounds = int.Parse(Regex.Match(output, @"Done: \d+ round trips completed in (?<rounds>[1-9]\d*) rounds").Groups["rounds"].Value, System.Globalization.CultureInfo.InvariantCulture);
            var sent = LastSumOf(output, IoTDiagnostics.TelemetryRecordsSent);
            Assert.Equal(2 * 5 * rounds, sent);
        }
        finally
        {
            await moto.DisposeAsync();
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_sample_takes_a_device_ca_as_its_certificate_and_key_files_together_and_refuses_one_without_the_other()
    {
        using var ca = LocalCertificateAuthority.Create("WorkerService sample device CA");
        var work = Directory.CreateTempSubdirectory("iotm-worker-ca-");
        try
        {
            var (certificatePem, keyPem) = ca.ExportCertificateAndKeyPem();
            var certificate = Path.Combine(work.FullName, "ca.pem");
            var key = Path.Combine(work.FullName, "ca-key.pem");
            File.WriteAllText(certificate, certificatePem);
            File.WriteAllText(key, keyPem);
            static IConfiguration Settings(params (string Key, string Value)[] pairs) =>
                new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

            var options = new AwsIoTOptions();
            AwsSampleSettings.Apply(options, Settings(("CertificateAuthorityPemFile", certificate), ("CertificateAuthorityKeyPemFile", key)));
            Assert.Equal(ca.Certificate.Thumbprint, options.CertificateAuthority!.Certificate.Thumbprint);
            options.CertificateAuthority.Dispose();

            var alone = new AwsIoTOptions();
            var error = Assert.Throws<ArgumentException>(() => AwsSampleSettings.Apply(alone, Settings(("CertificateAuthorityPemFile", certificate))));
            Assert.Equal("CertificateAuthorityKeyPemFile", error.ParamName);
            Assert.Null(alone.CertificateAuthority);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The last export of a monotonic sum, from the console exporter's "Metric Name: … Value: n" block, summed over its
    /// points (one per tag set: records.sent has one per provider).
    /// </summary>
    private static long LastSumOf(string output, string metric)
    {
        int start = output.LastIndexOf($"Metric Name: {metric}", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no export of {metric}");
        int end = output.IndexOf("Metric Name:", start + 1, StringComparison.Ordinal);
        var block = end < 0 ? output[start..] : output[start..end];
        var values = Regex.Matches(block, @"\bValue: (?<value>\d+)");
        Assert.NotEmpty(values);
        return values.Sum(v => long.Parse(v.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Runs the built sample as its own process with <c>--seconds 1</c>, killed if it outlives <see cref="ProcessBound"/>.</summary>
    private static async Task<(int ExitCode, string Output, string Errors)> RunSampleAsync(IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "WorkerService.dll"), "--seconds", "1", "--Worker:MetricsExportSeconds", "1" })
            start.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(ProcessBound);
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
