using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The credentials <see cref="GcpIoTOptions"/> infers from what is given, per endpoint, against the Cloud IoT registry double:
/// the access-token callback is asked before every request and its token sent as a bearer token over https; an http endpoint
/// with nothing configured (the emulator case) gets no credentials, while the other endpoint keeps Application Default
/// Credentials; a token or service account with an http endpoint, both sources at once, or a bad file or URL is refused
/// before any request; a service-account file bound from configuration is read at start (a bad one fails start without
/// quoting it).
/// </summary>
public sealed class GcpAuthenticationOptionsTests : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The https registry root the provider is given. The double speaks plain http on loopback, so <see cref="AuthorizationRecorder"/>
    /// forwards what the provider sends to this root to the double after recording it: the provider decides as for any https
    /// vendor, and the registry calls are real. Nothing here resolves the name.
    /// </summary>
    private static readonly Uri HttpsRegistry = new("https://cloudiot.test/");

    /// <summary>An https Pub/Sub root none of these tests calls (port 1 on loopback would refuse it if one did).</summary>
    private static readonly Uri HttpsPubSub = new("https://127.0.0.1:1/");

    private readonly CloudIotRegistryDouble _registry = new();
    private readonly TempFirmwareStore _firmware = new();
    private readonly AuthorizationRecorder _recorder;

    public GcpAuthenticationOptionsTests() => _recorder = new(new SocketsHttpHandler(), HttpsRegistry, _registry.Server.BaseUrl);

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _firmware.Dispose();
    }

    private GcpIoTOptions Options(Action<GcpIoTOptions> configure)
    {
        var options = new GcpIoTOptions
        {
            ProjectId = "auth-project", RegistryId = "auth-reg", CloudIotBaseUrl = HttpsRegistry,
            PubSubBaseUrl = HttpsPubSub, FirmwareStorePath = _firmware.Path,
            Transport = { HttpHandler = _recorder },
        };
        configure(options);
        return options;
    }

    [Fact]
    public async Task The_access_token_provider_is_asked_before_every_request_and_its_token_sent_as_a_bearer_token()
    {
        var asked = 0;
        await using var provider = await GcpIoTProvider.StartAsync(Options(o => o.AccessTokenProvider = _ => ValueTask.FromResult("token-" + Interlocked.Increment(ref asked))));

        await provider.CloudIot.CreateDeviceAsync(new JsonObject { ["id"] = "dev-auth" });
        await provider.CloudIot.GetDeviceAsync("dev-auth");
        await provider.CloudIot.GetDeviceAsync("dev-auth");

        // A rotated token is used from the next request on: nothing is cached between calls.
        Assert.Equal(["Bearer token-1", "Bearer token-2", "Bearer token-3"], _recorder.Authorizations);
    }

    [Fact]
    public async Task An_http_endpoint_with_no_credentials_configured_gets_none_while_an_https_one_keeps_application_default_credentials()
    {
        // The emulator case: the registry double on http. Pub/Sub stays https, so it would use ADC (resolved on its first call,
        // which this test never makes: this machine has no ADC, and resolving it for the registry would fail the call).
        var options = Options(o => o.CloudIotBaseUrl = _registry.Server.BaseUrl);
        Assert.Contains("Credentials = CloudIot: None (http), PubSub: ApplicationDefault", options.ToString(), StringComparison.Ordinal);
        await using var provider = await GcpIoTProvider.StartAsync(options);

        await provider.CloudIot.CreateDeviceAsync(new JsonObject { ["id"] = "dev-anon" });

        Assert.Equal([""], _recorder.Authorizations);
    }

    public static TheoryData<string, string, Action<GcpIoTOptions>> Refused => new()
    {
        // A bearer token in clear text can be read and replayed on the path: refused per endpoint, naming both options.
        { nameof(GcpIoTOptions.AccessTokenProvider), nameof(GcpIoTOptions.CloudIotBaseUrl), o => { o.AccessTokenProvider = _ => ValueTask.FromResult("t"); o.CloudIotBaseUrl = new Uri("http://127.0.0.1:1/"); } },
        { nameof(GcpIoTOptions.AccessTokenProvider), nameof(GcpIoTOptions.PubSubBaseUrl), o => { o.AccessTokenProvider = _ => ValueTask.FromResult("t"); o.PubSubBaseUrl = new Uri("http://127.0.0.1:1/"); } },
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), nameof(GcpIoTOptions.CloudIotBaseUrl), o => { o.ServiceAccountJsonPath = "/etc/hostname"; o.CloudIotBaseUrl = new Uri("http://127.0.0.1:1/"); } },
        // Two sources: which one was meant is a guess, so neither is used.
        { nameof(GcpIoTOptions.AccessTokenProvider), nameof(GcpIoTOptions.ServiceAccountJsonPath), o => { o.AccessTokenProvider = _ => ValueTask.FromResult("t"); o.ServiceAccountJsonPath = "/etc/hostname"; } },
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), "does not name an existing file", o => o.ServiceAccountJsonPath = "/no/such/key.json" },
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), "does not name an existing file", o => o.ServiceAccountJsonPath = "" },
        // Exists but is not a key file: read at start, refused there.
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), "not a readable Google service-account key file", o => o.ServiceAccountJsonPath = "/etc/hostname" },
        { nameof(GcpIoTOptions.CloudIotBaseUrl), "absolute https", o => o.CloudIotBaseUrl = new Uri("vendor/", UriKind.Relative) },
        { nameof(GcpIoTOptions.PubSubBaseUrl), "absolute https", o => o.PubSubBaseUrl = new Uri("ftp://127.0.0.1/") },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Credentials_that_would_travel_in_clear_text_two_sources_and_bad_files_or_urls_are_refused_before_any_request(string member, string named, Action<GcpIoTOptions> breakIt)
    {
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(breakIt)));
        Assert.Equal(member, error.ParamName);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Empty(_recorder.Authorizations);
    }

    [Fact]
    public async Task A_service_account_file_bound_from_configuration_is_read_when_the_host_starts()
    {
        var directory = Directory.CreateTempSubdirectory("iotm-gcp-sa-");
        try
        {
            var keyFile = Path.Combine(directory.FullName, "sa.json");
            await File.WriteAllTextAsync(keyFile, ServiceAccountJson(out _));
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["IoT:Gcp:sa:ProjectId"] = "auth-project",
                ["IoT:Gcp:sa:RegistryId"] = "auth-reg",
                // A service account sends bearer tokens, so only with https endpoints; the host starts without calling them.
                ["IoT:Gcp:sa:CloudIotBaseUrl"] = HttpsRegistry.AbsoluteUri,
                ["IoT:Gcp:sa:PubSubBaseUrl"] = HttpsPubSub.AbsoluteUri,
                ["IoT:Gcp:sa:ServiceAccountJsonPath"] = keyFile,
                ["IoT:Gcp:sa:FirmwareStorePath"] = _firmware.Path,
                ["IoT:Gcp:sa:Transport:MaxRetries"] = "2",
            }).Build();
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Services.AddIoT().AddGcp("sa", configuration.GetSection("IoT:Gcp:sa"));
            using var host = builder.Build();
            using var timeout = new CancellationTokenSource(Bound);

            await host.StartAsync(timeout.Token);

            var bound = host.Services.GetRequiredService<IOptionsMonitor<GcpIoTOptions>>().Get("sa");
            Assert.Contains("Credentials = ServiceAccountFile", bound.ToString(), StringComparison.Ordinal);
            Assert.Equal(keyFile, bound.ServiceAccountJsonPath);
            Assert.Equal(2, bound.Transport.MaxRetries);
            Assert.IsType<GcpIoTProvider>(host.Services.GetRequiredKeyedService<IIoTProvider>("sa"));
            await host.StopAsync(timeout.Token);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("external_account")]
    [InlineData("not json")]
    public async Task A_file_that_is_not_a_service_account_key_fails_start_without_quoting_it(string kind)
    {
        var directory = Directory.CreateTempSubdirectory("iotm-gcp-sa-");
        try
        {
            var keyFile = Path.Combine(directory.FullName, "sa.json");
            var json = ServiceAccountJson(out var privateKey);
            // An external-account file could make the library run a command or fetch a URL it names: refused, not followed.
            await File.WriteAllTextAsync(keyFile, kind == "not json" ? privateKey : json.Replace("\"service_account\"", "\"" + kind + "\"", StringComparison.Ordinal));

            var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(o => o.ServiceAccountJsonPath = keyFile)));

            Assert.Equal(nameof(GcpIoTOptions.ServiceAccountJsonPath), error.ParamName);
            Assert.Contains(keyFile, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("PRIVATE KEY", error.Message, StringComparison.Ordinal);
            Assert.Empty(_recorder.Authorizations);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>A service-account key file as the Google Cloud console writes it, with a fresh RSA key; nothing in it is live.</summary>
    private static string ServiceAccountJson(out string privateKeyPem)
    {
        using var rsa = RSA.Create(2048);
        privateKeyPem = rsa.ExportPkcs8PrivateKeyPem();
        return new JsonObject
        {
            ["type"] = "service_account",
            ["project_id"] = "auth-project",
            ["private_key_id"] = "0123456789abcdef",
            ["private_key"] = privateKeyPem,
            ["client_email"] = "iotm-test@auth-project.iam.gserviceaccount.com",
            ["client_id"] = "1234567890",
            // Loopback port 1: a token request, which none of these tests makes, could not leave the machine.
            ["token_uri"] = "http://127.0.0.1:1/token",
        }.ToJsonString();
    }

    /// <summary>
    /// Records each request's Authorization header ("" when absent), then passes it to the peer; a request to
    /// <paramref name="httpsRoot"/> goes to <paramref name="peerRoot"/> instead (see <see cref="HttpsRegistry"/>).
    /// </summary>
    private sealed class AuthorizationRecorder(HttpMessageHandler inner, Uri httpsRoot, Uri peerRoot) : DelegatingHandler(inner)
    {
        private readonly ConcurrentQueue<string> _seen = new();

        public IReadOnlyList<string> Authorizations => [.. _seen];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            _seen.Enqueue(request.Headers.Authorization?.ToString() ?? "");
            if (request.RequestUri is { } uri && httpsRoot.IsBaseOf(uri))
                request.RequestUri = new Uri(peerRoot, httpsRoot.MakeRelativeUri(uri));
            return base.SendAsync(request, cancellationToken);
        }
    }
}
