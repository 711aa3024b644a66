using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace IoTMastery.Sdk.Local;

/// <summary>
/// The key that encrypts the CA's private key in a database file, from wherever the user keeps it: a passphrase in
/// <see cref="LocalIoTOptions.CaKeyPassphrase"/> or <see cref="LocalIoTOptions.CaKeyPassphraseEnvironmentVariable"/>, or an
/// owner-only key file (by default <c>{database}.cakey</c>, created with a random 256-bit key for a new CA).
/// </summary>
internal sealed partial class CertificateAuthorityKey
{
    /// <summary>Passphrases shorter than this are refused.</summary>
    public const int MinPassphraseLength = 12;

    /// <summary>Passphrases (and key files) longer than this are refused.</summary>
    public const int MaxPassphraseLength = 1024;

    // PKCS#8 PBES2: AES-256-CBC, PBKDF2-HMAC-SHA256. A passphrase a person chose gets OWASP's 2023 count for that hash;
    // a generated 256-bit key cannot be guessed, so stretching it adds nothing but seconds to every start on a busy
    // machine. The count is stored in the PEM, so either can change later without breaking existing databases.
    private static readonly PbeParameters PassphrasePbe = new(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 600_000);
    private static readonly PbeParameters RandomKeyPbe = new(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000);
    private const int RandomKeyBytes = 32;

    private readonly string? _passphrase;
    private readonly string? _file;
    private readonly string _origin;
    private readonly ILogger _logger;

    private CertificateAuthorityKey(string? passphrase, string? file, string origin, ILogger logger)
    {
        _passphrase = passphrase;
        _file = file;
        _origin = origin;
        _logger = logger;
    }

    /// <summary>The key kept in <paramref name="keyFile"/>.</summary>
    public static CertificateAuthorityKey FromFile(string keyFile, ILogger logger) =>
        new(null, Path.GetFullPath(keyFile), $"the key file '{Path.GetFullPath(keyFile)}'", logger);

