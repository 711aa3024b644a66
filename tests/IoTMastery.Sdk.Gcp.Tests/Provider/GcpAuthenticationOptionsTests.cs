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
/// <see cref="GcpIoTOptions.Authentication"/> and its sources, against the Cloud IoT registry double on loopback: the
/// access-token callback is asked before every request and its token sent as a bearer token, <see cref="GcpAuthentication.None"/>
/// sends no credentials, a service-account file bound from configuration is read at start (a bad one fails start without
/// quoting it), and a source given for another kind is refused before any request.
/// </summary>
public sealed class GcpAuthenticationOptionsTests : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly CloudIotRegistryDouble _registry = new();
    private readonly TempFirmwareStore _firmware = new();
    private readonly AuthorizationRecorder _recorder = new(new SocketsHttpHandler());

    public async ValueTask DisposeAsync()
    {
        await _registry.DisposeAsync();
        _firmware.Dispose();
    }

    private GcpIoTOptions Options(Action<GcpIoTOptions> configure)
    {
        var options = new GcpIoTOptions
        {
            ProjectId = "auth-project", RegistryId = "auth-reg", CloudIotBaseUrl = _registry.Server.BaseUrl,
            PubSubBaseUrl = new Uri("http://127.0.0.1:1/"), FirmwareStorePath = _firmware.Path,
            Transport = { HttpHandler = _recorder },
        };
        configure(options);
        return options;
    }

    [Fact]
    public async Task The_access_token_provider_is_asked_before_every_request_and_its_token_sent_as_a_bearer_token()
    {
        var asked = 0;
        await using var provider = await GcpIoTProvider.StartAsync(Options(o =>
        {
            o.Authentication = GcpAuthentication.AccessToken;
            o.AccessTokenProvider = _ => ValueTask.FromResult("token-" + Interlocked.Increment(ref asked));
        }));

        await provider.CloudIot.CreateDeviceAsync(new JsonObject { ["id"] = "dev-auth" });
        await provider.CloudIot.GetDeviceAsync("dev-auth");
        await provider.CloudIot.GetDeviceAsync("dev-auth");

        // A rotated token is used from the next request on: nothing is cached between calls.
        Assert.Equal(["Bearer token-1", "Bearer token-2", "Bearer token-3"], _recorder.Authorizations);
    }

    [Fact]
    public async Task Authentication_None_sends_no_credentials()
    {
        await using var provider = await GcpIoTProvider.StartAsync(Options(o => o.Authentication = GcpAuthentication.None));

        await provider.CloudIot.CreateDeviceAsync(new JsonObject { ["id"] = "dev-anon" });

        Assert.Equal([""], _recorder.Authorizations);
    }

    public static TheoryData<string, Action<GcpIoTOptions>> Mismatched => new()
    {
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), o => o.Authentication = GcpAuthentication.ServiceAccountFile },
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), o => o.ServiceAccountJsonPath = "/etc/hostname" },
        { nameof(GcpIoTOptions.ServiceAccountJsonPath), o => { o.Authentication = GcpAuthentication.ServiceAccountFile; o.ServiceAccountJsonPath = "/no/such/key.json"; } },
        { nameof(GcpIoTOptions.AccessTokenProvider), o => o.Authentication = GcpAuthentication.AccessToken },
        { nameof(GcpIoTOptions.AccessTokenProvider), o => { o.Authentication = GcpAuthentication.None; o.AccessTokenProvider = _ => ValueTask.FromResult("t"); } },
        { nameof(GcpIoTOptions.Authentication), o => o.Authentication = (GcpAuthentication)42 },
    };

    [Theory]
    [MemberData(nameof(Mismatched))]
    public async Task A_kind_without_its_source_or_a_source_for_another_kind_is_refused_before_any_request(string member, Action<GcpIoTOptions> breakIt)
    {
        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(breakIt)));
        Assert.Equal(member, error.ParamName);
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
                ["IoT:Gcp:sa:CloudIotBaseUrl"] = _registry.Server.BaseUrl.AbsoluteUri,
                ["IoT:Gcp:sa:PubSubBaseUrl"] = "http://127.0.0.1:1/",
                ["IoT:Gcp:sa:Authentication"] = "ServiceAccountFile",
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
            Assert.Equal(GcpAuthentication.ServiceAccountFile, bound.Authentication);
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

            var error = await Assert.ThrowsAnyAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(o =>
            {
                o.Authentication = GcpAuthentication.ServiceAccountFile;
                o.ServiceAccountJsonPath = keyFile;
            })));

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

    /// <summary>Passes requests to the peer and records each one's Authorization header ("" when absent).</summary>
    private sealed class AuthorizationRecorder(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private readonly ConcurrentQueue<string> _seen = new();

        public IReadOnlyList<string> Authorizations => [.. _seen];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            _seen.Enqueue(request.Headers.Authorization?.ToString() ?? "");
            return base.SendAsync(request, cancellationToken);
        }
    }
}
