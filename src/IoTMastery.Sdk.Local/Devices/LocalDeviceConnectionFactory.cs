using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

/// <summary>Creates device connections to the embedded broker; reads the broker's port when each connection is created.</summary>
internal sealed class LocalDeviceConnectionFactory
{
    private readonly Func<LocalDeviceEndpoint> _endpoint;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory? _loggerFactory;

    /// <summary>Creates a factory for devices of <paramref name="broker"/>, trusting <paramref name="ca"/>.</summary>
    public LocalDeviceConnectionFactory(LocalBroker broker, LocalCertificateAuthority ca, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
        : this(() => new LocalDeviceEndpoint { Port = RequireStarted(broker).Port, CaCertificate = ca.Certificate }, timeProvider, loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(ca);
    }

    /// <summary>Creates a factory with an explicit endpoint (tests: reconnect pacing).</summary>
    public LocalDeviceConnectionFactory(Func<LocalDeviceEndpoint> endpoint, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        _endpoint = endpoint;
        _time = timeProvider ?? TimeProvider.System;
        _loggerFactory = loggerFactory;
    }

    /// <inheritdoc />
    public IDeviceConnection Create(DeviceConnectionOptions options) => new LocalDeviceConnection(options, _endpoint(), _time, _loggerFactory);

    private static LocalBroker RequireStarted(LocalBroker broker) =>
        broker.Port != 0 ? broker : throw new InvalidOperationException("Start the local broker before creating device connections.");
}
