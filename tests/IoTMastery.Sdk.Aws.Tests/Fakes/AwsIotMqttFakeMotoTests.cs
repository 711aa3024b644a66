using IoTMastery.Sdk.TestSupport;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Aws.Tests.Fakes;

/// <summary>
/// The moto-backed gateway double's admission rules with the provider's own device connection: the certificate must be
/// registered in moto, ACTIVE, and attached to the thing the client id names; a live connection is re-checked on the
/// double's injected clock, so the staleness bound is one <see cref="AwsIotMotoBacking.PollInterval"/>.
/// </summary>
[Collection(MotoCollection.Name)]
public sealed class AwsIotMqttFakeMotoTests(MotoServer moto) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);
    private readonly LocalCertificateAuthority _ca = LocalCertificateAuthority.Create("AWS moto-backed double CA");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private AwsIotMqttFake _fake = null!;
    private AwsIoTProvider _provider = null!;

    public async Task InitializeAsync()
    {
        await moto.ResetAsync();
        // The double's clock is frozen: it polls moto only when the test advances it.
        _fake = await AwsIotMqttFake.StartAsync(_ca, _time, new AwsIotMotoBacking(moto.Endpoint) { PollInterval = Interval });
        _provider = await AwsIoTProvider.StartAsync(moto.Options(o =>
        {
            o.CertificateAuthority = _ca;
            o.Transport.DeviceHost = "localhost";
            o.Transport.DevicePort = _fake.Port;
            o.Transport.TrustedRoots = _fake.TrustedRoots;
        }));
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _fake.DisposeAsync();
        _ca.Dispose();
    }

    private IDeviceConnection Device(string id, IssuedCredential credential) =>
        _provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = id, Credential = credential, ConnectRetryBudget = TimeSpan.Zero });

    [Fact]
    public async Task A_revoked_certificate_ends_its_live_connection_at_the_next_poll()
    {
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "gw-live", Credential = CredentialRequest.X509 });
        // A watcher of the lifecycle events, itself a registered thing (nothing connects unregistered in this mode).
        var watcherRegistration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "gw-watch", Credential = CredentialRequest.X509 });
        var seen = new ConcurrentQueue<JsonObject>();
        await using var watcher = new MqttDeviceClient(new MqttDeviceClientOptions
        {
            Host = "localhost", Port = _fake.Port, ClientId = "gw-watch", ClientCertificate = watcherRegistration.Credential!.ToCertificate(), TrustedRoots = _fake.TrustedRoots,
        }, "Aws", TimeProvider.System, NullLogger.Instance);
        await watcher.SubscribeAsync("$aws/events/presence/disconnected/gw-live", (m, _) => { seen.Enqueue(JsonNode.Parse(m.Payload.Span)!.AsObject()); return ValueTask.CompletedTask; });
        await watcher.ConnectAsync();
        await using var device = Device("gw-live", registration.Credential!);
        await device.ConnectAsync();

        await _provider.Registry.RevokeCredentialAsync("gw-live", registration.Credential!.Id);
        Assert.True(device.IsConnected); // nothing re-reads moto until the double's clock reaches the next poll
        _time.Advance(Interval);

        var deadline = DateTime.UtcNow + Patience;
        while (device.IsConnected && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(device.IsConnected);
        Assert.Contains(_fake.Refusals, r => r.StartsWith("gw-live: ", StringComparison.Ordinal) && r.Contains("REVOKED; connection closed", StringComparison.Ordinal));
        // The lifecycle event names the cause as AWS does for a failed authorization.
        while (seen.IsEmpty && DateTime.UtcNow < deadline) await Task.Delay(50);
        var disconnected = Assert.Single(seen);
        Assert.Equal("AUTH_ERROR", (string?)disconnected["disconnectReason"]);
        Assert.False((bool)disconnected["clientInitiatedDisconnect"]!);
        // Reconnecting is refused at CONNACK, which the device connection reports as an authentication failure.
        await using var again = Device("gw-live", registration.Credential);
        await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => again.ConnectAsync());
    }

    [Fact]
    public async Task Detaching_an_active_certificate_from_its_thing_ends_the_live_connection()
    {
        var registration = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "gw-detach", Credential = CredentialRequest.X509 });
        await using var device = Device("gw-detach", registration.Credential!);
        await device.ConnectAsync();

        // Still ACTIVE, only no longer the thing's principal (DetachThingPrincipal straight on moto).
        var arn = (await _provider.ControlPlane.ListThingPrincipalsAsync("gw-detach", default)).Single();
        await _provider.ControlPlane.DetachThingPrincipalAsync("gw-detach", arn, default);
        _time.Advance(Interval);

        var deadline = DateTime.UtcNow + Patience;
        while (device.IsConnected && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(device.IsConnected);
        Assert.Contains(_fake.Refusals, r => r.StartsWith("gw-detach: ", StringComparison.Ordinal) && r.Contains("was detached from gw-detach", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_certificate_is_admitted_only_for_the_thing_it_is_attached_to_and_only_when_moto_knows_it()
    {
        var a = await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "gw-a", Credential = CredentialRequest.X509 });
        await _provider.Registry.RegisterAsync(new DeviceRegistration { Id = "gw-b", Credential = CredentialRequest.X509 });

        // gw-a's ACTIVE certificate under gw-b's client id: not attached to gw-b.
        await using (var borrowed = Device("gw-b", a.Credential!))
            await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => borrowed.ConnectAsync());
        // Same CA, never registered in moto: the CA alone admits nothing in this mode.
        var unregistered = _ca.IssueDeviceCertificate("gw-a");
        await using (var unknown = Device("gw-a", unregistered))
            await IoTAssert.ThrowsAsync(IoTErrorKind.Authentication, () => unknown.ConnectAsync());
        Assert.Equal(2, _fake.Refusals.Count(r => r.Contains("not registered or not attached", StringComparison.Ordinal)));

        await using var owner = Device("gw-a", a.Credential!);
        await owner.ConnectAsync();
        Assert.True(owner.IsConnected);
    }
}
