using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk;

// Device certificates are encoded here rather than by CertificateRequest.Create, which ends by loading the certificate it
// just signed into an X509Certificate2. On Linux that load goes through OpenSSL 3's decoders and cost ~190 µs of the
// ~330 µs a certificate took (key generation and the CA's signature are the rest), while issuing needs only the bytes:
// the PEM and the SHA-256 thumbprint. The encoding is the one CertificateRequest.Create writes for the same inputs (RFC 5280
// TBSCertificate, ecdsa-with-SHA256), which LocalCertificateAuthorityTests checks byte for byte; the extensions themselves
// are still encoded by the X509Extension classes.
public sealed partial class LocalCertificateAuthority
{
    // ecdsa-with-SHA256 (RFC 5758 3.2): the AlgorithmIdentifier has no parameters.
    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";

    private static readonly X509Extension DeviceBasicConstraints = new X509BasicConstraintsExtension(false, false, 0, true);
    private static readonly X509Extension ClientAuthUsage = new X509EnhancedKeyUsageExtension([ClientAuth], false);
    private static readonly X509Extension EcDeviceKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true);
    private static readonly X509Extension RsaDeviceKeyUsage = new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true);

    /// <summary>
    /// A client certificate for <paramref name="subject"/> and the key whose SubjectPublicKeyInfo is <paramref name="subjectPublicKeyInfo"/>,
    /// signed by the CA: the DER bytes, built without loading them back.
    /// </summary>
    private byte[] SignDeviceCertificate(X500DistinguishedName subject, byte[] subjectPublicKeyInfo, X509Extension keyUsage,
        DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                writer.WriteInteger(2); // v3
            writer.WriteInteger(NewSerialNumber());
            WriteAlgorithm(writer);
            writer.WriteEncodedValue(_issuerName);
            using (writer.PushSequence())
            {
                WriteTime(writer, notBefore);
                WriteTime(writer, notAfter);
            }
            writer.WriteEncodedValue(subject.RawData);
            writer.WriteEncodedValue(subjectPublicKeyInfo);
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3)))
            using (writer.PushSequence())
            {
                WriteExtension(writer, DeviceBasicConstraints);
                WriteExtension(writer, keyUsage);
                WriteExtension(writer, ClientAuthUsage);
                WriteExtension(writer, _authorityKeyIdentifier);
            }
        }
        var toBeSigned = writer.Encode();
        byte[] signature;
        using (var caKey = _caWithKey.GetECDsaPrivateKey() ?? throw new InvalidOperationException("The CA has no ECDSA private key."))
            signature = caKey.SignData(toBeSigned, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

        writer.Reset();
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(toBeSigned);
            WriteAlgorithm(writer);
            writer.WriteBitString(signature);
        }
        return writer.Encode();
    }

    /// <summary>
    /// 16 random bytes read as a positive integer with its top bit clear and the next one set, so the DER INTEGER is always
    /// exactly 16 bytes (no sign padding, never a non-minimal leading zero): 126 random bits, within RFC 5280's 20 octets.
    /// </summary>
    private static byte[] NewSerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x3F) | 0x40);
        return serial;
    }

    private static void WriteAlgorithm(AsnWriter writer)
    {
        using (writer.PushSequence())
            writer.WriteObjectIdentifier(EcdsaWithSha256);
    }

    // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both in whole seconds.
    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        var utc = time.ToUniversalTime();
        var seconds = new DateTimeOffset(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        if (seconds.Year is >= 1950 and < 2050)
            writer.WriteUtcTime(seconds);
        else
            writer.WriteGeneralizedTime(seconds, omitFractionalSeconds: true);
    }

    private static void WriteExtension(AsnWriter writer, X509Extension extension)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(extension.Oid!.Value!);
            if (extension.Critical) writer.WriteBoolean(true);
            writer.WriteOctetString(extension.RawData);
        }
    }
}
