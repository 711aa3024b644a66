using System.Security.Cryptography.X509Certificates;
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
    /// </summary>
    public static void Apply(AwsIoTOptions options, IConfiguration extras)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(extras);
        if (extras["TrustedRootsPemFile"] is { Length: > 0 } file)
        {
            if (!File.Exists(file))
                throw new FileNotFoundException($"Worker:Aws:...:TrustedRootsPemFile names '{file}', which does not exist.", file);
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(file);
            options.Transport.TrustedRoots = roots;
        }
    }
}
