using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk;

/// <summary>
/// A credential just issued to a device, including its secret parts. Hand it to the device and
/// store it safely; <see cref="ToString"/> never prints the secrets.
/// </summary>
public sealed class IssuedCredential
{
    /// <summary>Creates an issued credential.</summary>
    public IssuedCredential(CredentialInfo info, string? certificatePem = null, string? privateKeyPem = null,
        string? symmetricKey = null, string? publicKeyPem = null)
    {
        ArgumentNullException.ThrowIfNull(info);
        Info = info;
        CertificatePem = certificatePem;
        PrivateKeyPem = privateKeyPem;
        SymmetricKey = symmetricKey;
        PublicKeyPem = publicKeyPem;
    }

    /// <summary>The public description: id, kind, status and validity.</summary>
    public CredentialInfo Info { get; }

    /// <summary>The credential id.</summary>
    public string Id => Info.Id;

    /// <summary>The X.509 certificate in PEM, for <see cref="CredentialKind.X509Certificate"/>.</summary>
    public string? CertificatePem { get; }

    /// <summary>The private key in PKCS#8 PEM. Secret.</summary>
    public string? PrivateKeyPem { get; }

    /// <summary>The base64 symmetric key, for <see cref="CredentialKind.SymmetricKey"/>. Secret.</summary>
    public string? SymmetricKey { get; }

    /// <summary>The public key in PEM, for <see cref="CredentialKind.PublicKey"/>.</summary>
    public string? PublicKeyPem { get; }

    /// <summary>The certificate with its private key attached, ready for a TLS client.</summary>
    /// <exception cref="InvalidOperationException">This is not an X.509 credential with a private key.</exception>
    public X509Certificate2 ToCertificate()
    {
        if (CertificatePem is null || PrivateKeyPem is null)
            throw new InvalidOperationException($"Credential '{Id}' is a {Info.Kind} credential without a certificate and private key.");
        using var withKey = X509Certificate2.CreateFromPem(CertificatePem, PrivateKeyPem);
        return TlsCertificates.WithUsableKey(withKey);
    }

    /// <summary>Describes the credential without its secrets.</summary>
    public override string ToString() =>
        $"IssuedCredential {{ Id = {Info.Id}, Kind = {Info.Kind}, NotAfter = {Info.NotAfter:O}, secrets redacted }}";
}
