namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// A firmware store file in the temp folder for a provider's <c>FirmwareStorePath</c>, so tests never write to the
/// default under LocalApplicationData; deleted with its WAL companions on dispose.
/// </summary>
public sealed class TempFirmwareStore : IDisposable
{
    /// <summary>The file path; not created until a provider first uses firmware.</summary>
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"iotm-firmware-{Guid.NewGuid():N}.db");

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            File.Delete(Path + suffix);
    }
}
