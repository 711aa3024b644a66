using System.Security.Cryptography;

namespace IoTMastery.Sdk.Gcp;

/// <summary>Generates device key pairs and names their Cloud IoT formats (ES256_PEM, RSA_PEM).</summary>
internal static class DeviceKeys
{
    public const string Es256Format = "ES256_PEM";
    public const string RsaFormat = "RSA_PEM";

    /// <summary>A new key pair: (public key PEM, PKCS#8 private key PEM, Cloud IoT format).</summary>
    public static (string PublicKeyPem, string PrivateKeyPem, string Format) Generate(KeyAlgorithm algorithm)
    {
        switch (algorithm)
        {
            case KeyAlgorithm.EcdsaP256:
                using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
                    return (ec.ExportSubjectPublicKeyInfoPem(), ec.ExportPkcs8PrivateKeyPem(), Es256Format);
            case KeyAlgorithm.Rsa2048:
                using (var rsa = RSA.Create(2048))
                    return (rsa.ExportSubjectPublicKeyInfoPem(), rsa.ExportPkcs8PrivateKeyPem(), RsaFormat);
            default:
                throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown key algorithm.");
        }
    }

    /// <summary>The credential id: lowercase hex SHA-256 of the public key's SubjectPublicKeyInfo.</summary>
    public static string Fingerprint(string publicKeyPem)
    {
        var der = PemEncoding.Find(publicKeyPem) is var pem ? Convert.FromBase64String(publicKeyPem[pem.Base64Data]) : [];
        return Convert.ToHexStringLower(SHA256.HashData(der));
    }
}
