using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Formatter;

namespace IoTMastery.Sdk.Local.Tests;

/// <summary>Stands in for the SQLite registry: a device may connect with any certificate thumbprint it was allowed.</summary>
internal sealed class InMemoryAccessPolicy : IDeviceAccessPolicy
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, bool>> _allowed = new();
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public void Allow(string deviceId, string thumbprint) => _allowed.GetOrAdd(deviceId, _ => new())[thumbprint] = true;

    public void Revoke(string deviceId, string thumbprint) => _allowed.GetOrAdd(deviceId, _ => new())[thumbprint] = false;

    public ValueTask<bool> CanConnectAsync(string deviceId, string certificateThumbprintSha256, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return ValueTask.FromResult(_allowed.TryGetValue(deviceId, out var certs) && certs.TryGetValue(certificateThumbprintSha256, out var ok) && ok);
    }
}

internal sealed class RecordingReportedStateSink : IReportedStateSink
{
    public Channel<(string DeviceId, JsonObject Patch)> Received { get; } = Channel.CreateUnbounded<(string, JsonObject)>();

    public Task ApplyReportedAsync(string deviceId, JsonObject patch, CancellationToken cancellationToken)
    {
        Received.Writer.TryWrite((deviceId, patch));
        return Task.CompletedTask;
    }
}

/// <summary>Only <see cref="GetAsync"/> is needed by the command service.</summary>
internal sealed class InMemoryRegistry : IDeviceRegistry
{
    private readonly ConcurrentDictionary<string, Device> _devices = new();
    private int _gets;

    public int Gets => Volatile.Read(ref _gets);

    public void Add(string id) => _devices[id] = new Device { Id = id };

