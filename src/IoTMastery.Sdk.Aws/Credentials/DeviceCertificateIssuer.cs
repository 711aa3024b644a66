using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws;

/// <summary>A certificate registered with AWS: its id, ARN and the credential handed to the device.</summary>
internal sealed record AwsDeviceCertificate(string CertificateId, string CertificateArn, IssuedCredential Credential);

/// <summary>
/// Obtains device certificates: with a CA, issued by it and registered without a CA; without one, from a CSR AWS signs
/// for a key generated here. Minting calls are never retried blindly.
/// </summary>
internal sealed class DeviceCertificateIssuer(IotControlPlane iot, LocalCertificateAuthority? ca)
{
    /// <summary>Checks a credential request before any network call.</summary>
    public void Validate(CredentialRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Kind != CredentialKind.X509Certificate)
            throw new ArgumentException($"AWS IoT Core authenticates devices with X.509 certificates, not {request.Kind} credentials.", nameof(request));
        if (!Enum.IsDefined(request.Algorithm))
            throw new ArgumentOutOfRangeException(nameof(request), request.Algorithm, "Unknown key algorithm.");
        if (request.Validity <= TimeSpan.Zero || request.Validity > TimeSpan.FromDays(3650))
            throw new ArgumentOutOfRangeException(nameof(request), request.Validity, "Validity must be positive and at most 10 years.");
    }

    /// <summary>Creates (or registers) one ACTIVE certificate for the thing.</summary>
    public async Task<AwsDeviceCertificate> IssueAsync(string thingName, CredentialRequest request, CancellationToken ct)
    {
        Validate(request);
        if (ca is not null)
        {
            var issued = ca.IssueDeviceCertificate(thingName, request);
            var registered = await iot.RegisterCertificateWithoutCaAsync(issued.CertificatePem!, "ACTIVE", ct).ConfigureAwait(false);
            registered["certificatePem"] = issued.CertificatePem;
            return Build(registered, issued.PrivateKeyPem!);
        }
        var (csrPem, keyPem) = CreateCsr(thingName, request.Algorithm);
        var created = await iot.CreateCertificateFromCsrAsync(csrPem, setAsActive: true, ct).ConfigureAwait(false);
        return await BuildMintedAsync(created, keyPem).ConfigureAwait(false);
    }

    /// <summary>
    /// Builds the credential from a certificate AWS has just minted ACTIVE. If the answer cannot be used (no or an
    /// unparsable certificatePem) nobody could ever connect with that certificate, so it is
    /// deactivated and deleted rather than left active and orphaned, and the caller gets a typed error.
    /// </summary>
    private async Task<AwsDeviceCertificate> BuildMintedAsync(JsonObject created, string privateKeyPem)
    {
        try
        {
            return Build(created, privateKeyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or InvalidOperationException or IoTException)
        {
            // The message names the certificate, never its key or PEM.
            var reason = ex switch
            {
                IoTException => ex.Message,
                InvalidOperationException => "a member of the answer has the wrong JSON type.", // from the string casts
                _ => "its certificatePem could not be read as an X.509 certificate.",
            };
            if (created["certificateId"] is not JsonValue idValue || !idValue.TryGetValue(out string? id) || id is not { Length: > 0 })
                throw new IoTException(IoTErrorKind.Unknown, $"AWS IoT minted a certificate but its answer is unusable and names no certificateId, so it could not be removed: {reason}",
                    AwsIoTProvider.ProviderName, "MalformedResponse", false, innerException: ex);
            string outcome;
            try
            {
                // Not cancellable: the certificate must not outlive a failed issue because the caller gave up.
                await iot.UpdateCertificateAsync(id, "INACTIVE", CancellationToken.None).ConfigureAwait(false);
                await iot.DeleteCertificateAsync(id, forceDelete: false, CancellationToken.None).ConfigureAwait(false);
                outcome = "It was deactivated and deleted.";
            }
            catch (IoTException cleanup)
            {
                outcome = $"Removing it failed ({cleanup.ErrorCode}): deactivate and delete it by hand.";
            }
            throw new IoTException(IoTErrorKind.Unknown, $"AWS IoT minted certificate {id}, but its answer is unusable: {reason} {outcome}", AwsIoTProvider.ProviderName, "MalformedResponse", false, innerException: ex);
        }
    }

    /// <summary>A PKCS#10 request with CN = thing name and a fresh key that never leaves this process.</summary>
    internal static (string CsrPem, string PrivateKeyPem) CreateCsr(string thingName, KeyAlgorithm algorithm)
    {
        var subject = new X500DistinguishedName($"CN={thingName}");
        if (algorithm == KeyAlgorithm.Rsa2048)
        {
            using var rsa = RSA.Create(2048);
            var request = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            return (request.CreateSigningRequestPem(), rsa.ExportPkcs8PrivateKeyPem());
        }
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var ecRequest = new CertificateRequest(subject, ec, HashAlgorithmName.SHA256);
        return (ecRequest.CreateSigningRequestPem(), ec.ExportPkcs8PrivateKeyPem());
    }

    private static AwsDeviceCertificate Build(JsonObject response, string privateKeyPem)
    {
        var id = (string?)response["certificateId"] ?? throw Malformed("certificateId");
        var arn = (string?)response["certificateArn"] ?? throw Malformed("certificateArn");
        var pem = (string?)response["certificatePem"] ?? throw Malformed("certificatePem");
        using var cert = X509Certificate2.CreateFromPem(pem);
        var info = new CredentialInfo
        {
            Id = id,
            Kind = CredentialKind.X509Certificate,
            NotBefore = cert.NotBefore.ToUniversalTime(),
            NotAfter = cert.NotAfter.ToUniversalTime(),
        };
        return new AwsDeviceCertificate(id, arn, new IssuedCredential(info, pem, privateKeyPem));
    }

    private static IoTException Malformed(string member) =>
        new(IoTErrorKind.Unknown, $"AWS IoT returned a certificate response without '{member}'.", AwsIoTProvider.ProviderName, "MalformedResponse");
}
