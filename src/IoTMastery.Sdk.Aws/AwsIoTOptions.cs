using System.Security.Cryptography.X509Certificates;
using Amazon.Runtime;

namespace IoTMastery.Sdk.Aws;

/// <summary>
/// Where the service-side MQTT connection goes and as whom. Internal: users set <see cref="AwsIoTOptions.ServiceMqttClientId"/>
/// and <see cref="AwsIoTOptions.ServiceMqttCertificate"/>; the endpoint is the devices' (the account's iot:Data-ATS broker).
/// </summary>
internal sealed record AwsServiceMqttOptions
{
    /// <summary>Broker host; for AWS the iot:Data-ATS endpoint.</summary>
    public required string Host { get; init; }

    /// <summary>8883, or 443 (then ALPN x-amzn-mqtt-ca is offered).</summary>
    public int Port { get; init; } = 8883;

    /// <summary>The client id; AWS policies usually bind it to a thing name.</summary>
    public required string ClientId { get; init; }

    /// <summary>The service's own client certificate with its private key.</summary>
    public required X509Certificate2 ClientCertificate { get; init; }

    /// <summary>Roots the broker certificate must chain to; null = the system store (Amazon Root CA).</summary>
    public X509Certificate2Collection? TrustedRoots { get; init; }
}

/// <summary>Configuration of <see cref="AwsIoTProvider"/>.</summary>
public sealed class AwsIoTOptions
{
    /// <summary>The AWS region, e.g. us-east-1. Null: AWS_REGION / AWS_DEFAULT_REGION.</summary>
    public string? Region { get; set; }

    /// <summary>Control-plane base URL; null = https://iot.{region}.amazonaws.com. Point at moto for tests.</summary>
    public Uri? ControlPlaneEndpoint { get; set; }

    /// <summary>Data-plane base URL; null = https:// + DescribeEndpoint(iot:Data-ATS).</summary>
    public Uri? DataPlaneEndpoint { get; set; }

    /// <summary>Explicit credentials; null = the standard chain (environment, profile, web identity, container, instance metadata).</summary>
    public AWSCredentials? Credentials { get; set; }

    /// <summary>
    /// The HTTP handler, per-attempt timeout (default 30 s), retry bounds (default 3 retries from 200 ms up to 20 s) of the
    /// control- and data-plane calls, and where devices connect: <see cref="IoTTransportOptions.DeviceHost"/> defaults to the
    /// iot:Data-ATS endpoint, <see cref="IoTTransportOptions.DevicePort"/> is 8883 or 443 (with ALPN x-amzn-mqtt-ca), and
    /// <see cref="IoTTransportOptions.TrustedRoots"/> defaults to the system store (Amazon Root CA 1 is there).
    /// </summary>
    public IoTTransportOptions Transport { get; set; } = new();

    /// <summary>
    /// The CA that issues device certificates, and so how the registry obtains them. Not set (the default): the device's key
    /// pair is generated in this process and AWS signs a CSR for it (CreateCertificateFromCsr), so the private key never
    /// travels; the certificate chains to Amazon's CA. Set: this CA issues the certificate and key here, and the certificate is
    /// registered without a CA (RegisterCertificateWithoutCA, which suits multi-account registration; devices must then send
    /// SNI). Either way the credential's <see cref="KeyAlgorithm"/> is the one requested (ECDSA P-256 or RSA-2048). The
    /// provider does not dispose it.
    /// </summary>
    public LocalCertificateAuthority? CertificateAuthority { get; set; }

    /// <summary>The IoT policy attached to every device certificate.</summary>
    public string DevicePolicyName { get; set; } = "iotmastery-device";

    /// <summary>Create <see cref="DevicePolicyName"/> on start when it does not exist.</summary>
    public bool EnsureDevicePolicy { get; set; } = true;

    /// <summary>Things are created with this thing type (allows 50 attributes instead of 3). It must already exist.</summary>
    public string? ThingTypeName { get; set; }

    /// <summary>
    /// The client id of the provider's own MQTT connection, needed for commands (replies), telemetry consumption and presence
    /// events; AWS policies usually bind it to a thing name. Set it with <see cref="ServiceMqttCertificate"/>; without both, those
    /// features are not supported. The connection goes where devices connect (<see cref="Transport"/>'s
    /// <see cref="IoTTransportOptions.DeviceHost"/>, default the iot:Data-ATS endpoint, <see cref="IoTTransportOptions.DevicePort"/>
    /// and <see cref="IoTTransportOptions.TrustedRoots"/>): on AWS both are the account's one broker.
    /// </summary>
    public string? ServiceMqttClientId { get; set; }

