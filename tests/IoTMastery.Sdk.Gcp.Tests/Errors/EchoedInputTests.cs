using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Gcp.Tests.Errors;

/// <summary>Issue #12 item 10 on GCP-style: rejected project, registry and credential ids are echoed escaped (core ErrorText), never raw.</summary>
public sealed class EchoedInputTests
{
    private const string Hostile = "p\n2026-12-07 INFO forged\u202E";
    private const string Escaped = @"p\n2026-12-07 INFO forged\u202E";

    [Fact]
    public void Rejected_ids_in_argument_errors_are_escaped()
    {
        var project = Assert.Throws<ArgumentException>(() => PubSubNames.ValidateProject(Hostile));
        var registry = Assert.Throws<ArgumentException>(() => new CloudIotRegistryPath("proj-1", "us-central1", Hostile).Validate());
        var credential = new IssuedCredential(new CredentialInfo { Id = Hostile, Kind = CredentialKind.PublicKey });
        // The credential check comes before the endpoint is used.
        var connection = Assert.Throws<ArgumentException>(() => new GcpDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-1", Credential = credential }, null!, TimeProvider.System, NullLoggerFactory.Instance));
        foreach (var ex in new[] { project, registry, connection })
        {
            Assert.Contains($"'{Escaped}'", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', ex.Message);
        }
    }
}
