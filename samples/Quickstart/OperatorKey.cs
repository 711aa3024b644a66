using IoTMastery.Sdk;

namespace Quickstart;

/// <summary>The operator's firmware signing key: fresh per run in memory, or kept in <c>{db}.operator-key.pem</c> (mode 0600, tightened if wider).</summary>
internal static class OperatorKey
{
    public static string PathFor(string databasePath) => databasePath + ".operator-key.pem";

    public static FirmwareSigner LoadOrCreate(string? databasePath)
    {
        if (databasePath is null)
            return FirmwareSigner.Create();
        var path = PathFor(databasePath);
        if (File.Exists(path))
        {
            // A key file copied or restored with a wider mode is made owner-only again before it is used.
            const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~ownerOnly) != 0)
            {
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) & ownerOnly);
                Console.Error.WriteLine($"warning: {path} was readable by others; it is now owner-only (0600).");
            }
            return FirmwareSigner.FromPrivateKeyPem(File.ReadAllText(path));
        }
        var signer = FirmwareSigner.Create();
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        // Created owner-only from the first byte, so the private key is never readable by others even briefly.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new StreamWriter(path, System.Text.Encoding.ASCII, options))
            file.Write(signer.ExportPrivateKeyPem());
        return signer;
    }
}
