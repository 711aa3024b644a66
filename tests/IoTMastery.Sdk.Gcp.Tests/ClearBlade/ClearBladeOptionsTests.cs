using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// The ClearBlade option shape: one of a service-account file or its four values, each bad field refused with an
/// ArgumentException naming it before any network call, and the token never in a message or ToString.
/// </summary>
public sealed class ClearBladeOptionsTests
{
    private const string Secret = "tok-very-secret-123";

    private static GcpIoTOptions Options(string? path = null, string? json = null, ClearBladeServiceAccount? account = null) => new()
    {
        ProjectId = "proj-1", RegistryId = "reg-1",
        ClearBladeServiceAccountJsonPath = path, ClearBladeServiceAccountJson = json, ClearBladeServiceAccount = account,
    };

    private static ClearBladeServiceAccount Account(string project = "proj-1", string systemKey = "key-1", string token = Secret, string? url = "https://iot.clearblade.com") =>
        new() { Project = project, SystemKey = systemKey, Token = token, Url = url is null ? null : new Uri(url) };

    public static TheoryData<string, string> BadAccounts => new()
    {
        { "{\"systemKey\":\"k\",\"token\":\"" + Secret + "\",\"url\":\"https://iot.clearblade.com\"}", "'project'" },
        { "{\"project\":\"proj-1\",\"token\":\"" + Secret + "\",\"url\":\"https://iot.clearblade.com\"}", "'systemKey'" },
        { "{\"project\":\"proj-1\",\"systemKey\":\"k\",\"url\":\"https://iot.clearblade.com\"}", "'token'" },
        { "{\"project\":\"proj-1\",\"systemKey\":\"k\",\"token\":\"" + Secret + "\"}", "'url'" },
        // The token would travel in clear text to a remote host.
        { "{\"project\":\"proj-1\",\"systemKey\":\"k\",\"token\":\"" + Secret + "\",\"url\":\"http://iot.clearblade.com\"}", "'url'" },
        { "{\"project\":\"proj-1\",\"systemKey\":\"k\",\"token\":\"" + Secret + "\",", "not valid JSON" },
        { "[\"" + Secret + "\"]", "not a JSON object" },
    };

