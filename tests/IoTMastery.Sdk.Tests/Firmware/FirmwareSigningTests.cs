using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Tests.Firmware;

public class FirmwareSigningTests
{
    private static readonly FirmwareRelease Release = new()
    {
        Version = "1.2.3+build_7",
        Uri = new Uri("https://fw.example.test/1.2.3.bin?sig=secret-token"),
        Sha256 = new string('c', 64),
        SizeBytes = 65536,
    };

    [Fact]
    public void The_canonical_manifest_is_fixed_order_compact_utf8_json_without_the_uri()
    {
        var bytes = FirmwareManifest.GetCanonicalBytes(Release);

        Assert.Equal("""{"format":"iotmastery.firmware-manifest.v1","version":"1.2.3+build_7","sha256":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":65536}""",
            Encoding.UTF8.GetString(bytes));
        Assert.NotEqual(0xEF, bytes[0]);   // no byte-order mark
        Assert.Equal(bytes, FirmwareManifest.GetCanonicalBytes(Release with { Uri = new Uri("file:///mirror/fw.bin"), CreatedAt = DateTimeOffset.UnixEpoch }));
        Assert.Throws<ArgumentException>(() => FirmwareManifest.GetCanonicalBytes(Release with { Sha256 = "C" + new string('c', 63) }));
    }

    [Fact]
    public void A_signature_is_base64_der_ecdsa_p256_over_the_manifest_and_verifies_with_the_public_key_only()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signed = Release.Sign(key);

