using IoTMastery.Sdk.TestSupport;

namespace IoTMastery.Sdk.Gcp.Tests;

/// <summary>
/// Eclipse Mosquitto standing in for the bridge's MQTT broker: server-auth TLS, MQTT 3.1.1 clients with a password
/// (mosquitto cannot check JWTs, so the JWT itself is checked by the tests). A missing mosquitto is a failure, not a skip.
/// </summary>
internal static class BridgeMosquitto
{
    /// <summary>Starts the shared <see cref="MosquittoBroker"/> without client authentication.</summary>
    public static Task<MosquittoBroker> StartAsync() =>
        MosquittoBroker.StartAsync(new MosquittoBrokerOptions { ClientAuthentication = MosquittoClientAuthentication.None });
}
