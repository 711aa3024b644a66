using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk;

/// <summary>
/// A small certificate authority for device and broker certificates, built on
/// System.Security.Cryptography. Keys are ECDSA P-256 unless a request asks for RSA.
/// Thread-safe. The CA's private key never appears in <see cref="ToString"/> or messages.
/// </summary>
public sealed partial class LocalCertificateAuthority : IDisposable
{
    private static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    private readonly X509Certificate2 _caWithKey;
    private readonly TimeProvider _time;
    // The same for every certificate this CA signs, so encoded once.
    private readonly byte[] _issuerName;
    private readonly X509Extension _authorityKeyIdentifier;

    private LocalCertificateAuthority(X509Certificate2 caWithKey, TimeProvider time)
    {
        _caWithKey = caWithKey;
        _time = time;
        Certificate = X509CertificateLoader.LoadCertificate(caWithKey.RawData);
        _issuerName = caWithKey.SubjectName.RawData;
        _authorityKeyIdentifier = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caWithKey, true, false);
    }

    /// <summary>The CA certificate (public part only), to give to TLS peers as the trust root.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The CA certificate in PEM.</summary>
    public string CertificatePem => Certificate.ExportCertificatePem();

    /// <summary>Creates a new CA with a fresh ECDSA P-256 key, valid for ten years.</summary>
    /// <param name="subjectName">The CA's common name.</param>
    /// <param name="timeProvider">The clock for validity periods; defaults to the system clock.</param>
    public static LocalCertificateAuthority Create(string subjectName = "IoTMastery Local CA", TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subjectName);
        var time = timeProvider ?? TimeProvider.System;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(subjectName)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        var ca = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
        return new LocalCertificateAuthority(ca, time);
    }

    /// <summary>Loads a CA previously saved with <see cref="ExportCertificateAndKeyPem"/>.</summary>
    /// <exception cref="ArgumentException">The PEM does not hold a CA certificate with its matching private key.</exception>
    public static LocalCertificateAuthority FromPem(string certificatePem, string privateKeyPem, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificatePem);
        ArgumentException.ThrowIfNullOrEmpty(privateKeyPem);
        X509Certificate2 ca;
        try
        {
            ca = X509Certificate2.CreateFromPem(certificatePem, privateKeyPem);
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException("The PEM text is not a certificate with its matching private key.", nameof(privateKeyPem), ex);
        }
        return FromCertificateWithKey(ca, timeProvider, nameof(certificatePem));
    }

    /// <summary>Loads a CA saved with <see cref="ExportEncryptedKeyPem"/>.</summary>
    /// <exception cref="CryptographicException">The passphrase is wrong, or the key does not belong to the certificate.</exception>
    /// <exception cref="ArgumentException">The PEM text holds no encrypted key, or the certificate is not a CA.</exception>
    internal static LocalCertificateAuthority FromEncryptedPem(string certificatePem, string encryptedKeyPem, ReadOnlySpan<char> passphrase, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(certificatePem);
        ArgumentException.ThrowIfNullOrEmpty(encryptedKeyPem);
        return FromCertificateWithKey(X509Certificate2.CreateFromEncryptedPem(certificatePem, encryptedKeyPem, passphrase), timeProvider, nameof(certificatePem));
    }

    private static LocalCertificateAuthority FromCertificateWithKey(X509Certificate2 ca, TimeProvider? timeProvider, string certificateParameter)
    {
        var constraints = ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true })
        {
            ca.Dispose();
            throw new ArgumentException("The certificate is not a CA certificate.", certificateParameter);
        }
        return new LocalCertificateAuthority(ca, timeProvider ?? TimeProvider.System);
    }

    /// <summary>The CA certificate and its private key in PEM, for persisting the CA. The key is secret.</summary>
    public (string CertificatePem, string PrivateKeyPem) ExportCertificateAndKeyPem()
    {
        using var key = _caWithKey.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The CA has no ECDSA private key.");
        return (_caWithKey.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>The CA's private key as encrypted PKCS#8 PEM (<c>ENCRYPTED PRIVATE KEY</c>), for persisting the CA at rest.</summary>
    internal string ExportEncryptedKeyPem(ReadOnlySpan<char> passphrase, PbeParameters parameters)
    {
        using var key = _caWithKey.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The CA has no ECDSA private key.");
        return key.ExportEncryptedPkcs8PrivateKeyPem(passphrase, parameters);
    }

    /// <summary>
    /// Issues a client certificate for <paramref name="deviceId"/> (subject <c>CN=deviceId</c>,
    /// extended key usage client authentication) with a freshly generated key.
    /// The credential id is the certificate's SHA-256 thumbprint in uppercase hex.
    /// </summary>
    public IssuedCredential IssueDeviceCertificate(string deviceId, CredentialRequest? request = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(deviceId);
        request ??= CredentialRequest.X509;
        request.Validate();
        if (request.Kind != CredentialKind.X509Certificate)
            throw new ArgumentException($"The local CA issues X.509 certificates, not {request.Kind} credentials.", nameof(request));

        var now = _time.GetUtcNow();
        var notBefore = now.AddMinutes(-5);
        var notAfter = Min(now + request.Validity, _caWithKey.NotAfter.ToUniversalTime());
        var subject = new X500DistinguishedName($"CN={Escape(deviceId)}");
        // A fresh key per device, in every case; only its public half goes into the certificate.
        byte[] certificate;
        string privateKeyPem;
        if (request.Algorithm == KeyAlgorithm.Rsa2048)
        {
            using var rsa = RSA.Create(2048);
            certificate = SignDeviceCertificate(subject, rsa.ExportSubjectPublicKeyInfo(), RsaDeviceKeyUsage, notBefore, notAfter);
            privateKeyPem = rsa.ExportPkcs8PrivateKeyPem();
        }
        else
        {
            using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            certificate = SignDeviceCertificate(subject, ec.ExportSubjectPublicKeyInfo(), EcDeviceKeyUsage, notBefore, notAfter);
            privateKeyPem = ec.ExportPkcs8PrivateKeyPem();
        }
        var certificatePem = PemEncoding.WriteString("CERTIFICATE", certificate);
        // What X509Certificate2.GetCertHashString(SHA256) returns: uppercase hex of the SHA-256 of the DER.
        var thumbprint = Convert.ToHexString(SHA256.HashData(certificate));

        var info = new CredentialInfo
        {
            Id = thumbprint,
            Kind = CredentialKind.X509Certificate,
            NotBefore = notBefore,
            NotAfter = notAfter,
        };
        return new IssuedCredential(info, certificatePem, privateKeyPem);
    }

    /// <summary>
    /// Issues a TLS server certificate (with private key) for the given host names and addresses,
    /// valid for <paramref name="validity"/> (default 30 days).
    /// </summary>
    public X509Certificate2 IssueServerCertificate(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses, TimeSpan? validity = null)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        ArgumentNullException.ThrowIfNull(addresses);
        var names = dnsNames.ToList();
        var ips = addresses.ToList();
        if (names.Count == 0 && ips.Count == 0)
            throw new ArgumentException("A server certificate needs at least one DNS name or IP address.", nameof(dnsNames));
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest(new X500DistinguishedName($"CN={Escape(names.FirstOrDefault() ?? ips[0].ToString())}"), ec, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names) san.AddDnsName(name);
        foreach (var ip in ips) san.AddIpAddress(ip);
        csr.CertificateExtensions.Add(san.Build());
        var now = _time.GetUtcNow();
        using var cert = Sign(csr, ServerAuth, X509KeyUsageFlags.DigitalSignature, now.AddMinutes(-5),
            Min(now + (validity ?? TimeSpan.FromDays(30)), _caWithKey.NotAfter.ToUniversalTime()));
        using var withKey = cert.CopyWithPrivateKey(ec);
        return TlsCertificates.WithUsableKey(withKey);
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to this CA, is within its validity period now,
    /// and allows client authentication. Revocation is the registry's job (it tracks active thumbprints).
    /// </summary>
    public bool ValidateClientCertificate(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var chain = new X509Chain { ChainPolicy = ClientChainPolicy() };
        return chain.Build(certificate) && EndsAtThisCa(chain);
    }

    /// <summary>
    /// What <see cref="ValidateClientCertificate"/> builds a chain with: this CA as the only trusted root, client
    /// authentication, no revocation lists or downloads, validity judged by this CA's clock now. A new policy each call, so a
    /// TLS handshake can build the same chain (and <see cref="EndsAtThisCa"/> read its result) instead of a second one.
    /// </summary>
    internal X509ChainPolicy ClientChainPolicy() => new()
    {
        TrustMode = X509ChainTrustMode.CustomRootTrust,
        CustomTrustStore = { Certificate },
        RevocationMode = X509RevocationMode.NoCheck,
        DisableCertificateDownloads = true,
        VerificationTime = _time.GetUtcNow().UtcDateTime,
        ApplicationPolicy = { ClientAuth },
    };

    /// <summary>Whether a chain built with <see cref="ClientChainPolicy"/> ends at this CA's own certificate.</summary>
    internal bool EndsAtThisCa(X509Chain chain) =>
        chain.ChainElements.Count > 0 && chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(Certificate.RawDataMemory.Span);

    /// <summary>The common name of a certificate's subject, or <see langword="null"/>.</summary>
    public static string? GetCommonName(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var cn = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return string.IsNullOrEmpty(cn) ? null : cn;
    }

    /// <summary>Describes the CA without its key.</summary>
    public override string ToString() => $"LocalCertificateAuthority {{ Subject = {Certificate.Subject}, NotAfter = {Certificate.NotAfter:O} }}";

    /// <inheritdoc />
    public void Dispose()
    {
        _caWithKey.Dispose();
        Certificate.Dispose();
    }

    private X509Certificate2 Sign(CertificateRequest csr, Oid usage, X509KeyUsageFlags keyUsage, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        csr.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        csr.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage, true));
        csr.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([usage], false));
        csr.CertificateExtensions.Add(_authorityKeyIdentifier);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        // An explicit generator lets an ECDSA CA sign RSA device keys too.
        using var caKey = _caWithKey.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The CA has no ECDSA private key.");
        var signed = csr.Create(_caWithKey.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), notBefore, notAfter, serial);
        return signed;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    // Device ids may hold ':' and '.', which are fine, but ',' '+' '=' '"' would break a distinguished name.
    private static string Escape(string value) =>
        value.IndexOfAny([',', '+', '=', '"', '\\', '<', '>', ';', '#']) < 0 ? value : "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
