using System.Security.Cryptography;

namespace IoTMastery.Sdk;

/// <summary>
/// Verifies a release's <see cref="FirmwareRelease.Signature"/> against the fleet operator's ECDSA P-256
/// public key: a base64 DER signature (see <see cref="FirmwareRelease.Sign"/>) over the release's
/// <see cref="FirmwareManifest"/>. Any change to the version, digest or size breaks the signature. Thread-safe.
/// </summary>
internal sealed class FirmwareSignatureVerifier : IDisposable
{
    private readonly ECDsa _key;

    private FirmwareSignatureVerifier(ECDsa key) => _key = key;

    /// <summary>Loads the operator's public key from SubjectPublicKeyInfo PEM (<c>-----BEGIN PUBLIC KEY-----</c>).</summary>
    /// <exception cref="ArgumentException">The text is not an ECDSA P-256 public key.</exception>
    public static FirmwareSignatureVerifier FromPublicKeyPem(string publicKeyPem)
    {
        ArgumentException.ThrowIfNullOrEmpty(publicKeyPem);
        var key = ECDsa.Create();
        try
        {
            if (!publicKeyPem.Contains("-----BEGIN PUBLIC KEY-----", StringComparison.Ordinal))
                throw new ArgumentException("The operator key must be a PEM 'PUBLIC KEY' block.", nameof(publicKeyPem));
            key.ImportFromPem(publicKeyPem);
            EnsureP256(key, nameof(publicKeyPem));
        }
        catch (CryptographicException ex)
        {
            key.Dispose();
            throw new ArgumentException("The operator key must be an ECDSA P-256 public key in PEM.", nameof(publicKeyPem), ex);
        }
        catch
        {
            key.Dispose();
            throw;
        }
        return new FirmwareSignatureVerifier(key);
    }

    /// <summary>Whether <paramref name="release"/> carries a valid signature of its manifest by the operator key.</summary>
    /// <exception cref="ArgumentException">The release breaks a <see cref="FirmwareRelease"/> rule.</exception>
    public bool Verify(FirmwareRelease release) => Check(release) is null;

    /// <summary>Null when the signature verifies, else why not (names no secret).</summary>
    internal string? Check(FirmwareRelease release)
    {
        var manifest = FirmwareManifest.GetCanonicalBytes(release);
        if (release.Signature is null)
            return $"Firmware {release.Version} is not signed, but this device only installs releases signed by the fleet operator's key; not installed.";
        var signature = Convert.FromBase64String(release.Signature);
        return _key.VerifyData(manifest, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)
            ? null
            : $"Firmware {release.Version} has a signature that does not match its manifest (version, sha256, size) under the trusted operator key; the release was altered or signed by another key; not installed.";
    }

    internal static void EnsureP256(ECDsa key, string parameterName)
    {
        var curve = key.ExportParameters(includePrivateParameters: false).Curve;
        if (key.KeySize != 256 || !curve.IsNamed || curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            throw new ArgumentException("The operator key must be on the NIST P-256 curve.", parameterName);
    }

    /// <summary>Describes the verifier.</summary>
    public override string ToString() => "FirmwareSignatureVerifier { ECDSA P-256 }";

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();
}
