using System.Security.Cryptography;

namespace Quickstart;

/// <summary>
/// The operator's firmware signing key, a BCL ECDSA P-256 key that <c>FirmwareRelease.Sign</c> uses: fresh per run in memory,
/// or kept in <c>{db}.operator-key.pem</c> as PKCS#8 (mode 0600, tightened if wider).
/// </summary>
internal static class OperatorKey
{
    public static string PathFor(string databasePath) => databasePath + ".operator-key.pem";

    public static ECDsa LoadOrCreate(string? databasePath)
    {
        if (databasePath is null)
            return ECDsa.Create(ECCurve.NamedCurves.nistP256);
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
            var stored = ECDsa.Create();
            try
            {
                stored.ImportFromPem(File.ReadAllText(path));
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                stored.Dispose();
                // Names the file, never its text: the text is a private key.
                throw new InvalidOperationException($"{path} does not hold a PEM private key; move it away to start with a new operator key.", ex);
            }
            return stored;
        }
        var signer = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        // Created owner-only from the first byte, so the private key is never readable by others even briefly.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new StreamWriter(path, System.Text.Encoding.ASCII, options))
            file.Write(signer.ExportPkcs8PrivateKeyPem());
        return signer;
    }
}
