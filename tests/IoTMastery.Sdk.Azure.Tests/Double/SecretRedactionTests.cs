using System.Text.Json.Nodes;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Azure.Tests.Double;

/// <summary>Keys, SAS tokens and signatures never reach logs, exception messages or ToString().</summary>
[Collection(DoubleCollection.Name)]
public sealed class SecretRedactionTests
{
    [Fact]
    public async Task Nothing_secret_is_logged_or_put_in_errors()
    {
        await using var hub = await IotHubDouble.StartAsync();
        var logs = new CapturingLoggerFactory();
        await using var provider = IotHubDoubleProviders.Create(hub, loggerFactory: logs);
        var registered = await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev1", Credential = new CredentialRequest { Kind = CredentialKind.SymmetricKey } });
        var key = registered.Credential!.SymmetricKey!;
        var errors = new List<Exception>();

        await using (var device = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential }))
        {
            device.SetDesiredStateHandler((_, _, _) => ValueTask.CompletedTask);
            await device.ConnectAsync();
            await device.ReportStateAsync(new JsonObject { ["x"] = 1 });
        }
        hub.InjectedFaults.Enqueue((429, """{"Message":"ErrorCode:ThrottlingException;throttled"}"""));
        await provider.Registry.GetAsync("dev1");
        await provider.Registry.RotateCredentialAsync("dev1", "sas-primary");
        await using (var stale = provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = "dev1", Credential = registered.Credential }))
            errors.Add(await Assert.ThrowsAnyAsync<IoTException>(() => stale.ConnectAsync()));
        errors.Add(Assert.ThrowsAny<ArgumentException>(() => new AzureIoTOptions { ConnectionString = "HostName=h;SharedAccessKeyName=p;SharedAccessKey=not-base64!" }.Validate()));

        var secrets = new[] { key, IotHubDouble.PolicyKey, "sig=", "SharedAccessSignature sr" };
        var everything = string.Join("\n", logs.Lines) + string.Join("\n", errors.Select(e => e.ToString()))
            + registered.Credential.ToString() + new AzureIoTOptions { ConnectionString = hub.ServiceConnectionString } + new DpsRegistrationOptions { IdScope = "s", RegistrationId = "r", DeviceKey = key };
        Assert.NotEmpty(logs.Lines);
        foreach (var secret in secrets)
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
    }
}
