using System.Security.Cryptography;

namespace IoTMastery.Sdk.Contract.Tests;

/// <summary>
/// One provider built against its peer, shared by every contract class of that provider (an xunit collection fixture).
/// Tests never reset the peer: each one works on devices with fresh ids, so tests cannot see each other's state.
/// </summary>
public abstract class ProviderFixture : IAsyncLifetime
{
    /// <summary>The bound on every wait in the suite: long enough for a loaded 2-core box, short enough to fail a hang.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private IIoTProvider? _provider;

    /// <summary>The provider under test.</summary>
    public IIoTProvider Provider => _provider ?? throw new InvalidOperationException("The fixture is not initialized.");

    /// <summary>Starts the peer(s) and builds the provider against them.</summary>
    protected abstract Task<IIoTProvider> StartAsync();

    /// <summary>Disposes the provider (when started) and stops what <see cref="StartAsync"/> started.</summary>
    protected abstract Task StopAsync(IIoTProvider? provider);

    /// <summary>A device id no other test uses, valid under every provider's rules (starts with a letter, lower case).</summary>
    public static string NewDeviceId(string prefix = "ct") => $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";

    /// <summary>The credential the suite issues: the provider's default kind.</summary>
    public CredentialRequest DeviceCredential => new() { Kind = Provider.Capabilities.DefaultCredentialKind };

    /// <summary>
    /// Starts an extra provider instance on this fixture's peer whose firmware store lives in <paramref name="directory"/>
    /// (the same directory gives the same store), for the firmware contract: it disposes the managing process mid-rollout
    /// and builds a new one. The caller disposes the instance.
    /// </summary>
    public virtual Task<IIoTProvider> StartFirmwareInstanceAsync(string directory) =>
        throw new NotSupportedException($"{GetType().Name} cannot start a firmware instance.");

    /// <summary>The SQLite firmware store file of an instance started by <see cref="StartFirmwareInstanceAsync"/> on <paramref name="directory"/>.</summary>
    public virtual string FirmwareStoreFile(string directory) => Path.Combine(directory, "firmware.db");

    /// <inheritdoc />
    public async Task InitializeAsync() => _provider = await StartAsync();

    /// <inheritdoc />
    public Task DisposeAsync() => StopAsync(_provider);
}
