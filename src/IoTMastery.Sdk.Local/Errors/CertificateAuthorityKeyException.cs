namespace IoTMastery.Sdk.Local;

/// <summary>
/// The Local provider could not unlock the CA saved in its database: the key that encrypts the CA's private key is
/// missing or wrong. Start-up stops here and changes nothing — creating a new CA instead would orphan every device
/// certificate already issued. Not transient: supply the key the CA was saved with (<see cref="LocalIoTOptions.CaKeyPassphrase"/>,
/// <see cref="LocalIoTOptions.CaKeyPassphraseEnvironmentVariable"/> or <see cref="LocalIoTOptions.CaKeyFile"/>).
/// </summary>
public sealed class CertificateAuthorityKeyException : IoTException
{
    /// <summary><see cref="IoTException.ErrorCode"/> when no key was given and the key file does not exist.</summary>
    public const string KeyMissing = "CaKeyMissing";

    /// <summary><see cref="IoTException.ErrorCode"/> when the key given does not decrypt the CA's private key.</summary>
    public const string KeyIncorrect = "CaKeyIncorrect";

    /// <summary>Creates the error; <paramref name="message"/> never holds the key.</summary>
    public CertificateAuthorityKeyException(string message, string errorCode, Exception? innerException = null)
        : base(message, "Local", errorCode, false, null, innerException) { }
}
