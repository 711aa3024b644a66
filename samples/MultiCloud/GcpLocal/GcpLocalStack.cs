using System.Security.Cryptography.X509Certificates;
using System.Diagnostics;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Gcp;
using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.CloudDoubles.PubSub;

namespace MultiCloud.GcpLocal;

/// <summary>
/// Everything the GCP-style provider needs, on loopback: Google's Pub/Sub emulator (or the one PUBSUB_EMULATOR_HOST
/// names), the Cloud IoT registry double, mosquitto with server TLS as the bridge broker, and the bridge relay doing the
/// vendor bridge's routing; the doubles are the ones tests/IoTMastery.Sdk.CloudDoubles shares with the GCP tests.
/// </summary>
internal static class GcpLocalStack
{
    private const string ProjectId = "multicloud-sample";

    public static async Task<ProviderHost> StartAsync(CancellationToken ct)
    {
        var owned = new List<IAsyncDisposable>();
        try
        {
            Uri pubsubUrl;
            if (Environment.GetEnvironmentVariable("PUBSUB_EMULATOR_HOST") is { Length: > 0 } host)
            {
                pubsubUrl = new Uri($"http://{host}/");
            }
            else
            {
                var emulator = await LocalProcess.StartPathAsync(await FindEmulatorAsync(ct), port => ["--host=127.0.0.1", $"--port={port.ToString(System.Globalization.CultureInfo.InvariantCulture)}"], TimeSpan.FromSeconds(90), ct);
                owned.Add(emulator);
                pubsubUrl = new Uri($"http://127.0.0.1:{emulator.Port}/");
            }

            var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            owned.Add(new ProviderHost.Disposer(http.Dispose));
            var pubsub = new PubSubRest(http, pubsubUrl, ProjectId);
            var suffix = Guid.NewGuid().ToString("N")[..8];
            string telemetry = "telemetry-" + suffix, replies = "replies-" + suffix;
            foreach (var topic in new[] { telemetry, replies })
            {
                await pubsub.CreateTopicAsync(topic, ct);
                await pubsub.CreateSubscriptionAsync(topic + "-sub", topic, ackDeadlineSeconds: 30, ct);
            }

            var registry = new CloudIotRegistryDouble();
            owned.Add(registry);

            var ca = LocalCertificateAuthority.Create("MultiCloud GCP bridge CA");
            owned.Add(new ProviderHost.Disposer(ca.Dispose));
            // Server-auth TLS only: the bridge's password is a device JWT, which mosquitto cannot check.
            var mosquitto = await LocalMosquitto.StartAsync(ca, requireClientCertificates: false, ct);
            owned.Add(mosquitto);
            var roots = new X509Certificate2Collection(
                X509CertificateLoader.LoadCertificate(ca.Certificate.RawData));

            var options = new GcpIoTOptions
            {
                ProjectId = ProjectId,
                RegistryId = "multicloud",
                CloudIotBaseUrl = registry.Server.BaseUrl,
                PubSubBaseUrl = pubsubUrl,
                TelemetryTopicId = telemetry,
                TelemetrySubscriptionId = telemetry + "-sub",
                CommandReplySubscriptionId = replies + "-sub",
                Transport = { DeviceHost = "localhost", DevicePort = mosquitto.Port, TrustedRoots = roots },
                EmptyPullDelay = TimeSpan.FromMilliseconds(50),
            };

            owned.Add(await GcpBridgeRelay.StartAsync(mosquitto.Port, roots, registry, pubsub, options, telemetry, replies, ct));

            var provider = await GcpIoTProvider.StartAsync(options, cancellationToken: ct);
            return ProviderHost.Create(provider,
                $"GCP-style provider: registry double {registry.Server.BaseUrl}, Pub/Sub {pubsubUrl}, bridge on mosquitto mqtts://localhost:{mosquitto.Port} with a routing relay",
                owned);
        }
        catch
        {
            foreach (var o in Enumerable.Reverse(owned)) await o.DisposeAsync();
            throw;
        }
    }

    private static async Task<string> FindEmulatorAsync(CancellationToken ct)
    {
        const string hint = "Install google-cloud-cli-pubsub-emulator and a Java 17 runtime (openjdk-17-jre-headless), or set PUBSUB_EMULATOR_HOST.";
        string root;
        try
        {
            var info = new ProcessStartInfo("gcloud", ["info", "--format=value(installation.sdk_root)"]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            info.Environment["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1";
            using var gcloud = Process.Start(info)!;
            var output = gcloud.StandardOutput.ReadToEndAsync(ct);
            _ = gcloud.StandardError.ReadToEndAsync(ct);
            await gcloud.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
            root = (await output).Trim();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or TimeoutException)
        {
            throw new InvalidOperationException("gcloud was not found or did not answer. " + hint, ex);
        }
        var launcher = Path.Combine(root, "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator");
        return File.Exists(launcher) ? launcher : throw new InvalidOperationException($"The Pub/Sub emulator launcher is missing at {launcher}. " + hint);
    }
}
