using System.Security.Cryptography.X509Certificates;

namespace IoTMastery.Sdk;

/// <summary>Certificate handling every provider's TLS client or server needs, in one place.</summary>
internal static class TlsCertificates
{
    /// <summary>
    /// A copy of <paramref name="withKey"/> whose private key <see cref="System.Net.Security.SslStream"/> can use on every
    /// platform: a key attached from PEM or <c>CopyWithPrivateKey</c> is ephemeral, which Windows' SChannel refuses and
    /// OpenSSL on Linux wants exportable, so it goes through a PKCS#12 round trip. The caller still owns (and disposes)
    /// <paramref name="withKey"/>; the copy is the caller's too.
    /// </summary>
    internal static X509Certificate2 WithUsableKey(X509Certificate2 withKey) =>
        X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
}
