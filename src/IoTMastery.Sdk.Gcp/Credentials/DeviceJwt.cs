using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace IoTMastery.Sdk.Gcp;

/// <summary>
/// The MQTT bridge password: a JWT signed with the device's private key, header <c>{"alg":"ES256"|"RS256","typ":"JWT"}</c>,
/// claims <c>iat</c>, <c>exp</c> (Unix seconds) and <c>aud</c> = the project id; lifetime at most 24 h.
/// </summary>
internal static class DeviceJwt
{
    /// <summary>The longest lifetime the bridge accepts.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(24);

    /// <summary>Signs a token with a PKCS#8 PEM private key (EC P-256 → ES256, RSA → RS256).</summary>
    /// <param name="projectId">The audience: the project id.</param>
    /// <param name="privateKeyPem">The device's private key. Secret; never logged.</param>
    /// <param name="issuedAt">The <c>iat</c> claim.</param>
    /// <param name="lifetime">Until <c>exp</c>; 1 s to 24 h.</param>
    /// <exception cref="ArgumentException">A bad project id, lifetime or key.</exception>
    public static string Create(string projectId, string privateKeyPem, DateTimeOffset issuedAt, TimeSpan lifetime)
    {
        ArgumentException.ThrowIfNullOrEmpty(projectId);
        ArgumentException.ThrowIfNullOrEmpty(privateKeyPem);
        if (lifetime < TimeSpan.FromSeconds(1) || lifetime > MaxLifetime)
            throw new ArgumentOutOfRangeException(nameof(lifetime), lifetime, "A device JWT lives between 1 s and 24 h.");
        using var key = LoadKey(privateKeyPem);
        string alg = key is ECDsa ? "ES256" : "RS256";
        string header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new JwtHeader(alg, "JWT"), DeviceJwtJson.Default.JwtHeader));
        string claims = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(
            new JwtClaims(issuedAt.ToUnixTimeSeconds(), issuedAt.Add(lifetime).ToUnixTimeSeconds(), projectId), DeviceJwtJson.Default.JwtClaims));
        byte[] input = Encoding.ASCII.GetBytes(header + "." + claims);
        byte[] signature = key switch
        {
            // IEEE P1363 r||s, 64 bytes: what JOSE ES256 requires.
            ECDsa ec => ec.SignData(input, HashAlgorithmName.SHA256),
            RSA rsa => rsa.SignData(input, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            _ => throw new ArgumentException("Unsupported key type.", nameof(privateKeyPem)),
        };
        return header + "." + claims + "." + Base64Url.EncodeToString(signature);
    }

    private static AsymmetricAlgorithm LoadKey(string pem)
    {
        try
        {
            if (pem.Contains("EC PRIVATE KEY", StringComparison.Ordinal) || IsEcPkcs8(pem))
            {
                var ec = ECDsa.Create();
                ec.ImportFromPem(pem);
                if (ec.KeySize != 256) { ec.Dispose(); throw new ArgumentException("ES256 needs a P-256 key.", nameof(pem)); }
                return ec;
            }
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            if (rsa.KeySize < 2048) { rsa.Dispose(); throw new ArgumentException("RS256 keys must be at least 2048 bits.", nameof(pem)); }
            return rsa;
        }
        catch (CryptographicException ex)
        {
            // The key material stays out of the message.
            throw new ArgumentException("The private key PEM could not be read as a P-256 EC or RSA key.", nameof(pem), ex);
        }
    }

    private static bool IsEcPkcs8(string pem)
    {
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

internal sealed record JwtHeader(string alg, string typ);

internal sealed record JwtClaims(long iat, long exp, string aud);

[System.Text.Json.Serialization.JsonSerializable(typeof(JwtHeader))]
[System.Text.Json.Serialization.JsonSerializable(typeof(JwtClaims))]
internal sealed partial class DeviceJwtJson : System.Text.Json.Serialization.JsonSerializerContext;
