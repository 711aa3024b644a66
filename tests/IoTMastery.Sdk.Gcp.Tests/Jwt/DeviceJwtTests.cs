using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace IoTMastery.Sdk.Gcp.Tests;

public sealed class DeviceJwtTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<KeyAlgorithm, string> Algorithms => new() { { KeyAlgorithm.EcdsaP256, "ES256" }, { KeyAlgorithm.Rsa2048, "RS256" } };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void A_token_verifies_with_the_devices_public_key_and_carries_iat_exp_and_the_project_as_audience(KeyAlgorithm algorithm, string alg)
    {
        var (publicPem, privatePem, format) = DeviceKeys.Generate(algorithm);
        Assert.Equal(algorithm == KeyAlgorithm.EcdsaP256 ? "ES256_PEM" : "RSA_PEM", format);
        var token = DeviceJwt.Create("my-project", privatePem, Now, TimeSpan.FromMinutes(60));

        var parts = token.Split('.');
        Assert.Equal(3, parts.Length);
        Assert.DoesNotContain('=', token); // base64url without padding
        using var header = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[0]));
        Assert.Equal(alg, header.RootElement.GetProperty("alg").GetString());
        Assert.Equal("JWT", header.RootElement.GetProperty("typ").GetString());
        using var claims = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
        Assert.Equal(Now.ToUnixTimeSeconds(), claims.RootElement.GetProperty("iat").GetInt64());
        Assert.Equal(Now.AddHours(1).ToUnixTimeSeconds(), claims.RootElement.GetProperty("exp").GetInt64());
        Assert.Equal("my-project", claims.RootElement.GetProperty("aud").GetString());

        var input = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        var signature = Base64Url.DecodeFromChars(parts[2]);
        if (algorithm == KeyAlgorithm.EcdsaP256)
        {
            using var ec = ECDsa.Create();
            ec.ImportFromPem(publicPem);
            Assert.Equal(64, signature.Length); // JOSE r||s
            Assert.True(ec.VerifyData(input, signature, HashAlgorithmName.SHA256));
            // Another key's public half must not verify it.
            using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            Assert.False(other.VerifyData(input, signature, HashAlgorithmName.SHA256));
        }
        else
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(publicPem);
            Assert.True(rsa.VerifyData(input, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
            signature[^1] ^= 1;
            Assert.False(rsa.VerifyData(input, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        }
    }

    [Fact]
    public void Lifetimes_over_24_hours_bad_keys_and_small_rsa_keys_are_refused_without_echoing_the_key()
    {
        var (_, privatePem, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        Assert.Throws<ArgumentOutOfRangeException>(() => DeviceJwt.Create("p", privatePem, Now, TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => DeviceJwt.Create("p", privatePem, Now, TimeSpan.Zero));
        Assert.Throws<ArgumentException>(() => DeviceJwt.Create("", privatePem, Now, TimeSpan.FromHours(1)));
        var garbage = "-----BEGIN PRIVATE KEY-----\nQUJDREVGR0hJSktMTU5PUA==\n-----END PRIVATE KEY-----";
        var ex = Assert.Throws<ArgumentException>(() => DeviceJwt.Create("p", garbage, Now, TimeSpan.FromHours(1)));
        Assert.DoesNotContain("QUJD", ex.ToString());
        using var small = RSA.Create(1024);
        Assert.Throws<ArgumentException>(() => DeviceJwt.Create("p", small.ExportPkcs8PrivateKeyPem(), Now, TimeSpan.FromHours(1)));
        var ok = DeviceJwt.Create("p", privatePem, Now, DeviceJwt.MaxLifetime);
        Assert.NotEmpty(ok);
    }

    [Fact]
    public void The_credential_id_is_the_public_key_fingerprint_and_stable()
    {
        var (publicPem, _, _) = DeviceKeys.Generate(KeyAlgorithm.EcdsaP256);
        Assert.Equal(DeviceKeys.Fingerprint(publicPem), DeviceKeys.Fingerprint(publicPem));
        Assert.Equal(64, DeviceKeys.Fingerprint(publicPem).Length);
        Assert.NotEqual(DeviceKeys.Fingerprint(publicPem), DeviceKeys.Fingerprint(DeviceKeys.Generate(KeyAlgorithm.EcdsaP256).PublicKeyPem));
    }
}
