namespace IoTMastery.Sdk;

/// <summary>Settings of a <see cref="FirmwareUpdateAgent"/>: the trusted operator key and the download bounds.</summary>
public sealed record FirmwareUpdateAgentOptions
{
    /// <summary>
    /// The fleet operator's ECDSA P-256 public key (SubjectPublicKeyInfo PEM: the operator key's
    /// <c>ExportSubjectPublicKeyInfoPem()</c>, the key that signs with <see cref="FirmwareRelease.Sign"/>).
    /// When set, the agent installs only releases whose <see cref="FirmwareRelease.Signature"/> verifies against it
    /// (see <see cref="FirmwareManifest"/>) and whose image then matches the signed size and SHA-256.
    /// <b>When <see langword="null"/> no signature is required: for development only</b> — anyone who can set
    /// the device's desired state can then make it install any image. Default <see langword="null"/>.
    /// </summary>
    public string? TrustedOperatorKeyPem { get; init; }

    /// <summary>
    /// Opens a readable stream over the image at the given URI starting at the given byte offset (0 for a fresh download), so an
    /// interrupted download resumes where it stopped; the agent disposes the stream. A source that cannot start mid-image
    /// reopens it and skips the offset; the agent checks the whole image's SHA-256 either way. Default
    /// <see cref="FirmwareDownloaders.CreateResumable"/> (file, http with Range, https with Range).
    /// </summary>
    public FirmwareDownloader? Downloader { get; init; }

    /// <summary>How many times an interrupted download is resumed before the update is reported failed. Default 3 (so at most 4 attempts); 0-100.</summary>
    public int MaxDownloadResumes { get; init; } = 3;

    /// <summary>The delay before the first resume; it doubles for each further one. Default 1 s.</summary>
    public TimeSpan ResumeDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest one download may take, resumes and delays included, before it is reported failed. Default 10 minutes.</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The clock for resume delays and the download timeout; the system clock when <see langword="null"/>.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (TrustedOperatorKeyPem is not null)
            FirmwareSignatureVerifier.FromPublicKeyPem(TrustedOperatorKeyPem).Dispose();
        if (MaxDownloadResumes is < 0 or > 100)
            throw new ArgumentOutOfRangeException(nameof(MaxDownloadResumes), MaxDownloadResumes, "MaxDownloadResumes must be between 0 and 100.");
        if (ResumeDelay < TimeSpan.Zero || ResumeDelay > TimeSpan.FromMinutes(10))
            throw new ArgumentOutOfRangeException(nameof(ResumeDelay), ResumeDelay, "ResumeDelay must be between 0 and 10 minutes.");
        if (DownloadTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DownloadTimeout), DownloadTimeout, "DownloadTimeout must be positive.");
    }

    /// <summary>Describes the options; the key is public, but shown only by whether it is set.</summary>
    public override string ToString() =>
        $"FirmwareUpdateAgentOptions {{ SignatureRequired = {TrustedOperatorKeyPem is not null}, MaxDownloadResumes = {MaxDownloadResumes}, ResumeDelay = {ResumeDelay}, DownloadTimeout = {DownloadTimeout} }}";
}
