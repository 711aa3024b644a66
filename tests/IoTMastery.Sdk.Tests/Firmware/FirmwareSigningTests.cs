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
        using var signer = FirmwareSigner.Create();
        var signed = signer.Sign(Release);

        var der = Convert.FromBase64String(signed.Signature!);
        Assert.Equal(0x30, der[0]);   // an ASN.1 SEQUENCE: DER, not the fixed 64-byte IEEE P1363 form
        using var pub = ECDsa.Create();
        pub.ImportFromPem(signer.PublicKeyPem);
        Assert.True(pub.VerifyData(FirmwareManifest.GetCanonicalBytes(Release), der, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

        using var verifier = FirmwareSignatureVerifier.FromPublicKeyPem(signer.PublicKeyPem);
        Assert.True(verifier.Verify(signed));
        Assert.True(verifier.Verify(signed with { Uri = new Uri("https://mirror.example.test/x.bin") }));
        Assert.False(verifier.Verify(signed with { Version = "1.2.4" }));
        Assert.False(verifier.Verify(signed with { Sha256 = new string('d', 64) }));
        Assert.False(verifier.Verify(signed with { SizeBytes = 65535 }));
        Assert.False(verifier.Verify(Release));

        using var other = FirmwareSigner.Create();
        Assert.False(verifier.Verify(other.Sign(Release)));
    }

    [Fact]
    public void The_operator_key_round_trips_through_pem_and_never_shows_in_to_string()
    {
        using var signer = FirmwareSigner.Create();
        var pem = signer.ExportPrivateKeyPem();
        using var reloaded = FirmwareSigner.FromPrivateKeyPem(pem);
        using var verifier = FirmwareSignatureVerifier.FromPublicKeyPem(signer.PublicKeyPem);

        Assert.True(verifier.Verify(reloaded.Sign(Release)));
        Assert.Equal(signer.PublicKeyPem, reloaded.PublicKeyPem);
        var body = pem.Split('\n')[1];
        Assert.DoesNotContain(body, signer.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE", signer.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_that_are_not_p256_or_not_the_right_half_are_refused_without_echoing_them()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var signer = FirmwareSigner.Create();
        var privatePem = signer.ExportPrivateKeyPem();

        Assert.Throws<ArgumentException>(() => FirmwareSignatureVerifier.FromPublicKeyPem(p384.ExportSubjectPublicKeyInfoPem()));
        Assert.Throws<ArgumentException>(() => FirmwareSigner.FromPrivateKeyPem(p384.ExportPkcs8PrivateKeyPem()));
        Assert.Throws<ArgumentException>(() => FirmwareSigner.FromPrivateKeyPem(signer.PublicKeyPem));
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
        using var signer = FirmwareSigner.Create();
        var signed = signer.Sign(Release);

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