    /// <summary>
    /// The service's own client certificate, with its private key, for the connection <see cref="ServiceMqttClientId"/> names.
    /// Set from code; from configuration use <see cref="ServiceMqttCertificateFile"/> instead (one of the two). The provider
    /// does not dispose it.
    /// </summary>
    public X509Certificate2? ServiceMqttCertificate { get; set; }

    /// <summary>
    /// A PEM file with the service's client certificate for the connection <see cref="ServiceMqttClientId"/> names, and its
    /// private key unless <see cref="ServiceMqttPrivateKeyFile"/> is set: <see cref="ServiceMqttCertificate"/> in a form
    /// configuration can bind (<c>IoT:Aws:&lt;name&gt;:ServiceMqttCertificateFile</c>). Set one of the two. Checked to exist by
    /// <see cref="Validate"/>, read when the provider starts (an unreadable file is an <see cref="ArgumentException"/> naming
    /// this option); the provider disposes the certificate it read.
    /// </summary>
    public string? ServiceMqttCertificateFile { get; set; }

    /// <summary>
    /// The PEM file of <see cref="ServiceMqttCertificateFile"/>'s private key when it is a file of its own, as AWS hands them
    /// out (<c>…-certificate.pem.crt</c> and <c>…-private.pem.key</c>). Secret: keep the file owner-readable only.
    /// </summary>
    public string? ServiceMqttPrivateKeyFile { get; set; }

    /// <summary>
    /// The SQLite file that keeps firmware releases and rollouts, so a restarted process resumes its rollouts. Default: a
    /// file under <see cref="Environment.SpecialFolder.LocalApplicationData"/>/IoTMastery/ named after the region and the account's data endpoint (<c>firmware-{region}-{data endpoint}.db</c>), so the
    /// processes of one user managing the same fleet on one machine share it. Created owner-only. Ignored when
    /// <see cref="FirmwareStore"/> is set.
    /// </summary>
    public string? FirmwareStorePath { get; set; }

    /// <summary>
    /// Where firmware releases and rollouts live, instead of <see cref="FirmwareStorePath"/>: for example a database shared by
    /// managing processes on several machines. The provider does not dispose it.
    /// </summary>
    internal IoTMastery.Sdk.Providers.IFirmwareStore? FirmwareStore { get; set; }

    /// <summary>Capacity of the telemetry consumer buffer.</summary>
    public int TelemetryReaderCapacity { get; set; } = 100_000;

