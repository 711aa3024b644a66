using IoTMastery.Sdk.Providers;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk;

/// <summary>
/// The rules behind the cloud providers' <c>FirmwareStorePath</c> and <c>FirmwareStore</c> options, written once:
/// a given store wins; otherwise a <see cref="SqliteFirmwareStore"/> at the path, by default a file under
/// LocalApplicationData/IoTMastery named after the endpoint, so processes managing one fleet on a machine share it.
/// </summary>
internal static class FirmwareStoreOptions
{
    /// <summary>Checks a configured path; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public static void ValidatePath(string? path, string optionName)
    {
        if (path is null) return;
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException($"{optionName} must be a file path when set, not blank.", optionName);
        if (path.IndexOfAny(Path.GetInvalidPathChars()) >= 0 || path.Contains('\0'))
            throw new ArgumentException($"{optionName} contains characters not allowed in a path.", optionName);
        if (Directory.Exists(path))
            throw new ArgumentException($"{optionName} must name a file, but '{ErrorText.Escape(path, 256)}' is a folder.", optionName);
    }

    /// <summary>The default file for an endpoint identity such as a hub host name, a region and endpoint, or a project and registry.</summary>
    public static string DefaultPath(string identity)
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
        if (string.IsNullOrEmpty(root))
            throw new InvalidOperationException("No LocalApplicationData folder is known for this user; set FirmwareStorePath (or FirmwareStore) in the provider options.");
        var name = new string(identity.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? char.ToLowerInvariant(c) : '_').ToArray());
        return Path.Combine(root, "IoTMastery", "firmware-" + name + ".db");
    }

    /// <summary>The store to use, and whether the provider owns it (and so disposes it).</summary>
    public static (IFirmwareStore Store, IDisposable? Owned) Resolve(IFirmwareStore? store, string? path, string identity, ILogger logger)
    {
        if (store is not null) return (store, null);
        var opened = new SqliteFirmwareStore(path ?? DefaultPath(identity), logger);
        return (opened, opened);
    }
}