        Assert.Null(Release.Signature);   // a signed copy; the release itself is unchanged
        Assert.Equal(Release with { Signature = signed.Signature }, signed);
        var der = Convert.FromBase64String(signed.Signature!);
        Assert.Equal(0x30, der[0]);   // an ASN.1 SEQUENCE: DER, not the fixed 64-byte IEEE P1363 form
        using var pub = ECDsa.Create();
        pub.ImportFromPem(key.ExportSubjectPublicKeyInfoPem());
        Assert.True(pub.VerifyData(FirmwareManifest.GetCanonicalBytes(Release), der, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

        using var verifier = FirmwareSignatureVerifier.FromPublicKeyPem(key.ExportSubjectPublicKeyInfoPem());
        Assert.True(verifier.Verify(signed));
        Assert.True(verifier.Verify(signed with { Uri = new Uri("https://mirror.example.test/x.bin") }));
        Assert.False(verifier.Verify(signed with { Version = "1.2.4" }));
        Assert.False(verifier.Verify(signed with { Sha256 = new string('d', 64) }));
        Assert.False(verifier.Verify(signed with { SizeBytes = 65535 }));
        Assert.False(verifier.Verify(Release));

        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.False(verifier.Verify(Release.Sign(other)));
    }

    [Fact]
    public void An_operator_key_stored_as_pem_and_loaded_with_the_bcl_signs_releases_the_public_key_verifies()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var verifier = FirmwareSignatureVerifier.FromPublicKeyPem(key.ExportSubjectPublicKeyInfoPem());
        var password = "operator passphrase";
        var pbe = new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000);
        // PKCS#8, SEC1 "EC PRIVATE KEY" (what openssl ecparam -genkey writes) and encrypted PKCS#8: what operators store.
        foreach (var (pem, encrypted) in new[]
        {
            (key.ExportPkcs8PrivateKeyPem(), false),
            (key.ExportECPrivateKeyPem(), false),
            (key.ExportEncryptedPkcs8PrivateKeyPem(password, pbe), true),
        })
        {
            using var reloaded = ECDsa.Create();
            if (encrypted) reloaded.ImportFromEncryptedPem(pem, password);
            else reloaded.ImportFromPem(pem);
            Assert.True(verifier.Verify(Release.Sign(reloaded)));
            // The key is only used: it still signs after a first release.
            Assert.True(verifier.Verify((Release with { Version = "1.2.4" }).Sign(reloaded)));
        }
    }

    [Fact]
    public void Signing_refuses_keys_that_are_not_p256_private_keys_by_name_and_without_echoing_them()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var wrongCurve = Assert.Throws<ArgumentException>(() => Release.Sign(p384));
        Assert.Equal("privateKey", wrongCurve.ParamName);
        Assert.Contains("P-256", wrongCurve.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(p384.ExportPkcs8PrivateKeyPem().Split('\n')[1], wrongCurve.ToString(), StringComparison.Ordinal);

        // The public half where the private one belongs: refused when signing, not on every device later.
        using var publicOnly = ECDsa.Create();
        publicOnly.ImportFromPem(key.ExportSubjectPublicKeyInfoPem());
        var noPrivate = Assert.Throws<ArgumentException>(() => Release.Sign(publicOnly));
        Assert.Equal("privateKey", noPrivate.ParamName);
        Assert.Contains("private key", noPrivate.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentNullException>(() => Release.Sign(null!));
        // A release that breaks a rule is refused by the rule's name before anything is signed.
        Assert.Equal(nameof(FirmwareRelease.Sha256), Assert.Throws<ArgumentException>(() => (Release with { Sha256 = "abc" }).Sign(key)).ParamName);
    }

    [Fact]
    public void Verifier_keys_that_are_not_p256_or_not_the_right_half_are_refused_without_echoing_them()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var privatePem = key.ExportPkcs8PrivateKeyPem();

        Assert.Throws<ArgumentException>(() => FirmwareSignatureVerifier.FromPublicKeyPem(p384.ExportSubjectPublicKeyInfoPem()));
        var ex = Assert.Throws<ArgumentException>(() => FirmwareSignatureVerifier.FromPublicKeyPem(privatePem));
        Assert.DoesNotContain(privatePem.Split('\n')[1], ex.ToString(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => FirmwareSignatureVerifier.FromPublicKeyPem("not a key"));
        Assert.Throws<ArgumentException>(() => new FirmwareUpdateAgentOptions { TrustedOperatorKeyPem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }.Validate());
    }

    [Theory]
    [InlineData("")]
    [InlineData("not base64!")]
    [InlineData("QUJD=")]
    public void A_malformed_signature_breaks_release_validation_but_none_is_fine(string signature)
    {
        Release.Validate();
        var ex = Assert.Throws<ArgumentException>(() => (Release with { Signature = signature }).Validate());
        Assert.Equal(nameof(FirmwareRelease.Signature), ex.ParamName);
        Assert.Throws<ArgumentException>(() => (Release with { Signature = new string('A', FirmwareManifest.MaxSignatureLength + 4) }).Validate());
    }

    [Fact]
    public void The_desired_firmware_object_carries_the_signature_and_a_merge_to_an_unsigned_release_clears_it()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signed = Release.Sign(key);

        var desired = FirmwareStateContract.BuildDesired(signed, "r1");
        Assert.Equal(signed.Signature, desired["signature"]!.GetValue<string>());
        Assert.Equal(signed, FirmwareStateContract.ParseDesired(JsonNode.Parse(desired.ToJsonString())).Release);
        var unsigned = Release with { Version = "1.2.4" };
        var merged = JsonMergePatch.Apply(new JsonObject { ["firmware"] = desired.DeepClone() }, new JsonObject { ["firmware"] = FirmwareStateContract.BuildDesired(unsigned, "r2") });
        Assert.Equal(unsigned, FirmwareStateContract.ParseDesired(merged["firmware"]).Release);
        Assert.False(merged["firmware"]!.AsObject().ContainsKey("signature"));

        desired["signature"] = "%%%";
        Assert.Throws<FormatException>(() => FirmwareStateContract.ParseDesired(desired));
        desired["signature"] = 5;
        Assert.Throws<FormatException>(() => FirmwareStateContract.ParseDesired(desired));
    }
}
