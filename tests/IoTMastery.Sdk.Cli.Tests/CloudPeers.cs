using System.Text.Json.Nodes;
using IoTMastery.Sdk.CloudDoubles.CloudIot;
using IoTMastery.Sdk.CloudDoubles.IotHub;
using IotHub = IoTMastery.Sdk.CloudDoubles.IotHub;
using IoTMastery.Sdk.Gcp;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Cli.Tests;

/// <summary>
/// The IoT Hub double, hosted by the test, as the tool (a separate process) reaches it: the service connection string, the
/// double's HTTPS endpoint and the firmware store file from <c>IOTM_IoT__Azure__hub__…</c>, and the double's CA trusted
/// the way any .NET process on Linux trusts a private CA, through OpenSSL's <c>SSL_CERT_FILE</c>. The tool gets no
/// test-only switch: an operator with a private hub CA does exactly this.
/// </summary>
public sealed class AzureHubPeer : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-hub-").FullName;

    private AzureHubPeer(IotHubDouble hub)
    {
        Hub = hub;
        File.WriteAllText(CaFile, hub.CaPem);
    }

    public IotHubDouble Hub { get; }

    private string CaFile => Path.Combine(_dir, "hub-ca.pem");

    public static async Task<AzureHubPeer> StartAsync() => new(await IotHubDouble.StartAsync());

    /// <summary>The environment naming this hub as the provider <c>IoT:Azure:hub</c>.</summary>
    public Dictionary<string, string?> Env() => new()
    {
        ["IOTM_IoT__Azure__hub__ConnectionString"] = Hub.ServiceConnectionString,
        ["IOTM_IoT__Azure__hub__ServiceEndpoint"] = $"https://localhost:{Hub.HttpsPort}/",
        ["IOTM_IoT__Azure__hub__FirmwareStorePath"] = Hub.FirmwareStore.Path,
        ["IOTM_IoT__Azure__hub__Transport__Retry__BaseDelay"] = "00:00:00.010",
        ["IOTM_IoT__Azure__hub__Transport__Retry__MaxDelay"] = "00:00:00.050",
        ["SSL_CERT_FILE"] = CaFile,
    };

    /// <summary>A provider in the test process on the same hub and firmware store, to seed and to check independently of the tool.</summary>
    public IIoTProvider Open() => IotHubDoubleProviders.Create(Hub);

    /// <summary>
    /// Holds the first service request <paramref name="matches"/> accepts until the returned release is called, then drops it
    /// unhandled: the point where a test kills the tool, chosen by what the tool is doing rather than by a timer.
    /// </summary>
    public (Task Reached, Action Release) HoldFirst(Func<IotHub.CapturedRequest, bool> matches)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Hub.BeforeHandling = async request =>
        {
            if (!matches(request) || !reached.TrySetResult()) return;
            // Bounded: a test that forgets to release does not hang the double's shutdown.
            await release.Task.WaitAsync(TimeSpan.FromMinutes(5)).ConfigureAwait(false);
            throw new OperationCanceledException("dropped by the test");
        };
        return (reached.Task, () => release.TrySetResult());
    }

    public async ValueTask DisposeAsync()
    {
        await Hub.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>
/// A GCP-style registry (the Cloud IoT registry double) reached as ClearBlade IoT Core, the GCP-style service that outlived
/// Google's: its service-account file is the only secret and is named in configuration
/// (<c>IOTM_IoT__Gcp__cb__ClearBladeServiceAccountJsonPath</c>). Pub/Sub would use Google application-default credentials
/// (no credential is configured and its root is Google's https one), but the registry, state and firmware commands make no
/// Pub/Sub call, so neither ADC nor a Pub/Sub peer is needed.
/// </summary>
public sealed class GcpStylePeer : IAsyncDisposable
{
    private const string Project = "proj-cli", Location = "us-central1", RegistryId = "reg-cli";
    private readonly string _dir = Directory.CreateTempSubdirectory("iotm-cli-gcp-").FullName;
    private readonly TempFirmwareStore _firmware = new();

    public GcpStylePeer()
    {
        Registry = new CloudIotRegistryDouble { ClearBlade = new ClearBladeDoubleAccount("admin-key-cli", "admin-token-cli", Project, Location, RegistryId) };
        File.WriteAllText(AccountFile, new JsonObject
        {
            ["project"] = Project, ["systemKey"] = Registry.ClearBlade!.AdminSystemKey, ["token"] = Registry.ClearBlade.AdminToken,
            ["url"] = Registry.Server.BaseUrl.AbsoluteUri,
        }.ToJsonString());
    }

    public CloudIotRegistryDouble Registry { get; }

    private string AccountFile => Path.Combine(_dir, "clearblade.json");

    /// <summary>The environment naming this registry as the provider <c>IoT:Gcp:cb</c>.</summary>
    public Dictionary<string, string?> Env() => new()
    {
        ["IOTM_IoT__Gcp__cb__ProjectId"] = Project,
        ["IOTM_IoT__Gcp__cb__Location"] = Location,
        ["IOTM_IoT__Gcp__cb__RegistryId"] = RegistryId,
        ["IOTM_IoT__Gcp__cb__ClearBladeServiceAccountJsonPath"] = AccountFile,
        ["IOTM_IoT__Gcp__cb__Transport__DeviceHost"] = "localhost",
        ["IOTM_IoT__Gcp__cb__FirmwareStorePath"] = _firmware.Path,
    };

    /// <summary>A provider in the test process on the same registry and firmware store.</summary>
    public async Task<IIoTProvider> OpenAsync() => await GcpIoTProvider.StartAsync(new GcpIoTOptions
    {
        ProjectId = Project, Location = Location, RegistryId = RegistryId,
        ClearBladeServiceAccountJsonPath = AccountFile,
        Transport = { DeviceHost = "localhost" }, FirmwareStorePath = _firmware.Path,
    });

    public async ValueTask DisposeAsync()
    {
        await Registry.DisposeAsync();
        _firmware.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
