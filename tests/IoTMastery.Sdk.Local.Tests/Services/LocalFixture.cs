using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Local.Tests.Services;

/// <summary>The Local data services composed on one store, as the provider composes them.</summary>
internal sealed class LocalFixture : IDisposable
{
    private LocalFixture(LocalStore store, LocalCertificateAuthority ca, FakeTimeProvider time, RecordingMessageBus bus)
    {
        Store = store;
        Ca = ca;
        Time = time;
        Bus = bus;
        Registry = new LocalDeviceRegistry(store, ca, bus, time);
        State = new LocalStateService(store, bus);
        _firmware = new LocalFirmware(store, State, time);
        Firmware = _firmware.Service;
    }

    public static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public LocalStore Store { get; }
    public LocalCertificateAuthority Ca { get; }
    public FakeTimeProvider Time { get; }
    public RecordingMessageBus Bus { get; }
    public LocalDeviceRegistry Registry { get; }
    public LocalStateService State { get; }
    private readonly LocalFirmware _firmware;

    public IFirmwareService Firmware { get; }

    public static async Task<LocalFixture> CreateAsync(LocalStore? store = null, FakeTimeProvider? time = null)
    {
        store ??= LocalStore.OpenInMemory();
        time ??= new FakeTimeProvider(Start);
        var ca = await store.LoadOrCreateCertificateAuthorityAsync(time);
        return new LocalFixture(store, ca, time, new RecordingMessageBus());
    }

    public void Dispose()
    {
        _firmware.Dispose();
        Ca.Dispose();
        Store.Dispose();
    }
}

/// <summary>A temporary database file, deleted with its WAL companions and CA key file.</summary>
internal sealed class TempDatabase : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"iotmastery-test-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        foreach (var suffix in new[] { "", "-wal", "-shm", ".cakey" })
            File.Delete(Path + suffix);
    }
}
