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
}
