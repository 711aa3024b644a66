using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Aws.Tests.Conformance;

/// <summary>
/// Request conformance: the official AWS SDK for JavaScript (versions pinned in tests/conformance/aws-node) and
/// our provider perform the same operations against a loopback capture server with the same credentials and
/// signing time; method, path, query, body and signature must match.
/// </summary>
public sealed class JsSdkConformanceTests
{
    private static readonly DateTimeOffset SigningTime = new(2015, 8, 30, 12, 36, 0, TimeSpan.Zero);
    private static readonly ImmutableCredentials Credentials = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", null);
    private const string Arn = "arn:aws:iot:us-east-1:123456789012:cert/" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string CertId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private sealed record Op(string Client, string Name, JsonObject Input, Func<IotControlPlane, IotDataPlane, Task> Ours);

    private static IEnumerable<Op> Operations()
    {
        var attrs = new Dictionary<string, string> { ["site"] = "Zürich – Halle 3", ["room"] = "a b/c" };
        yield return new("iot", "CreateThing", new() { ["thingName"] = "dev-001", ["attributePayload"] = new JsonObject { ["attributes"] = Obj(attrs) } },
            (c, _) => c.CreateThingAsync("dev-001", attrs, null, default));
        yield return new("iot", "CreateThing", new() { ["thingName"] = "dev-002", ["thingTypeName"] = "iotm-sensor", ["attributePayload"] = new JsonObject { ["attributes"] = Obj(attrs) } },
            (c, _) => c.CreateThingAsync("dev-002", attrs, "iotm-sensor", default));
        yield return new("iot", "CreateThing", new() { ["thingName"] = "dev-003", ["thingTypeName"] = "iotm-sensor" },
            (c, _) => c.CreateThingAsync("dev-003", null, "iotm-sensor", default));
        yield return new("iot", "DescribeThing", new() { ["thingName"] = "dev:001_x" }, (c, _) => c.DescribeThingAsync("dev:001_x", default));
        yield return new("iot", "ListThings", new() { ["attributeName"] = "site", ["attributeValue"] = "a b", ["maxResults"] = 50, ["nextToken"] = "tok/+=" },
            (c, _) => c.ListThingsAsync(50, "tok/+=", "site", "a b", default));
        yield return new("iot", "UpdateThing", new()
        {
            ["thingName"] = "dev-001",
            ["attributePayload"] = new JsonObject { ["attributes"] = new JsonObject { ["fw"] = "1.1", ["old"] = "" }, ["merge"] = true },
            ["expectedVersion"] = 3,
        }, (c, _) => c.UpdateThingAsync("dev-001", new Dictionary<string, string> { ["fw"] = "1.1", ["old"] = "" }, true, 3, default));
        yield return new("iot", "DeleteThing", new() { ["thingName"] = "dev-001", ["expectedVersion"] = 3 }, (c, _) => c.DeleteThingAsync("dev-001", 3, default));
        yield return new("iot", "CreateThingGroup", new() { ["thingGroupName"] = "fleet-a", ["thingGroupProperties"] = new JsonObject { ["thingGroupDescription"] = "Flotte ä" } },
            (c, _) => c.CreateThingGroupAsync("fleet-a", "Flotte ä", null, default));
        yield return new("iot", "DescribeThingGroup", new() { ["thingGroupName"] = "fleet-a" }, (c, _) => c.DescribeThingGroupAsync("fleet-a", default));
        yield return new("iot", "DeleteThingGroup", new() { ["thingGroupName"] = "fleet-a", ["expectedVersion"] = 2 }, (c, _) => c.DeleteThingGroupAsync("fleet-a", 2, default));
        yield return new("iot", "AddThingToThingGroup", new() { ["thingGroupName"] = "fleet-a", ["thingName"] = "dev-001" }, (c, _) => c.AddThingToThingGroupAsync("fleet-a", "dev-001", default));
        yield return new("iot", "RemoveThingFromThingGroup", new() { ["thingGroupName"] = "fleet-a", ["thingName"] = "dev-001" }, (c, _) => c.RemoveThingFromThingGroupAsync("fleet-a", "dev-001", default));
        yield return new("iot", "ListThingsInThingGroup", new() { ["thingGroupName"] = "fleet-a", ["maxResults"] = 10, ["nextToken"] = "n" }, (c, _) => c.ListThingsInThingGroupAsync("fleet-a", "n", 10, default));
        yield return new("iot", "CreateCertificateFromCsr", new() { ["certificateSigningRequest"] = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", ["setAsActive"] = true },
            (c, _) => c.CreateCertificateFromCsrAsync("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n", true, default));
        yield return new("iot", "RegisterCertificateWithoutCA", new() { ["certificatePem"] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", ["status"] = "ACTIVE" },
            (c, _) => c.RegisterCertificateWithoutCaAsync("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "ACTIVE", default));
        yield return new("iot", "DescribeCertificate", new() { ["certificateId"] = CertId }, (c, _) => c.DescribeCertificateAsync(CertId, default));
        yield return new("iot", "UpdateCertificate", new() { ["certificateId"] = CertId, ["newStatus"] = "INACTIVE" }, (c, _) => c.UpdateCertificateAsync(CertId, "INACTIVE", default));
        yield return new("iot", "DeleteCertificate", new() { ["certificateId"] = CertId, ["forceDelete"] = false }, (c, _) => c.DeleteCertificateAsync(CertId, false, default));
        yield return new("iot", "AttachThingPrincipal", new() { ["thingName"] = "dev-001", ["principal"] = Arn }, (c, _) => c.AttachThingPrincipalAsync("dev-001", Arn, default));
        yield return new("iot", "DetachThingPrincipal", new() { ["thingName"] = "dev-001", ["principal"] = Arn }, (c, _) => c.DetachThingPrincipalAsync("dev-001", Arn, default));
        yield return new("iot", "ListThingPrincipals", new() { ["thingName"] = "dev-001" }, (c, _) => c.ListThingPrincipalsAsync("dev-001", default));
        yield return new("iot", "CreatePolicy", new() { ["policyName"] = "iotmastery-device", ["policyDocument"] = AwsIoTProvider.DevicePolicyDocument() },
            (c, _) => c.CreatePolicyAsync("iotmastery-device", AwsIoTProvider.DevicePolicyDocument(), default));
        yield return new("iot", "GetPolicy", new() { ["policyName"] = "iotmastery-device" }, (c, _) => c.GetPolicyAsync("iotmastery-device", default));
        yield return new("iot", "DeletePolicy", new() { ["policyName"] = "iotmastery-device" }, (c, _) => c.DeletePolicyAsync("iotmastery-device", default));
        yield return new("iot", "AttachPolicy", new() { ["policyName"] = "iotmastery-device", ["target"] = Arn }, (c, _) => c.AttachPolicyAsync("iotmastery-device", Arn, default));
        yield return new("iot", "DetachPolicy", new() { ["policyName"] = "iotmastery-device", ["target"] = Arn }, (c, _) => c.DetachPolicyAsync("iotmastery-device", Arn, default));
        yield return new("iot", "DescribeEndpoint", new() { ["endpointType"] = "iot:Data-ATS" }, (c, _) => c.DescribeEndpointAsync("iot:Data-ATS", default));
        yield return new("data", "GetThingShadow", new() { ["thingName"] = "dev-001", ["shadowName"] = "config" }, (_, d) => d.GetThingShadowAsync("dev-001", "config", default));
        yield return new("data", "GetThingShadow", new() { ["thingName"] = "dev-001" }, (_, d) => d.GetThingShadowAsync("dev-001", null, default));
        yield return new("data", "UpdateThingShadow", new() { ["thingName"] = "dev-001", ["payload"] = "{\"state\":{\"desired\":{\"t\":\"ü\"}},\"version\":5}" },
            (_, d) => d.UpdateThingShadowAsync("dev-001", null, Encoding.UTF8.GetBytes("{\"state\":{\"desired\":{\"t\":\"ü\"}},\"version\":5}"), true, default));
        yield return new("data", "DeleteThingShadow", new() { ["thingName"] = "dev-001", ["shadowName"] = "config" }, (_, d) => d.DeleteThingShadowAsync("dev-001", "config", default));
        yield return new("data", "Publish", new() { ["topic"] = "$aws/things/dev 1/shadow/update", ["qos"] = 0, ["retain"] = true, ["payload"] = "{}" },
            (_, d) => d.PublishAsync("$aws/things/dev 1/shadow/update", "{}"u8.ToArray(), 0, true, default));
        yield return new("data", "Publish", new() { ["topic"] = "fleet/dev-001/telemetry", ["qos"] = 1, ["payload"] = "{\"a\":1}" },
            (_, d) => d.PublishAsync("fleet/dev-001/telemetry", "{\"a\":1}"u8.ToArray(), 1, false, default));
    }

    private static JsonObject Obj(IReadOnlyDictionary<string, string> d)
    {
        var o = new JsonObject();
        foreach (var (k, v) in d) o[k] = v;
        return o;
    }

    [Fact]
    public async Task Every_operation_matches_the_official_javascript_sdk()
    {
        var ops = Operations().ToList();
        // One server for both runs: the Host header (with its port) is signed.
        var (js, ours) = await CaptureAsync(async port => await RunNodeAsync(port, new JsonArray(ops.Select(o => (JsonNode)new JsonArray(o.Client, o.Name, o.Input.DeepClone())).ToArray())), async port =>
        {
            using var http = new HttpClient();
            var time = new FakeTimeProvider(SigningTime);
            var baseUri = new Uri($"http://127.0.0.1:{port}/");
            AwsHttpClient Client(string service) => new(http, baseUri, "us-east-1", service, _ => ValueTask.FromResult(Credentials),
                IoTTransportOptions.DefaultRetry with { MaxRetries = 0 }, time, NullLogger.Instance);
            var iot = new IotControlPlane(Client("iot"));
            var data = new IotDataPlane(Client("iotdata"));
            foreach (var op in ops)
            {
                // The capture server answers "{}"; only the request matters here.
                try { await op.Ours(iot, data); } catch (IoTException ex) when (ex.ErrorCode == "MalformedResponse") { }
            }
        });
        Assert.Equal(ops.Count, js.Count);
        Assert.Equal(ops.Count, ours.Count);
        var failures = new List<string>();
        for (var i = 0; i < ops.Count; i++)
        {
            var (a, b) = (js[i], ours[i]);
            var name = ops[i].Name;
            if (a.Method != b.Method) failures.Add($"{name}: method {a.Method} vs {b.Method}");
            if (a.Path != b.Path) failures.Add($"{name}: path {a.Path} vs {b.Path}");
            if (SigV4Signer.CanonicalQuery(a.Query) != SigV4Signer.CanonicalQuery(b.Query)) failures.Add($"{name}: query {a.Query} vs {b.Query}");
            if (!a.Body.AsSpan().SequenceEqual(b.Body)) failures.Add($"{name}: body {Encoding.UTF8.GetString(a.Body)} vs {Encoding.UTF8.GetString(b.Body)}");
            if (a.Header("x-amzn-principal") != b.Header("x-amzn-principal")) failures.Add($"{name}: x-amzn-principal differs");
            // Each side's signature must verify under our canonicalisation over the headers it chose to sign…
            foreach (var (side, request) in new[] { ("js", a), ("ours", b) })
                if (request.Recomputed(request.SignedHeaders) != request.Signature) failures.Add($"{name}: {side} signature does not verify ({request.Path})");
            // …and over the same header set both must produce the identical signature.
            string[] common = a.Header("content-type") is null ? ["host", "x-amz-content-sha256", "x-amz-date"] : ["content-type", "host", "x-amz-content-sha256", "x-amz-date"];
            if (a.Recomputed(common) != b.Recomputed(common)) failures.Add($"{name}: signatures over {string.Join(";", common)} differ");
            if (a.Header("content-type") != b.Header("content-type")) failures.Add($"{name}: content-type {a.Header("content-type")} vs {b.Header("content-type")}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static Task RunNodeAsync(int port, JsonArray ops) =>
        NodeScripts.RunAsync("capture.mjs", [port.ToString(System.Globalization.CultureInfo.InvariantCulture), ops.ToJsonString()], TimeSpan.FromSeconds(60));

    private sealed record Captured(string Method, string Path, string Query, List<KeyValuePair<string, string>> Headers, byte[] Body)
    {
        public string? Header(string name) => Headers.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

        public string[] SignedHeaders => Header("authorization")!.Split("SignedHeaders=")[1].Split(',')[0].Split(';');

        public string Signature => Header("authorization")!.Split("Signature=")[1].Trim();

        public string Recomputed(string[] signed)
        {
            var (canonicalHeaders, signedList) = SigV4Signer.CanonicalHeaders(Headers.Where(h => signed.Contains(h.Key.ToLowerInvariant())));
            var service = Header("authorization")!.Split('/')[3];
            var canonical = SigV4Signer.CanonicalRequest(Method, SigV4Signer.CanonicalUri(Path), SigV4Signer.CanonicalQuery(Query), canonicalHeaders, signedList, SigV4Signer.Hash(Body));
            return SigV4Signer.Authorization(Credentials, "us-east-1", service, SigningTime.UtcDateTime, signedList, canonical).Split("Signature=")[1];
        }
    }

    /// <summary>A loopback HTTP/1.1 capture server answering 200 "{}" to everything, recording the raw request.</summary>
    private static async Task<(List<Captured>, List<Captured>)> CaptureAsync(Func<int, Task> first, Func<int, Task> second)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var captured = new List<Captured>();
        using var stop = new CancellationTokenSource();
        var loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await listener.AcceptTcpClientAsync(stop.Token); }
                catch (OperationCanceledException) { return; }
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        var stream = client.GetStream();
                        while (await ReadRequestAsync(stream) is { } request)
                        {
                            lock (captured) captured.Add(request);
                            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"u8.ToArray());
                        }
                    }
                });
            }
        });
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            await first(port);
            List<Captured> firstRun;
            lock (captured)
            {
                firstRun = [.. captured];
                captured.Clear();
            }
            await second(port);
            lock (captured) return (firstRun, [.. captured]);
        }
        finally
        {
            await stop.CancelAsync();
            listener.Stop();
            try { await loop; } catch (Exception) { /* stopped */ }
        }
    }

    private static async Task<Captured?> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var buffer = new byte[1];
        while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(buffer) == 0) return null;
            head.Add(buffer[0]);
        }
        var lines = Encoding.UTF8.GetString(head.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var parts = lines[0].Split(' ');
        var target = parts[1];
        var q = target.IndexOf('?');
        var headers = lines.Skip(1).Select(l => new KeyValuePair<string, string>(l[..l.IndexOf(':')], l[(l.IndexOf(':') + 1)..].Trim())).ToList();
        var length = int.Parse(headers.FirstOrDefault(h => h.Key.Equals("content-length", StringComparison.OrdinalIgnoreCase)).Value ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        var body = new byte[length];
        await stream.ReadExactlyAsync(body);
        return new Captured(parts[0], q < 0 ? target : target[..q], q < 0 ? "" : target[(q + 1)..], headers, body);
    }
}

internal static class JsonObjectExtensions
{
    public static JsonObject Also(this JsonObject o, Action<JsonObject> action)
    {
        action(o);
        return o;
    }
}
