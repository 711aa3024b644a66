using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// Proves <see cref="AwsIotMqttFake"/> before anything relies on it: the official AWS IoT Device SDK for JavaScript
/// (aws-iot-device-sdk, pinned in tests/conformance/aws-node) runs its shadow and jobs clients against the fake and
/// gets the documented topics and payloads back.
/// </summary>
public sealed class AwsDeviceSdkConformanceTests
{
    [Fact]
    public async Task The_official_device_sdk_drives_shadow_and_jobs_on_the_fake()
    {
        const string thing = "sdk-conf-1";
        using var ca = LocalCertificateAuthority.Create("AWS fake test CA");
        await using var fake = await AwsIotMqttFake.StartAsync(ca);
        var dir = Directory.CreateTempSubdirectory("aws-sdk-conf-");
        try
        {
            var credential = ca.IssueDeviceCertificate(thing);
            var caPath = Path.Combine(dir.FullName, "ca.pem");
            var certPath = Path.Combine(dir.FullName, "device.pem");
            var keyPath = Path.Combine(dir.FullName, "device.key");
            await File.WriteAllTextAsync(caPath, ca.CertificatePem);
            await File.WriteAllTextAsync(certPath, credential.CertificatePem);
            await File.WriteAllTextAsync(keyPath, credential.PrivateKeyPem);
            await fake.UpdateShadowAsync(thing, new JsonObject { ["state"] = new JsonObject { ["desired"] = new JsonObject { ["color"] = "red" }, ["reported"] = new JsonObject { ["color"] = "blue" } } });
            await fake.QueueJobAsync(thing, "job-1", new JsonObject { ["operation"] = "iotm-test", ["step"] = 1 });
            await fake.QueueJobAsync(thing, "job-2", new JsonObject { ["operation"] = "iotm-test", ["step"] = 2 });

            var stdout = await NodeScripts.RunAsync("device-sdk-scenario.js", [fake.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), caPath, certPath, keyPath, thing], TimeSpan.FromSeconds(90));
            var events = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
            Assert.Equal("done", (string?)events[^1]["event"]);

            // Shadow: get answered with state, delta and version 1; the SDK's clientTokens come back; versions increase.
            var statuses = events.Where(e => (string?)e["event"] == "status").ToList();
            Assert.Equal(3, statuses.Count);
            Assert.All(statuses, s => Assert.Equal("accepted", (string?)s["stat"]));
            var got = statuses[0]["doc"]!;
            Assert.Equal("red", (string?)got["state"]!["desired"]!["color"]);
            Assert.Equal("blue", (string?)got["state"]!["reported"]!["color"]);
            Assert.Equal("red", (string?)got["state"]!["delta"]!["color"]);
            Assert.Equal(1, (int)got["version"]!);
            Assert.Equal(2, (int)statuses[1]["doc"]!["version"]!);
            Assert.Equal(3, (int)statuses[2]["doc"]!["version"]!);
            var delta = events.Single(e => (string?)e["event"] == "delta")["doc"]!;
            Assert.Equal(5, (int)delta["state"]!["speed"]!);
            Assert.Equal(3, (int)delta["version"]!);
            var conflict = events.Single(e => ((string?)e["topic"])?.EndsWith("/shadow/update/rejected", StringComparison.Ordinal) == true)["doc"]!;
            Assert.Equal(409, (int)conflict["code"]!);
            Assert.Equal("Version conflict", (string?)conflict["message"]);
            JsonNode On(string topic) => events.Single(e => (string?)e["topic"] == topic)["doc"]!;
            var named = $"$aws/things/{thing}/shadow/name/config";
            Assert.Equal(404, (int)On(named + "/get/rejected")["code"]!);
            Assert.Equal("named-get", (string?)On(named + "/get/rejected")["clientToken"]);
            Assert.Equal(1, (int)On(named + "/update/accepted")["version"]!);
            Assert.Equal(30, (int)On(named + "/update/accepted")["state"]!["reported"]!["interval"]!);
            Assert.True((long)On(named + "/update/accepted")["metadata"]!["reported"]!["interval"]!["timestamp"]! > 0);
            Assert.Equal(1, (int)On(named + "/delete/accepted")["version"]!);
            Assert.Null(fake.GetShadow(thing, "config"));
            var documents = events.Where(e => (string?)e["topic"] == $"$aws/things/{thing}/shadow/update/documents").Select(e => e["doc"]!).ToList();
            Assert.Equal([1, 2], documents.Select(d => (int)d["previous"]!["version"]!));
            Assert.Equal("blue", (string?)documents[0]["previous"]!["state"]!["reported"]!["color"]);
            Assert.Equal("red", (string?)documents[0]["current"]!["state"]!["reported"]!["color"]);
            var shadow = fake.GetShadow(thing)!;
            Assert.Equal(3, (int)shadow["version"]!);
            Assert.Equal("red", (string?)shadow["state"]!["reported"]!["color"]);

            // Jobs: job-1 offered by $next/get, job-2 by notify-next; statuses and expectedVersion enforced.
            var offered = events.Where(e => (string?)e["event"] == "job").ToList();
            Assert.Equal(["job-1", "job-2"], offered.Select(e => (string?)e["id"]));
            Assert.Equal(2, (int)offered[1]["document"]!["step"]!);
            Assert.Equal("QUEUED", (string?)offered[0]["status"]!["status"]);
            var list = On($"$aws/things/{thing}/jobs/get/accepted");
            Assert.Equal(["job-2"], list["queuedJobs"]!.AsArray().Select(j => (string?)j!["jobId"]));
            Assert.Empty(list["inProgressJobs"]!.AsArray());
            var described = On($"$aws/things/{thing}/jobs/job-1/get/accepted")["execution"]!.AsObject();
            Assert.Equal("SUCCEEDED", (string?)described["status"]);
            Assert.Equal(thing, (string?)described["thingName"]);
            Assert.False(described.ContainsKey("jobDocument"));
            var mismatch = events.Single(e => (string?)e["doc"]?["clientToken"] == "stale-job" && ((string?)e["topic"])!.EndsWith("/rejected", StringComparison.Ordinal))["doc"]!;
            Assert.Equal("VersionMismatch", (string?)mismatch["code"]);
            Assert.Equal(1, (int)mismatch["executionState"]!["versionNumber"]!);
            var failed = events.Single(e => (string?)e["doc"]?["clientToken"] == "fail-job")["doc"]!;
            Assert.Equal("FAILED", (string?)failed["executionState"]!["status"]);
            Assert.Equal("checksum", (string?)failed["executionState"]!["statusDetails"]!["reason"]);
            Assert.Equal(2, (int)failed["executionState"]!["versionNumber"]!);
            var job1 = fake.DescribeJobExecution(thing, "job-1")!;
            Assert.Equal("SUCCEEDED", (string?)job1["status"]);
            Assert.Equal("done", (string?)job1["statusDetails"]!["step"]);
            Assert.Equal(3, (int)job1["versionNumber"]!);
            // After the last job ended, notify-next said "nothing next" (no execution).
            var lastNext = events.Last(e => ((string?)e["topic"])?.EndsWith("/jobs/notify-next", StringComparison.Ordinal) == true)["doc"]!.AsObject();
            Assert.False(lastNext.ContainsKey("execution"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