    public Task<Device> GetAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _gets);
        return _devices.TryGetValue(deviceId, out var d) ? Task.FromResult(d) : throw IoTException.DeviceNotFound(deviceId, "Local");
    }

    public Task<DeviceRegistrationResult> RegisterAsync(DeviceRegistration registration, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public IoTPageable<Device> ListAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<Device> UpdateAsync(string deviceId, IReadOnlyDictionary<string, string?> attributes, long? expectedVersion = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<Device> EnableAsync(string deviceId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<Device> DisableAsync(string deviceId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<DevicePresence> GetPresenceAsync(string deviceId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public IoTPageable<DevicePresence> ListPresenceAsync(DeviceQuery? query = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public IAsyncEnumerable<DevicePresence> ReadPresenceEventsAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public long DroppedPresenceEventCount => 0;
    public Task DeleteAsync(string deviceId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<IssuedCredential> IssueCredentialAsync(string deviceId, CredentialRequest request, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task<IssuedCredential> RotateCredentialAsync(string deviceId, string credentialId, CredentialRequest? request = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    public Task RevokeCredentialAsync(string deviceId, string credentialId, CancellationToken cancellationToken = default) => throw new NotSupportedException();
}

/// <summary>A started broker on 127.0.0.1 (free port) with in-memory registry stand-ins.</summary>
internal sealed class BrokerTestHost : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly List<IAsyncDisposable> _owned = [];

    private BrokerTestHost(TimeProvider? commandTime, LocalBrokerOptions? options, TimeProvider? caTime)
    {
        Ca = LocalCertificateAuthority.Create("Test CA", caTime);
        Broker = new LocalBroker(options ?? new LocalBrokerOptions(), Ca, Policy, Telemetry, ReportedState, Replies);
        Commands = new LocalCommandService(Broker, Registry, Replies, commandTime);
    }

    public LocalCertificateAuthority Ca { get; }
    public InMemoryAccessPolicy Policy { get; } = new();
    public InMemoryRegistry Registry { get; } = new();
    public RecordingReportedStateSink ReportedState { get; } = new();
    public LocalTelemetryChannel Telemetry { get; } = new();
    public CommandReplyTable Replies { get; } = new();
    public LocalBroker Broker { get; }
    public LocalCommandService Commands { get; }

    /// <param name="caTime">The CA's clock: certificate validity periods, and when the broker judges a client certificate expired.</param>
    public static async Task<BrokerTestHost> StartAsync(TimeProvider? commandTime = null, LocalBrokerOptions? options = null, TimeProvider? caTime = null)
    {
        var host = new BrokerTestHost(commandTime, options, caTime);
        await host.Broker.StartAsync().WaitAsync(Timeout);
        return host;
    }

    /// <summary>Registers a device, allows its certificate and returns the credential.</summary>
    public IssuedCredential AddDevice(string id, CredentialRequest? request = null)
    {
        var credential = Ca.IssueDeviceCertificate(id, request);
        Policy.Allow(id, credential.Id);
        Registry.Add(id);
        return credential;
    }

    public LocalDeviceConnection CreateDevice(string id, IssuedCredential credential, TimeProvider? time = null)
    {
        var connection = new LocalDeviceConnection(
            new DeviceConnectionOptions { DeviceId = id, Credential = credential, Telemetry = new TelemetryPipelineOptions { Linger = TimeSpan.FromMilliseconds(5), DrainTimeout = TimeSpan.FromSeconds(2) } },
            new LocalDeviceEndpoint { Port = Broker.Port, CaCertificate = Ca.Certificate, ReconnectBaseDelay = TimeSpan.FromMilliseconds(50), ReconnectMaxDelay = TimeSpan.FromMilliseconds(500) },
            time);
        _owned.Add(connection);
        return connection;
    }

    /// <summary>A plain MQTTnet client that trusts only the test CA.</summary>
    public IMqttClient CreateRawClient()
    {
        var client = new MqttClientFactory().CreateMqttClient();
        _owned.Add(new DisposeAction(() => client.Dispose()));
        return client;
    }

    public MqttClientOptions RawOptions(string clientId, X509Certificate2? certificate, MqttProtocolVersion version = MqttProtocolVersion.V500) =>
        RawOptions(Broker.Port, Ca.Certificate, clientId, certificate, version);

    /// <summary>Raw MQTTnet client options for any Local broker: TLS trusting only <paramref name="ca"/>, with the device's client certificate.</summary>
    public static MqttClientOptions RawOptions(int port, X509Certificate2 ca, string clientId, X509Certificate2? certificate, MqttProtocolVersion version = MqttProtocolVersion.V500) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId(clientId)
            .WithProtocolVersion(version)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .WithTlsOptions(tls =>
            {
                tls.UseTls().WithCertificateValidationHandler(e => Trusts(ca, e.Certificate));
                if (certificate is not null) tls.WithClientCertificates([certificate]);
            })
            .Build();

    private static bool Trusts(X509Certificate2 ca, X509Certificate? certificate)
    {
        if (certificate is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            try { await owned.DisposeAsync().AsTask().WaitAsync(Timeout); } catch (Exception) { /* best effort in teardown */ }
        }
        await Broker.DisposeAsync();
        Ca.Dispose();
    }

    private sealed class DisposeAction(Action action) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            action();
            return ValueTask.CompletedTask;
        }
    }
}

internal static class TestWaits
{
    /// <summary>Reads <paramref name="count"/> items from a started enumerator, failing after the host timeout.</summary>
    public static async Task<List<T>> TakeAsync<T>(this IAsyncEnumerator<T> e, int count)
    {
        var items = new List<T>();
        while (items.Count < count)
        {
            Assert.True(await e.MoveNextAsync().AsTask().WaitAsync(BrokerTestHost.Timeout), "the stream ended early");
            items.Add(e.Current);
        }
        return items;
    }

    /// <summary>A task that completes with the next value of an event subscription.</summary>
    public static TaskCompletionSource<T> NewSignal<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold in time");
            await Task.Delay(20);
        }
    }

    public static ConfiguredTaskAwaitable<T> Bounded<T>(this Task<T> task) => task.WaitAsync(BrokerTestHost.Timeout).ConfigureAwait(false);
}
