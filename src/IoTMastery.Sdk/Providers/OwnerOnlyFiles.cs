using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

/// <summary>
/// Creates and checks the files that hold secrets (the database and its companions, the CA key file) so that only
/// their owner can read them, whatever the process umask. Linux and macOS; on Windows files inherit their folder's ACL.
/// </summary>
internal static partial class OwnerOnlyFiles
{
    /// <summary>0600.</summary>
    public const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>0700.</summary>
    public const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the folder of <paramref name="filePath"/> and any missing parents as 0700; a folder that exists is the user's and left alone.</summary>
    public static void CreateFolderFor(string filePath)
    {
        var folder = Path.GetDirectoryName(filePath)!;
        if (Directory.Exists(folder)) return;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
            return;
        }
        // One level at a time: Directory.CreateDirectory(path, mode) gives the mode to the last folder only, and the
        // parents it creates on the way get 0777 minus the umask.
        var missing = new Stack<string>();
        for (var current = folder; !Directory.Exists(current); current = Path.GetDirectoryName(current)!)
            missing.Push(current);
        while (missing.TryPop(out var next))
            Directory.CreateDirectory(next, Folder);
    }

    /// <summary>
    /// Creates <paramref name="path"/> empty and owner-only unless it exists. SQLite would create the database 0644 minus
    /// the umask, and gives its <c>-wal</c>/<c>-shm</c> files the database's mode, so creating it first decides all three.
    /// </summary>
    public static void CreateEmpty(string path)
    {
        if (OperatingSystem.IsWindows()) return;
        try
        {
            using var _ = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = File });
        }
        catch (IOException) when (System.IO.File.Exists(path))
        {
            // Another process created it first; Tighten has already checked or will check its mode.
        }
    }

    /// <summary>Writes a new owner-only file (never replacing one) and flushes it to disk before returning.</summary>
    public static void WriteNew(string path, string text)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = File;
        using var stream = new FileStream(path, options);
        var bytes = System.Text.Encoding.ASCII.GetBytes(text);
        stream.Write(bytes);
        // The CA row is committed only after this returns: a crash must not leave a CA whose key was never on disk.
        stream.Flush(flushToDisk: true);
    }

    /// <summary>If <paramref name="path"/> exists and its group or others have any access, makes it owner-only and logs a warning.</summary>
    public static void Tighten(string path, ILogger logger)
    {
        if (OperatingSystem.IsWindows() || !System.IO.File.Exists(path)) return;
        var mode = System.IO.File.GetUnixFileMode(path);
        if ((mode & ~File) == 0) return;
        var tightened = mode & File;
        System.IO.File.SetUnixFileMode(path, tightened);
        Log.ModeTightened(logger, path, Octal(mode), Octal(tightened));
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);
}
