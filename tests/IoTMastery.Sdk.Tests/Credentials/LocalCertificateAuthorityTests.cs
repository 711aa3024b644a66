using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;

namespace IoTMastery.Sdk.Tests.Credentials;

public class LocalCertificateAuthorityTests
{
    [Fact]
    public void Device_certificates_chain_to_the_CA_and_carry_the_device_id()
    {
        using var ca = LocalCertificateAuthority.Create();
        var credential = ca.IssueDeviceCertificate("dev-001");
        using var cert = credential.ToCertificate();

        Assert.Equal("dev-001", LocalCertificateAuthority.GetCommonName(cert));
        Assert.True(cert.HasPrivateKey);
        Assert.NotNull(cert.GetECDsaPublicKey());
        Assert.Equal(cert.GetCertHashString(HashAlgorithmName.SHA256), credential.Id);
        Assert.True(ca.ValidateClientCertificate(cert));
    }

    [Fact]
    public void Rsa_keys_are_issued_on_request()
    {
        using var ca = LocalCertificateAuthority.Create();
        using var cert = ca.IssueDeviceCertificate("dev-rsa", new CredentialRequest { Algorithm = KeyAlgorithm.Rsa2048 }).ToCertificate();
        Assert.Equal(2048, cert.GetRSAPublicKey()!.KeySize);
    }

    [Fact]
    public void Another_CAs_certificate_is_refused()
    {
        using var ca = LocalCertificateAuthority.Create();
        using var other = LocalCertificateAuthority.Create("Other CA");
        using var foreign = other.IssueDeviceCertificate("dev-001").ToCertificate();
        Assert.False(ca.ValidateClientCertificate(foreign));
    }

