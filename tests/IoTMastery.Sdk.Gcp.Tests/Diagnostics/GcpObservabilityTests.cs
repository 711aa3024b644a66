using System.Diagnostics;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Gcp.Tests.Diagnostics;

/// <summary>
/// Spans and errors of the GCP-style provider in ClearBlade mode against the registry double (whose ClearBlade answers
/// the official @clearblade/iot client checks in ClearBladeRegistryDoubleTests): the same spans as every provider, the
/// HTTP status on errors, no request id (Google-style answers have none), and the ClearBlade token in no tag.
/// </summary>
public sealed class GcpObservabilityTests
{
    private const string Project = "proj-otel", Location = "us-central1", RegistryId = "reg-otel", AdminKey = "admin-key-otel", AdminToken = "admin-token-otel-secret";

    [Fact]
    public async Task A_missing_device_is_an_error_span_with_the_404_and_no_request_id_and_no_token_in_any_tag()
    {
        await using var registry = new CloudIotRegistryDouble { ClearBlade = new ClearBladeDoubleAccount(AdminKey, AdminToken, Project, Location, RegistryId) };
        var folder = Directory.CreateTempSubdirectory("iotm-otel-gcp-");
        try
        {
            var accountPath = Path.Combine(folder.FullName, "clearblade.json");
            await File.WriteAllTextAsync(accountPath, new JsonObject
            {
                ["project"] = Project, ["systemKey"] = AdminKey, ["token"] = AdminToken, ["url"] = registry.Server.BaseUrl.AbsoluteUri,
            }.ToJsonString());
            await using var provider = await GcpIoTProvider.StartAsync(new GcpIoTOptions
            {
                ProjectId = Project, Location = Location, RegistryId = RegistryId,
                ClearBladeServiceAccountJsonPath = accountPath,
                Transport = { DeviceHost = "us-central1-mqtt.clearblade.com" },
            });
            using var trace = new ActivityRecorder();

            var issued = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "otel-gcp-1", Credential = new CredentialRequest { Kind = CredentialKind.PublicKey } });
            var missing = await IoTAssert.ThrowsAsync(IoTErrorKind.DeviceNotFound, () => provider.Registry.GetAsync("otel-gcp-missing"));

            Assert.Equal(404, missing.HttpStatus);
            Assert.Null(missing.RequestId);
            var get = Assert.Single(trace.Named("registry.get"));
            Assert.Equal("Gcp", get.Tag("iotmastery.provider"));
            Assert.Equal(ActivityStatusCode.Error, get.Status);
            Assert.Equal("DeviceNotFound", get.Tag("error.type"));
            var attempt = Assert.Single(trace.Named("iotmastery.http.attempt"), a => a.ParentSpanId == get.SpanId);
            Assert.Equal(404, attempt.Tag("http.response.status_code"));
            Assert.Equal(registry.Server.BaseUrl.Port, attempt.Tag("server.port"));
            var register = Assert.Single(trace.Named("registry.register"));
            Assert.Contains(trace.Named("iotmastery.http.attempt"), a => a.ParentSpanId == register.SpanId && (string?)a.Tag("http.request.method") == "POST");

            var values = ActivityTags.EveryValue(trace.Spans).ToList();
            foreach (var secret in new[] { AdminToken, AdminKey, registry.ClearBlade!.RegistryToken, registry.ClearBlade.RegistrySystemKey, "PRIVATE KEY", issued.Credential!.PrivateKeyPem![30..60] })
                Assert.DoesNotContain(values, v => v.Contains(secret, StringComparison.Ordinal));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
