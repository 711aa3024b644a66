using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Gcp.Tests.Errors;

/// <summary>
/// Issue #12 item 6 on GCP-style: a desired patch nested past the core's one depth limit used to be written as a config that
/// no reader could parse back; it is now an <see cref="ArgumentException"/> naming the limit, before any request.
/// </summary>
public sealed class StateDocumentDepthTests
{
    [Fact]
    public async Task A_desired_patch_deeper_than_the_core_limit_is_refused_before_any_request()
    {
        using var http = new HttpClient();
        // A loopback port nothing listens on: any request would fail with a connection error, not an ArgumentException.
        var client = new CloudIotClient(http, new CloudIotRegistryPath("proj-1", "us-central1", "reg-1"), new Uri($"http://127.0.0.1:{ClosedPort()}/"), NoAuthenticator.Instance);
        var state = new GcpStateService(client);
        var patch = new JsonObject { ["leaf"] = 1 };
        for (var i = 1; i < 100; i++) patch = new JsonObject { ["n"] = patch };

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => state.UpdateDesiredAsync("dev-1", patch).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal("patch", ex.ParamName);
        Assert.Contains("levels", ex.Message, StringComparison.Ordinal);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