    [Fact]
    public void Expired_certificates_are_refused()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var ca = LocalCertificateAuthority.Create(timeProvider: time);
        using var cert = ca.IssueDeviceCertificate("dev-001", new CredentialRequest { Validity = TimeSpan.FromDays(1) }).ToCertificate();
        Assert.True(ca.ValidateClientCertificate(cert));
        time.Advance(TimeSpan.FromDays(2));
        Assert.False(ca.ValidateClientCertificate(cert));
    }

    [Fact]
    public void Server_certificates_are_not_client_certificates()
    {
        using var ca = LocalCertificateAuthority.Create();
        using var server = ca.IssueServerCertificate(["localhost"], [IPAddress.Loopback]);
        Assert.True(server.HasPrivateKey);
        Assert.False(ca.ValidateClientCertificate(server));
    }

    [Fact]
    public void The_CA_survives_a_PEM_round_trip()
    {
        using var ca = LocalCertificateAuthority.Create();
        var (certPem, keyPem) = ca.ExportCertificateAndKeyPem();
        using var reloaded = LocalCertificateAuthority.FromPem(certPem, keyPem);
        using var cert = reloaded.IssueDeviceCertificate("dev-002").ToCertificate();
        Assert.True(ca.ValidateClientCertificate(cert));
    }

    [Fact]
    public void A_leaf_certificate_cannot_be_loaded_as_a_CA()
    {
        using var ca = LocalCertificateAuthority.Create();
        var leaf = ca.IssueDeviceCertificate("dev-003");
        Assert.Throws<ArgumentException>(() => LocalCertificateAuthority.FromPem(leaf.CertificatePem!, leaf.PrivateKeyPem!));
    }

    [Fact]
    public void Secrets_never_appear_in_ToString()
    {
        using var ca = LocalCertificateAuthority.Create();
        var credential = ca.IssueDeviceCertificate("dev-004");
        var keyBody = credential.PrivateKeyPem!.Split('\n')[1];
        Assert.DoesNotContain(keyBody, credential.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", credential.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", ca.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Symmetric_key_requests_are_refused_by_the_CA()
    {
        using var ca = LocalCertificateAuthority.Create();
        Assert.Throws<ArgumentException>(() => ca.IssueDeviceCertificate("dev-005", new CredentialRequest { Kind = CredentialKind.SymmetricKey }));
    }

    // The CA encodes device certificates itself (to skip loading them back into X509Certificate2); .NET's CertificateRequest,
    // given the same subject, key, serial, validity and extensions, is the independent encoder it must agree with byte for byte.
    [Theory]
    [InlineData(KeyAlgorithm.EcdsaP256, "dev-001")]
    [InlineData(KeyAlgorithm.Rsa2048, "plant-7:line.3_sensor-0001")]
    [InlineData(KeyAlgorithm.EcdsaP256, "needs,quoting")]
    public void Device_certificates_are_encoded_as_CertificateRequest_encodes_them(KeyAlgorithm algorithm, string deviceId)
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-03-04T05:06:07.891Z", System.Globalization.CultureInfo.InvariantCulture));
        using var ca = LocalCertificateAuthority.Create(timeProvider: time);
        var issued = ca.IssueDeviceCertificate(deviceId, new CredentialRequest { Algorithm = algorithm });
        using var cert = X509Certificate2.CreateFromPem(issued.CertificatePem!);
        var (toBeSigned, signatureAlgorithm, signature) = SplitCertificate(cert.RawData);

        var request = new CertificateRequest(cert.SubjectName, cert.PublicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            algorithm == KeyAlgorithm.Rsa2048 ? X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment : X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false));
        using var anyKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var capture = new CapturingGenerator(X509SignatureGenerator.CreateForECDsa(anyKey));
        var now = time.GetUtcNow();
        using var reference = request.Create(ca.Certificate.SubjectName, capture, now.AddMinutes(-5), new[] { now.AddDays(365), ca.Certificate.NotAfter.ToUniversalTime() }.Min(), cert.SerialNumberBytes.ToArray());

        Assert.Equal(Convert.ToHexString(capture.Signed!), Convert.ToHexString(toBeSigned));
        Assert.Equal(Convert.ToHexString(SplitCertificate(reference.RawData).SignatureAlgorithm), Convert.ToHexString(signatureAlgorithm));
        // Signed by the CA's key, over exactly those bytes; and the id is the certificate's SHA-256 thumbprint.
        using var caPublic = ca.Certificate.GetECDsaPublicKey()!;
        Assert.True(caPublic.VerifyData(toBeSigned, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Equal(cert.GetCertHashString(HashAlgorithmName.SHA256), issued.Info.Id);
        Assert.Equal(cert.ExportCertificatePem(), issued.CertificatePem);
        Assert.True(ca.ValidateClientCertificate(cert));
    }

    [Fact]
    public void Serial_numbers_are_positive_sixteen_byte_integers_and_differ()
    {
        using var ca = LocalCertificateAuthority.Create();
        var serials = Enumerable.Range(0, 200).Select(i =>
        {
            using var cert = X509Certificate2.CreateFromPem(ca.IssueDeviceCertificate($"dev-{i}").CertificatePem!);
            return cert.SerialNumberBytes.ToArray();
        }).ToList();
        Assert.All(serials, s => Assert.Equal(16, s.Length));
        // Big-endian: the first byte carries the sign bit (clear) and a set bit that keeps the encoding minimal.
        Assert.All(serials, s => Assert.Equal(0x40, s[0] & 0xC0));
        Assert.Equal(serials.Count, serials.Select(Convert.ToHexString).Distinct().Count());
    }

    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    private static (byte[] ToBeSigned, byte[] SignatureAlgorithm, byte[] Signature) SplitCertificate(byte[] der)
    {
        var outer = new System.Formats.Asn1.AsnReader(der, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadEncodedValue().ToArray();
        var algorithm = outer.ReadEncodedValue().ToArray();
        var signature = outer.ReadBitString(out _);
        return (tbs, algorithm, signature);
    }

    // Records the TBSCertificate that CertificateRequest.Create asks to have signed.
    private sealed class CapturingGenerator(X509SignatureGenerator inner) : X509SignatureGenerator
    {
        public byte[]? Signed { get; private set; }

        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => inner.GetSignatureAlgorithmIdentifier(hashAlgorithm);

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm)
        {
            Signed = data;
            return inner.SignData(data, hashAlgorithm);
        }

        protected override PublicKey BuildPublicKey() => throw new NotSupportedException();
    }
}
