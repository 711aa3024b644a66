using System.Security.Cryptography.X509Certificates;
using IoTMastery.Sdk;
using IoTMastery.Sdk.Aws;
using Microsoft.Extensions.Configuration;

namespace WorkerService;

/// <summary>What the sample knows about its configured providers before the host starts, for the worker to report.</summary>
public sealed class SampleSetup
{
    /// <summary>The names of the providers added to the host.</summary>
    public List<string> Providers { get; } = [];

    /// <summary>One sentence per configured provider that was left out, saying why and how to turn it on.</summary>
    public List<string> Skipped { get; } = [];
}

/// <summary>
/// The AWS options configuration cannot express (they are objects, not strings), read by the sample from its own
/// section <c>Worker:Aws:&lt;name&gt;</c> so they can come from the environment too.
/// </summary>
public static class AwsSampleSettings
{
    /// <summary>
    /// <c>TrustedRootsPemFile</c>: a PEM file of the roots the device-side MQTT server must chain to, for a gateway that is
    /// not AWS (a proxy or a test double); unset, devices trust the system store, where Amazon Root CA 1 is.
    /// <c>CertificateAuthorityPemFile</c> and <c>CertificateAuthorityKeyPemFile</c>: your CA's certificate and private key;
    /// set, that CA issues the device certificates and they are registered without a CA
    /// (<see cref="AwsIoTOptions.CertificateAuthority"/>); unset, AWS signs a CSR for a key made in this process.
    /// </summary>
    public static void Apply(AwsIoTOptions options, IConfiguration extras)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(extras);
        if (extras["TrustedRootsPemFile"] is { Length: > 0 } file)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(Existing(file, "TrustedRootsPemFile"));
            options.Transport.TrustedRoots = roots;
        }
        var caFile = extras["CertificateAuthorityPemFile"] is { Length: > 0 } c ? c : null;
        var caKeyFile = extras["CertificateAuthorityKeyPemFile"] is { Length: > 0 } k ? k : null;
        if ((caFile is null) != (caKeyFile is null))
            throw new ArgumentException("Set Worker:Aws:...:CertificateAuthorityPemFile and CertificateAuthorityKeyPemFile together (the CA's certificate and its private key), or neither.",
                caFile is null ? "CertificateAuthorityPemFile" : "CertificateAuthorityKeyPemFile");
        if (caFile is not null)
            // Lives as long as the process: the provider does not dispose it, and the host does not end before the provider.
            options.CertificateAuthority = LocalCertificateAuthority.FromPem(
                File.ReadAllText(Existing(caFile, "CertificateAuthorityPemFile")), File.ReadAllText(Existing(caKeyFile!, "CertificateAuthorityKeyPemFile")));
    }

    private static string Existing(string file, string key) =>
        File.Exists(file) ? file : throw new FileNotFoundException($"Worker:Aws:...:{key} names '{file}', which does not exist.", file);
}
