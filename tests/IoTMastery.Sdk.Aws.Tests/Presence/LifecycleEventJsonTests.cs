using System.Text;

namespace IoTMastery.Sdk.Aws.Tests.Presence;

/// <summary>Parsing of lifecycle event payloads shaped like the examples of the AWS IoT Developer Guide, "Lifecycle events".</summary>
public sealed class LifecycleEventJsonTests
{
    [Fact]
    public void The_documented_connect_example_parses()
    {
        const string json = """
            {"clientId":"186b5","timestamp":1573002230757,"eventType":"connected","sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
             "principalIdentifier":"12345678901234567890123456789012","ipAddress":"192.0.2.0","versionNumber":0}
            """;
        Assert.True(LifecycleEventJson.TryParse("$aws/events/presence/connected/186b5", Encoding.UTF8.GetBytes(json), out var e));
        Assert.Equal(new DeviceLifecycleEvent
        {
            ClientId = "186b5",
            EventType = DeviceLifecycleEventType.Connected,
            Timestamp = DateTimeOffset.FromUnixTimeMilliseconds(1573002230757),
            SessionIdentifier = "a4666d2a7d844ae4ac5d7b38c9cb7967",
            PrincipalIdentifier = "12345678901234567890123456789012",
            IpAddress = "192.0.2.0",
            VersionNumber = 0,
        }, e);
    }

    [Fact]
    public void The_documented_disconnect_example_parses()
    {
        const string json = """
            {"clientId":"186b5","timestamp":1573002340451,"eventType":"disconnected","sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
             "principalIdentifier":"12345678901234567890123456789012","clientInitiatedDisconnect":true,"disconnectReason":"CLIENT_INITIATED_DISCONNECT","versionNumber":0}
            """;
        Assert.True(LifecycleEventJson.TryParse("$aws/events/presence/disconnected/186b5", Encoding.UTF8.GetBytes(json), out var e));
        Assert.Equal(DeviceLifecycleEventType.Disconnected, e!.EventType);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1573002340451), e.Timestamp);
        Assert.True(e.ClientInitiatedDisconnect);
        Assert.Equal("CLIENT_INITIATED_DISCONNECT", e.DisconnectReason);
        Assert.Null(e.IpAddress);
    }

    [Theory]
    [InlineData("$aws/events/presence/connected/a", "")]
    [InlineData("$aws/events/presence/connected/a", "{")]
    [InlineData("$aws/events/presence/connected/a", "null")]
    [InlineData("$aws/events/presence/connected/a", """{"clientId":"a","timestamp":1,"eventType":"connected","sessionIdentifier":"s","principalIdentifier":"p"}""")]
    [InlineData("$aws/events/presence/connected/a", """{"clientId":"a","timestamp":-1,"eventType":"connected","sessionIdentifier":"s","principalIdentifier":"p","versionNumber":0}""")]
    [InlineData("$aws/events/presence/connected/a", """{"clientId":"a","timestamp":1.5,"eventType":"connected","sessionIdentifier":"s","principalIdentifier":"p","versionNumber":0}""")]
    [InlineData("$aws/events/presence/connected/a", """{"clientId":"a","timestamp":1,"eventType":"connected","sessionIdentifier":"s","principalIdentifier":"p","versionNumber":0,"ipAddress":5}""")]
    [InlineData("$aws/events/presence/disconnected/a", """{"clientId":"a","timestamp":1,"eventType":"disconnected","sessionIdentifier":"s","principalIdentifier":"p","versionNumber":0,"clientInitiatedDisconnect":"yes"}""")]
    [InlineData("$aws/events/presence/subscribed/a", """{"clientId":"a","timestamp":1,"eventType":"subscribed","sessionIdentifier":"s","principalIdentifier":"p","versionNumber":0}""")]
    [InlineData("$aws/events/presence/connected/", """{"clientId":"","timestamp":1,"eventType":"connected","sessionIdentifier":"s","principalIdentifier":"p","versionNumber":0}""")]
    public void Malformed_payloads_are_refused_without_throwing(string topic, string payload)
    {
        Assert.False(LifecycleEventJson.TryParse(topic, Encoding.UTF8.GetBytes(payload), out var e));
        Assert.Null(e);
    }
}
