namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>What every contract class shares: the provider, fresh devices, device connections and bounded waits.</summary>
public abstract class ContractBase<TFixture>(TFixture fixture) : IAsyncLifetime
    where TFixture : ProviderFixture
{
    private readonly List<IDeviceConnection> _connections = [];

    /// <summary>The provider under test.</summary>
    protected IIoTProvider Provider => fixture.Provider;

    /// <summary>The fixture, for its credential choice.</summary>
    protected TFixture Fixture => fixture;

    /// <summary>Cancels every call of one test after <see cref="ProviderFixture.Patience"/>, so a hang fails instead of blocking the run.</summary>
    protected CancellationToken Ct => _deadline.Token;

    private readonly CancellationTokenSource _deadline = new(ProviderFixture.Patience * 2);

    /// <summary>Registers a fresh device with the suite's credential kind.</summary>
    protected async Task<DeviceRegistrationResult> RegisterAsync(string? id = null, IReadOnlyDictionary<string, string>? attributes = null, bool withCredential = true) =>
        await Provider.Registry.RegisterAsync(new DeviceRegistration
        {
            Id = id ?? ProviderFixture.NewDeviceId(),
            Attributes = attributes ?? new Dictionary<string, string>(),
            Credential = withCredential ? Fixture.DeviceCredential : null,
        }, Ct);

    /// <summary>Creates a connection for a registered device, lets <paramref name="configure"/> set handlers, connects; disposed after the test.</summary>
    protected async Task<IDeviceConnection> ConnectAsync(DeviceRegistrationResult registration, Action<IDeviceConnection>? configure = null)
    {
        var connection = Provider.CreateDeviceConnection(new DeviceConnectionOptions { DeviceId = registration.Device.Id, Credential = registration.Credential! });
        _connections.Add(connection);
        configure?.Invoke(connection);
        await connection.ConnectAsync(Ct);
        return connection;
    }

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> holds; fails after <see cref="ProviderFixture.Patience"/>.</summary>
    protected async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> done, string what)
    {
        var deadline = DateTime.UtcNow + ProviderFixture.Patience;
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not within {ProviderFixture.Patience.TotalSeconds} s: {what}.");
            await Task.Delay(100, Ct);
        }
    }

    /// <inheritdoc />
    public Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        foreach (var connection in _connections) await connection.DisposeAsync();
        _deadline.Dispose();
    }
}