    /// <summary>Checks every setting; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        var region = ResolveRegion();
        if (region is null)
            throw new ArgumentException("Region is required (set it, or AWS_REGION / AWS_DEFAULT_REGION).", nameof(Region));
        if (!region.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            throw new ArgumentException($"Region '{region}' must be lowercase letters, digits and '-'.", nameof(Region));
        CheckEndpoint(ControlPlaneEndpoint, nameof(ControlPlaneEndpoint));
        CheckEndpoint(DataPlaneEndpoint, nameof(DataPlaneEndpoint));
        if (Transport is null)
            throw new ArgumentNullException(nameof(Transport), "Transport must not be null; new() keeps every default.");
        Transport.Validate();
        if (string.IsNullOrEmpty(DevicePolicyName) || DevicePolicyName.Length > 128 || !DevicePolicyName.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '=' or ',' or '.' or '@' or '-' or '_'))
            throw new ArgumentException("DevicePolicyName must be 1-128 characters of A-Z a-z 0-9 + = , . @ - _.", nameof(DevicePolicyName));
        if (ThingTypeName is not null && (ThingTypeName.Length is 0 or > 128 || !ThingTypeName.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '_' or '-')))
            throw new ArgumentException("ThingTypeName must be 1-128 characters of A-Z a-z 0-9 : _ -.", nameof(ThingTypeName));
        FirmwareStoreOptions.ValidatePath(FirmwareStorePath, nameof(FirmwareStorePath));
        if (TelemetryReaderCapacity < 1)
            throw new ArgumentOutOfRangeException(nameof(TelemetryReaderCapacity), TelemetryReaderCapacity, "TelemetryReaderCapacity must be positive.");
        if (ServiceMqttCertificate is not null && ServiceMqttCertificateFile is not null)
            throw new ArgumentException("Set ServiceMqttCertificate (from code) or ServiceMqttCertificateFile (from configuration), not both.", nameof(ServiceMqttCertificateFile));
        if (ServiceMqttPrivateKeyFile is not null && ServiceMqttCertificateFile is null)
            throw new ArgumentException("ServiceMqttPrivateKeyFile is the key of ServiceMqttCertificateFile; set that too.", nameof(ServiceMqttPrivateKeyFile));
        CheckFile(ServiceMqttCertificateFile, nameof(ServiceMqttCertificateFile));
        CheckFile(ServiceMqttPrivateKeyFile, nameof(ServiceMqttPrivateKeyFile));
        if ((ServiceMqttClientId is null) != (ServiceMqttCertificate is null && ServiceMqttCertificateFile is null))
            throw new ArgumentException("Set ServiceMqttClientId and ServiceMqttCertificate (or ServiceMqttCertificateFile) together (or neither: no commands, telemetry reading or presence events).",
                ServiceMqttClientId is null ? nameof(ServiceMqttClientId) : nameof(ServiceMqttCertificate));
        if (ServiceMqttClientId is { } clientId && (clientId.Trim().Length == 0 || clientId.Length > 128))
            throw new ArgumentException("ServiceMqttClientId must be 1-128 characters.", nameof(ServiceMqttClientId));
        if (ServiceMqttCertificate is { HasPrivateKey: false })
            throw new ArgumentException("ServiceMqttCertificate must include its private key.", nameof(ServiceMqttCertificate));
    }

    /// <summary>The per-attempt HTTP timeout when <see cref="IoTTransportOptions.RequestTimeout"/> is not set.</summary>
    internal static readonly TimeSpan DefaultRequestTimeout = TimeSpan.FromSeconds(30);


    /// <summary>The service connection's settings, at the devices' endpoint; null without a client id and certificate.</summary>
    /// <param name="deviceHost">Where devices connect, which on AWS is where the service connects too.</param>
    /// <param name="certificate"><see cref="ServiceMqttCertificate"/>, or the one <see cref="LoadServiceMqttCertificateFile"/> read.</param>
    internal AwsServiceMqttOptions? ResolveServiceMqtt(string deviceHost, X509Certificate2? certificate) =>
        ServiceMqttClientId is { } clientId && certificate is not null
            ? new AwsServiceMqttOptions { Host = deviceHost, Port = Transport.DevicePort, ClientId = clientId, ClientCertificate = certificate, TrustedRoots = Transport.TrustedRoots }
            : null;

    /// <summary>
    /// Reads <see cref="ServiceMqttCertificateFile"/> (and <see cref="ServiceMqttPrivateKeyFile"/>); null when it is not set.
    /// The caller owns the certificate.
    /// </summary>
    /// <exception cref="ArgumentException">The files hold no PEM certificate with a matching private key; the message names
    /// the option and the path, never the content.</exception>
    internal X509Certificate2? LoadServiceMqttCertificateFile()
    {
        if (ServiceMqttCertificateFile is not { } file) return null;
        X509Certificate2 pem;
        try
        {
            pem = X509Certificate2.CreateFromPemFile(file, ServiceMqttPrivateKeyFile);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ArgumentException($"ServiceMqttCertificateFile '{file}'{(ServiceMqttPrivateKeyFile is { } key ? $" with ServiceMqttPrivateKeyFile '{key}'" : "")} "
                + "could not be read as a PEM certificate and its private key (" + ex.GetType().Name + ").", nameof(ServiceMqttCertificateFile));
        }
        using (pem) return TlsCertificates.WithUsableKey(pem);
    }

    internal string? ResolveRegion()
    {
        if (!string.IsNullOrEmpty(Region)) return Region;
        var fromEnv = Environment.GetEnvironmentVariable("AWS_REGION");
        return string.IsNullOrEmpty(fromEnv) ? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") is { Length: > 0 } d ? d : null : fromEnv;
    }

    private static void CheckFile(string? path, string name)
    {
        if (path is null) return;
        if (path.Trim().Length == 0)
            throw new ArgumentException($"{name} must be a file path, or unset.", name);
        if (!File.Exists(path))
            throw new ArgumentException($"{name} names '{path}', which does not exist.", name);
    }

    private static void CheckEndpoint(Uri? endpoint, string name)
    {
        if (endpoint is null) return;
        if (!endpoint.IsAbsoluteUri || endpoint.Scheme is not ("https" or "http"))
            throw new ArgumentException($"{name} must be an absolute http(s) URL.", name);
        if (endpoint.AbsolutePath != "/")
            throw new ArgumentException($"{name} must not have a path (restJson1 routes start at '/').", name);
    }
}
