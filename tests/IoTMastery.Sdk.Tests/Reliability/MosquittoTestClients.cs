using IoTMastery.Sdk.Mqtt;
using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Tests.Reliability;

/// <summary>Client options the Mosquitto reliability tests share: mutual TLS with the broker's CA, fast reconnects, patient connects.</summary>
internal static class MosquittoTestClients
{
    public static MqttDeviceClientOptions Options(MosquittoBroker broker, string clientId) => new()
    {
        Host = "localhost",
        Port = broker.Port,
        ClientId = clientId,
        ClientCertificate = broker.Ca.IssueDeviceCertificate(clientId).ToCertificate(),
        TrustedRoots = [broker.Ca.Certificate],
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
        // The first TLS handshake (cold JIT, key generation just done) took over 5 s with both cores busy; a connect to a
        // killed broker fails at once (refused or reset), so a long budget costs nothing when the machine is idle.
        ConnectTimeout = TimeSpan.FromSeconds(30),
        OperationTimeout = TimeSpan.FromSeconds(5),
    };
}
