using System.Security.Cryptography.X509Certificates;
using System.Text;
using IoTMastery.Sdk.TestSupport;
using MQTTnet;
using MQTTnet.Protocol;

namespace IoTMastery.Sdk.Local.Tests;

/// <summary>
/// Issue #12 item 10 on the broker: a client id or topic sent by anyone on the network is logged escaped, so it cannot forge
/// a log line (line breaks) or hide one (bidi overrides).
/// </summary>
public sealed class BrokerLogEscapingTests
{
    private static readonly TimeSpan Timeout = BrokerTestHost.Timeout;
    private const string Forged = "2026-12-07 INFO admin granted";

    [Fact]
    public async Task Hostile_client_ids_and_topics_are_logged_escaped()
    {
        var logs = new CapturingLoggerFactory();
        await using var provider = await LocalIoTProvider.StartAsync(loggerFactory: logs).WaitAsync(Timeout);
        var credential = (await provider.Registry.RegisterAsync(new DeviceRegistration { Id = "dev-a", Credential = CredentialRequest.X509 }).WaitAsync(Timeout)).Credential!;
        using var certificate = credential.ToCertificate();

        using (var impostor = new MqttClientFactory().CreateMqttClient())
        {
            try
            {
                await impostor.ConnectAsync(Options(provider, $"x\n{Forged}\u202E", certificate)).WaitAsync(Timeout);
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                // refused: what matters is the log line
            }
        }
        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(Options(provider, "dev-a", certificate)).WaitAsync(Timeout);
        var refused = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/dev-b/x\n{Forged}").WithPayload(Encoding.UTF8.GetBytes("{}"))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build()).WaitAsync(Timeout);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, refused.ReasonCode);

        var lines = logs.Lines;
        Assert.Contains(lines, l => l.Contains(@"x\n" + Forged + @"\u202E", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(@"devices/dev-b/x\n" + Forged, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("\n" + Forged, StringComparison.Ordinal) || l.Contains('\u202E'));
    }

    private static MqttClientOptions Options(LocalIoTProvider provider, string clientId, X509Certificate2 certificate) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", provider.Port)
            .WithClientId(clientId)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithTlsOptions(tls => tls.UseTls().WithClientCertificates([certificate]).WithCertificateValidationHandler(e => Trusts(provider, e.Certificate)))
            .Build();

    private static bool Trusts(LocalIoTProvider provider, X509Certificate? certificate)
    {
        if (certificate is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(provider.CertificateAuthority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
