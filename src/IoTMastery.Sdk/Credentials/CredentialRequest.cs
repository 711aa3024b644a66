namespace IoTMastery.Sdk;

/// <summary>The kinds of device credential.</summary>
public enum CredentialKind
{
    /// <summary>An X.509 client certificate with its private key (mutual TLS).</summary>
    X509Certificate,

    /// <summary>A shared symmetric key (Azure SAS, DPS).</summary>
    SymmetricKey,

    /// <summary>A public key registered with the service; the device keeps the private key and signs JWTs (GCP style).</summary>
    PublicKey,
}

/// <summary>Key algorithms for generated keys.</summary>
public enum KeyAlgorithm
{
    /// <summary>ECDSA on NIST P-256 (ES256). The default: small, fast, and accepted by every provider.</summary>
    EcdsaP256,

    /// <summary>RSA with a 2048-bit modulus (RS256).</summary>
    Rsa2048,
}

/// <summary>What credential to issue.</summary>
public sealed record CredentialRequest
{
    /// <summary>An X.509 certificate on an ECDSA P-256 key, valid for a year: the default.</summary>
    public static CredentialRequest X509 { get; } = new();

    /// <summary>The kind of credential. Default <see cref="CredentialKind.X509Certificate"/>.</summary>
    public CredentialKind Kind { get; init; } = CredentialKind.X509Certificate;

    /// <summary>The key algorithm for generated keys. Default <see cref="KeyAlgorithm.EcdsaP256"/>.</summary>
    public KeyAlgorithm Algorithm { get; init; } = KeyAlgorithm.EcdsaP256;

    /// <summary>How long the credential stays valid. Default 365 days.</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(365);

    internal void Validate()
    {
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "Unknown credential kind.");
        if (!Enum.IsDefined(Algorithm))
            throw new ArgumentOutOfRangeException(nameof(Algorithm), Algorithm, "Unknown key algorithm.");
        if (Validity <= TimeSpan.Zero || Validity > TimeSpan.FromDays(3650))
            throw new ArgumentOutOfRangeException(nameof(Validity), Validity, "Validity must be positive and at most 10 years.");
    }
}

/// <summary>The public description of a device credential. Holds no secret.</summary>
public sealed record CredentialInfo
{
    /// <summary>The credential's id (a certificate's SHA-256 thumbprint for X.509).</summary>
    public required string Id { get; init; }

    /// <summary>The kind of credential.</summary>
    public CredentialKind Kind { get; init; }

    /// <summary>
    /// Whether the credential was revoked and is refused; <see langword="false"/> (the default) while it is accepted. A bool,
    /// not a status enum: revocation is the only state a credential leaves, and expiry is read from <see cref="NotAfter"/>.
    /// </summary>
    public bool Revoked { get; init; }

    /// <summary>Start of validity.</summary>
    public DateTimeOffset NotBefore { get; init; }

    /// <summary>End of validity.</summary>
    public DateTimeOffset NotAfter { get; init; }
}