    [Theory]
    [MemberData(nameof(BadAccounts))]
    public async Task A_bad_service_account_file_is_refused_naming_the_field_and_never_quoting_the_token(string json, string named)
    {
        var folder = Directory.CreateTempSubdirectory("iotm-cb-opt-");
        try
        {
            var path = Path.Combine(folder.FullName, "sa.json");
            await File.WriteAllTextAsync(path, json);
            var error = await Assert.ThrowsAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(path: path)));
            Assert.Contains(named, error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void In_ClearBlade_mode_only_Pub_Sub_carries_the_Google_credentials_so_only_its_scheme_is_checked()
    {
        // The registry keeps the ClearBlade token (a loopback http account url is fine, as in the registry double tests).
        var options = Options(account: Account(url: "http://127.0.0.1:1/"));
        options.AccessTokenProvider = _ => ValueTask.FromResult(Secret);
        options.PubSubBaseUrl = new Uri("https://127.0.0.1:1/");
        options.Validate();
        Assert.Contains("Credentials = PubSub: AccessToken", options.ToString(), StringComparison.Ordinal);

        // A bearer token toward an http Pub/Sub (the emulator) would travel in clear text: refused, naming both options.
        options.PubSubBaseUrl = new Uri("http://127.0.0.1:1/");
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(nameof(GcpIoTOptions.AccessTokenProvider), error.ParamName);
        Assert.Contains(nameof(GcpIoTOptions.PubSubBaseUrl), error.Message, StringComparison.Ordinal);

        // Nothing configured: the emulator gets no credentials.
        options.AccessTokenProvider = null;
        options.Validate();
        Assert.Contains("Credentials = PubSub: None (http)", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_option_shape_is_checked_before_anything_is_sent()
    {
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(path: "/nonexistent/iotm-cb.json")));
        Assert.Contains("ClearBladeServiceAccountJsonPath", missing.Message, StringComparison.Ordinal);
        // Neither given is not ClearBlade mode at all: the v1 shape, whose settings are checked as before.
        Assert.False(Options().IsClearBlade);
        var both = await Assert.ThrowsAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(path: "x.json", account: Account())));
        Assert.Contains("exactly one", both.Message, StringComparison.Ordinal);
        var pathAndJson = await Assert.ThrowsAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(path: "x.json", json: "{}")));
        Assert.Equal(nameof(GcpIoTOptions.ClearBladeServiceAccountJsonPath), pathAndJson.ParamName);
        var otherProject = await Assert.ThrowsAsync<ArgumentException>(() => GcpIoTProvider.StartAsync(Options(account: Account(project: "proj-2"))));
        Assert.Equal(nameof(GcpIoTOptions.ProjectId), otherProject.ParamName);
        var withBaseUrl = Options(account: Account());
        withBaseUrl.CloudIotBaseUrl = new Uri("https://vendor.example/");
        Assert.Equal(nameof(GcpIoTOptions.CloudIotBaseUrl), Assert.Throws<ArgumentException>(withBaseUrl.Validate).ParamName);
        var badKey = Assert.Throws<ArgumentException>(() => Account(systemKey: "a/b").Validate());
        Assert.Equal(nameof(ClearBladeServiceAccount.SystemKey), badKey.ParamName);
        var twoLines = Assert.Throws<ArgumentException>(() => Account(token: Secret + "\r\nX-Injected: 1").Validate());
        Assert.Equal(nameof(ClearBladeServiceAccount.Token), twoLines.ParamName);
        Assert.DoesNotContain(Secret, twoLines.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_never_appears_in_descriptions_or_in_errors_from_the_service()
    {
        var options = Options(account: Account());
        Assert.DoesNotContain(Secret, options.ToString(), StringComparison.Ordinal);
        var inline = Options(json: "{\"project\":\"proj-1\",\"systemKey\":\"key-1\",\"token\":\"" + Secret + "\",\"url\":\"https://iot.clearblade.com\"}");
        Assert.DoesNotContain(Secret, inline.ToString(), StringComparison.Ordinal);
        Assert.Contains("ClearBlade", inline.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, Account().ToString(), StringComparison.Ordinal);

        // A registry-credentials answer without the registry's token is a typed error that names no token.
        LoopbackHttpServer? server = null;
        await using var capture = server = new LoopbackHttpServer(_ => new CannedResponse(200, new JsonObject { ["systemKey"] = "k2", ["url"] = server!.BaseUrl.AbsoluteUri }.ToJsonString()));
        using var http = new HttpClient();
        var client = CloudIotClient.ForClearBlade(http, new CloudIotRegistryPath("proj-1", "us-central1", "reg-1"), Account(url: capture.BaseUrl.AbsoluteUri));
        var malformed = await Assert.ThrowsAsync<IoTException>(() => client.GetDeviceAsync("dev-1"));
        Assert.Equal("INVALID_RESPONSE", malformed.ErrorCode);
        Assert.DoesNotContain(Secret, malformed.ToString(), StringComparison.Ordinal);
        // A regional URL that would carry the registry token in clear text to a remote host is refused, and nothing is sent there.
        await using var remote = new LoopbackHttpServer(_ => new CannedResponse(200, "{\"systemKey\":\"k2\",\"serviceAccountToken\":\"t2\",\"url\":\"http://iot.example.com\"}"));
        var toRemote = CloudIotClient.ForClearBlade(http, new CloudIotRegistryPath("proj-1", "us-central1", "reg-1"), Account(url: remote.BaseUrl.AbsoluteUri));
        Assert.Equal("INVALID_RESPONSE", (await Assert.ThrowsAsync<IoTException>(() => toRemote.GetDeviceAsync("dev-1"))).ErrorCode);
        Assert.Single(remote.Requests);
    }
}
