using System.Security.Cryptography;

namespace IoTMastery.Sdk;

/// <summary>
/// The fleet operator's side of firmware signing: signs a release's <see cref="FirmwareManifest"/>
/// with an ECDSA P-256 private key (SHA-256) and stores the signature, base64 of its DER
/// (RFC 3279 <c>Ecdsa-Sig-Value</c>) encoding, in <see cref="FirmwareRelease.Signature"/>.
/// DER is what <c>openssl dgst -sha256 -sign</c> and cloud KMS services produce, so releases can also be
/// signed offline: <c>openssl dgst -sha256 -sign operator-key.pem manifest.json | base64 -w0</c>.
/// Keep the private key with the operator, never on devices; give devices <see cref="PublicKeyPem"/>.
/// <see cref="ToString"/> never prints the private key.
/// </summary>
public sealed class FirmwareSigner : IDisposable
{
    private readonly ECDsa _key;

    private FirmwareSigner(ECDsa key)
    {
        _key = key;
        PublicKeyPem = key.ExportSubjectPublicKeyInfoPem();
    }

    /// <summary>The public key (SubjectPublicKeyInfo PEM) devices verify signatures with.</summary>
    public string PublicKeyPem { get; }

    /// <summary>Creates a signer with a fresh ECDSA P-256 key.</summary>
    public static FirmwareSigner Create() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>Loads a signer from an ECDSA P-256 private key in PEM (PKCS#8 or SEC1 <c>EC PRIVATE KEY</c>).</summary>
    /// <exception cref="ArgumentException">The text is not an ECDSA P-256 private key.</exception>
    public static FirmwareSigner FromPrivateKeyPem(string privateKeyPem)
    {
        ArgumentException.ThrowIfNullOrEmpty(privateKeyPem);
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(privateKeyPem);
            FirmwareSignatureVerifier.EnsureP256(key, nameof(privateKeyPem));
            // A public-only PEM imports fine but cannot sign; find out now rather than at the first release.
            key.ExportParameters(includePrivateParameters: true);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            key.Dispose();
            // The message never echoes the PEM text: it is a secret.
            throw new ArgumentException("The operator key must be an ECDSA P-256 private key in PEM.", nameof(privateKeyPem), ex is ArgumentException ? null : ex);
        }
        return new FirmwareSigner(key);
    }

    /// <summary>The private key in PKCS#8 PEM, for storing the operator key. Secret.</summary>
    public string ExportPrivateKeyPem() => _key.ExportPkcs8PrivateKeyPem();

    /// <summary>Returns a copy of <paramref name="release"/> with <see cref="FirmwareRelease.Signature"/> set to the signature of its manifest.</summary>
    /// <exception cref="ArgumentException">The release breaks a <see cref="FirmwareRelease"/> rule.</exception>
    public FirmwareRelease Sign(FirmwareRelease release)
    {
        var manifest = FirmwareManifest.GetCanonicalBytes(release);
        var signature = _key.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return release with { Signature = Convert.ToBase64String(signature) };
    }

    /// <summary>Describes the signer by its public key only.</summary>
    public override string ToString() => $"FirmwareSigner {{ ECDSA P-256, private key redacted }}";

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();
}
