using System.Security.Cryptography;

namespace IoTMastery.Sdk;

/// <summary>A firmware image that can be rolled out: its version, where to get it and how to check it.</summary>
public sealed record FirmwareRelease
{
    /// <summary>The version, for example <c>1.1.0</c>: 1-64 characters of <c>A-Z a-z 0-9 . _ + -</c>.</summary>
    public required string Version { get; init; }

    /// <summary>Where devices download the image (<c>https</c>, <c>http</c> or <c>file</c>).</summary>
    public required Uri Uri { get; init; }

    /// <summary>The image's SHA-256 digest as 64 lowercase hex characters.</summary>
    public required string Sha256 { get; init; }

    /// <summary>The image size in bytes.</summary>
    public required long SizeBytes { get; init; }

    /// <summary>When the release was created in the registry.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>
    /// The fleet operator's signature over the release's <see cref="FirmwareManifest"/>: base64 of an
    /// ECDSA P-256 / SHA-256 signature in DER form (see <see cref="Sign"/>).
    /// <see langword="null"/> for an unsigned release; agents configured with an operator key refuse those.
    /// </summary>
    public string? Signature { get; init; }

    /// <summary>The channel of releases that are not otherwise labelled.</summary>
    public const string StableChannel = "stable";

    /// <summary>
    /// The release channel, for example <c>stable</c> or <c>beta</c>: 1-32 characters of <c>a-z 0-9 -</c>, starting with a
    /// letter. Default <see cref="StableChannel"/>. Reported per device in the compliance report.
    /// </summary>
    public string Channel { get; init; } = StableChannel;

    /// <summary>
    /// The version as a <see cref="FirmwareVersion"/>; <see langword="false"/> when it is not a semantic version (allowed, but
    /// such a release cannot be used with ordering features).
    /// </summary>
    internal bool TryGetSemanticVersion([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out FirmwareVersion? version) =>
        FirmwareVersion.TryParse(Version, out version);

    /// <summary>Whether <paramref name="channel"/> follows the <see cref="Channel"/> rule.</summary>
    internal static bool IsValidChannel(string? channel) =>
        !string.IsNullOrEmpty(channel) && channel.Length <= 32 && char.IsAsciiLetterLower(channel[0]) &&
        channel.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    /// <summary>
    /// Returns a copy of this release whose <see cref="Signature"/> is the fleet operator's signature of its manifest:
    /// ECDSA P-256 with SHA-256 over the canonical manifest bytes (format tag, <see cref="Version"/>, <see cref="Sha256"/>
    /// and <see cref="SizeBytes"/>; not the URI, so mirrors stay valid), base64 of its DER (RFC 3279 <c>Ecdsa-Sig-Value</c>)
    /// encoding. DER is what <c>openssl dgst -sha256 -sign</c> and cloud KMS services produce, so a release can also be signed
    /// offline: <c>openssl dgst -sha256 -sign operator-key.pem manifest.json | base64 -w0</c>.
    /// </summary>
    /// <remarks>
    /// Create the operator key with <c>ECDsa.Create(ECCurve.NamedCurves.nistP256)</c>, store it with
    /// <c>ExportPkcs8PrivateKeyPem()</c> (or <c>ExportEncryptedPkcs8PrivateKeyPem</c>) and load it again with
    /// <c>ECDsa.ImportFromPem</c>. Keep it with the operator, never on devices: devices get
    /// <c>ExportSubjectPublicKeyInfoPem()</c> as <see cref="FirmwareUpdateAgentOptions.TrustedOperatorKeyPem"/>.
    /// </remarks>
    /// <param name="privateKey">The operator's ECDSA P-256 private key; it is only used, not kept or disposed.</param>
    /// <returns>The signed copy; this release is unchanged.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="privateKey"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="privateKey"/> is not on the NIST P-256 curve or holds only a public key, or the release breaks one of
    /// its rules (<see cref="Validate"/>). The message never echoes key material.
    /// </exception>
    public FirmwareRelease Sign(ECDsa privateKey)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        var manifest = FirmwareManifest.GetCanonicalBytes(this);
        // Checked here rather than left to the device: a P-384 signature would only fail on every device at install time.
        FirmwareSignatureVerifier.EnsureP256(privateKey, nameof(privateKey));
        byte[] signature;
        try
        {
            signature = privateKey.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException ex)
        {
            // The usual cause is the public half loaded where the private one belongs.
            throw new ArgumentException("The operator key cannot sign: it must be an ECDSA P-256 private key, not only its public key.", nameof(privateKey), ex);
        }
        return this with { Signature = Convert.ToBase64String(signature) };
    }

    /// <summary>Checks every field; throws <see cref="ArgumentException"/> naming the rule.</summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Version) || Version.Length > 64 ||
            !Version.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '+' or '-'))
            throw new ArgumentException($"Firmware version '{ErrorText.Escape(Version)}' must be 1-64 characters of A-Z a-z 0-9 . _ + -.", nameof(Version));
        ArgumentNullException.ThrowIfNull(Uri);
        if (!Uri.IsAbsoluteUri || Uri.Scheme is not ("https" or "http" or "file"))
            throw new ArgumentException($"Firmware URI '{ErrorText.Escape(Uri.ToString(), 256)}' must be an absolute https, http or file URI.", nameof(Uri));
        if (Sha256 is null || Sha256.Length != 64 || !Sha256.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException("Sha256 must be 64 lowercase hex characters.", nameof(Sha256));
        if (SizeBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(SizeBytes), SizeBytes, "SizeBytes must be positive.");
        if (!IsValidChannel(Channel))
            throw new ArgumentException($"Channel '{ErrorText.Escape(Channel ?? "", 64)}' must be 1-32 characters of a-z 0-9 -, starting with a letter.", nameof(Channel));
        if (Signature is not null && !FirmwareManifest.IsWellFormedSignature(Signature))
            throw new ArgumentException($"Signature must be 1-{FirmwareManifest.MaxSignatureLength} characters of standard base64 when present.", nameof(Signature));
    }
}