    /// <summary>The key the options name: the passphrase option, else the key-file option, else the environment variable, else <c>{database}.cakey</c>.</summary>
    /// <exception cref="ArgumentException">The environment variable holds a passphrase of the wrong length.</exception>
    public static CertificateAuthorityKey FromOptions(LocalIoTOptions options, string databasePath, ILogger logger)
    {
        if (options.CaKeyPassphrase is { } passphrase)
            return new(passphrase, null, $"{nameof(LocalIoTOptions)}.{nameof(LocalIoTOptions.CaKeyPassphrase)}", logger);
        if (options.CaKeyFile is { } file)
            return FromFile(file, logger);
        const string variable = LocalIoTOptions.CaKeyPassphraseEnvironmentVariable;
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } fromEnvironment)
        {
            ValidatePassphrase(fromEnvironment, variable, $"The environment variable {variable}");
            return new(fromEnvironment, null, $"the environment variable {variable}", logger);
        }
        return FromFile(Path.GetFullPath(databasePath) + ".cakey", logger);
    }

    /// <summary>Throws <see cref="ArgumentException"/> (without the value) unless <paramref name="passphrase"/> has an allowed length.</summary>
    public static void ValidatePassphrase(string passphrase, string paramName, string? what = null)
    {
        if (passphrase.Length is < MinPassphraseLength or > MaxPassphraseLength)
            throw new ArgumentException($"{what ?? paramName} must hold a passphrase of {MinPassphraseLength} to {MaxPassphraseLength} characters.", paramName);
    }

    /// <summary>Whether <paramref name="privateKeyPem"/> is an unencrypted key, as databases written before encryption hold.</summary>
    public static bool IsPlaintext(string privateKeyPem) =>
        !privateKeyPem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal);

    /// <summary>The CA's private key encrypted for storage; creates the key file if this key lives in one that does not exist yet.</summary>
    public string Seal(LocalCertificateAuthority ca)
    {
        var passphrase = _passphrase ?? ReadOrCreateFile();
        return ca.ExportEncryptedKeyPem(passphrase, IsRandomKey(passphrase) ? RandomKeyPbe : PassphrasePbe);
    }

    // The generated form: base64 of 32 bytes, which is what ReadOrCreateFile writes (or a key made the same way, e.g. with
    // `openssl rand -base64 32`).
    private static bool IsRandomKey(string passphrase)
    {
        Span<byte> bytes = stackalloc byte[RandomKeyBytes + 3];
        return passphrase.Length == 44 && Convert.TryFromBase64String(passphrase, bytes, out var written) && written == RandomKeyBytes;
    }

    /// <summary>Loads the saved CA; never creates a key.</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.CertificateAuthorityKey"/>: The key is missing or does not decrypt the CA.</exception>
    public LocalCertificateAuthority Unseal(string certificatePem, string encryptedKeyPem, TimeProvider? timeProvider)
    {
        var passphrase = _passphrase ?? ReadExistingFile();
        try
        {
            return LocalCertificateAuthority.FromEncryptedPem(certificatePem, encryptedKeyPem, passphrase, timeProvider);
        }
        catch (CryptographicException ex)
        {
            throw Locked($"The CA saved in the database could not be decrypted with the key from {_origin}. {Hint} Nothing was changed.",
                KeyIncorrect, ex);
        }
    }

    /// <summary><see cref="IoTException.ErrorCode"/> when no key was given and the key file does not exist.</summary>
    internal const string KeyMissing = "CaKeyMissing";

    /// <summary><see cref="IoTException.ErrorCode"/> when the key given does not decrypt the CA's private key.</summary>
    internal const string KeyIncorrect = "CaKeyIncorrect";

    // Start-up stops here and changes nothing: creating a new CA instead would orphan every device certificate issued. Not
    // transient, since only the right key fixes it. The message never holds the key.
    private static IoTException Locked(string message, string errorCode, Exception? innerException = null) =>
        new(IoTErrorKind.CertificateAuthorityKey, message, "Local", errorCode, innerException: innerException);

    // Where the key can come from, for both errors: the user may have moved it on purpose.
    private static string Hint =>
        $"Give the key the CA was saved with: {nameof(LocalIoTOptions)}.{nameof(LocalIoTOptions.CaKeyPassphrase)}, the environment variable " +
        $"{LocalIoTOptions.CaKeyPassphraseEnvironmentVariable}, or the key file ({nameof(LocalIoTOptions)}.{nameof(LocalIoTOptions.CaKeyFile)}, " +
        "default '{database}.cakey'). A new CA is never made in place of a locked one: that would orphan every device certificate it issued.";

    private string ReadExistingFile()
    {
        if (!File.Exists(_file))
            throw Locked($"The database holds an encrypted CA but {_origin} does not exist. {Hint} Nothing was changed.", KeyMissing);
        return ReadFile();
    }

    private string ReadOrCreateFile()
    {
        if (File.Exists(_file))
            return ReadFile();
        OwnerOnlyFiles.CreateFolderFor(_file!);
        // 256 random bits: the database alone no longer reveals the CA key; whoever has this file too can read it.
        var generated = Convert.ToBase64String(RandomNumberGenerator.GetBytes(RandomKeyBytes));
        OwnerOnlyFiles.WriteNew(_file!, generated + "\n");
        Log.KeyFileCreated(_logger, _file);
        return generated;
    }

    private string ReadFile()
    {
        OwnerOnlyFiles.Tighten(_file!, _logger);
        if (new FileInfo(_file!).Length > MaxPassphraseLength + 2)
            throw new ArgumentException($"The CA key file '{_file}' must hold a passphrase of {MinPassphraseLength} to {MaxPassphraseLength} characters.", nameof(LocalIoTOptions.CaKeyFile));
        // Trimmed: a key file written with echo or an editor ends with a newline that is not part of the key.
        var passphrase = File.ReadAllText(_file!).Trim();
        ValidatePassphrase(passphrase, nameof(LocalIoTOptions.CaKeyFile), $"The CA key file '{_file}'");
        return passphrase;
    }

    /// <summary>Describes where the key comes from, never the key.</summary>
    public override string ToString() => $"CertificateAuthorityKey {{ From = {_origin} }}";
}
