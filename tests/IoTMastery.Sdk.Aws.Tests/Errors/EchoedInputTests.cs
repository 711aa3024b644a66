using Microsoft.Extensions.Logging.Abstractions;

namespace IoTMastery.Sdk.Aws.Tests.Errors;

/// <summary>Issue #12 item 10 on AWS: a rejected credential id is echoed escaped (core ErrorText), never raw.</summary>
public sealed class EchoedInputTests
{
    [Fact]
    public void A_credential_id_in_an_argument_error_is_escaped()
    {
        var credential = new IssuedCredential(new CredentialInfo { Id = "c\n2026-12-07 INFO forged\u202E", Kind = CredentialKind.SymmetricKey });
        // The credential check comes before the endpoint is used.
        var ex = Assert.Throws<ArgumentException>(() => new AwsDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev-1", Credential = credential }, null!, TimeProvider.System, NullLoggerFactory.Instance));
        Assert.Contains(@"'c\n2026-12-07 INFO forged\u202E'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }
}
