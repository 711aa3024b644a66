using System.Text.Json;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk;

/// <summary>The stage of a device's firmware update, as it reports it.</summary>
internal enum FirmwareUpdateStatus
{
    /// <summary>The image is being downloaded.</summary>
    Downloading,

    /// <summary>The image was verified and is being installed.</summary>
    Installing,

    /// <summary>The target version is installed, running and healthy.</summary>
    Succeeded,

    /// <summary>Download, verification, installation or the health check failed; see the error.</summary>
    Failed,
}

/// <summary>The firmware a device is asked to run: the <c>firmware</c> object of its desired state.</summary>
/// <param name="Release">The release to install.</param>
/// <param name="RolloutId">The rollout that asked for it, echoed in reports; <see langword="null"/> when set by hand.</param>
internal sealed record DesiredFirmware(FirmwareRelease Release, string? RolloutId);

/// <summary>What a device says about its firmware: the <c>firmware</c> object of its reported state.</summary>
internal sealed record ReportedFirmware
{
    /// <summary>The version running now.</summary>
    public required string Version { get; init; }

    /// <summary>The version being installed or last attempted, if any.</summary>
    public string? TargetVersion { get; init; }

    /// <summary>The update stage; <see langword="null"/> when the device only reports its running version.</summary>
    public FirmwareUpdateStatus? Status { get; init; }

    /// <summary>The rollout the update belongs to, copied from the desired state.</summary>
    public string? RolloutId { get; init; }

    /// <summary>Why the update failed, when it did.</summary>
    public string? Error { get; init; }
}

/// <summary>
/// The provider-neutral firmware contract carried in desired and reported state, so the same device
/// agent and rollout logic work on every provider.
/// Desired: <c>"firmware": {"version","uri","sha256","size","rolloutId","signature"}</c>; <c>signature</c>
/// (base64, see <see cref="FirmwareRelease.Sign"/>) is JSON <c>null</c> for an unsigned release.
/// Reported: <c>"firmware": {"version" (running),"targetVersion","status","rolloutId","error"}</c>
/// with status one of <c>downloading</c>, <c>installing</c>, <c>succeeded</c>, <c>failed</c>.
/// </summary>
internal static class FirmwareStateContract
{
    /// <summary>The property holding the firmware object in desired and reported state.</summary>
    public const string PropertyName = "firmware";

    /// <summary>Desired: the version to run. Reported: the version running.</summary>
    public const string VersionProperty = "version";

    /// <summary>Desired: where to download the image.</summary>
    public const string UriProperty = "uri";

    /// <summary>Desired: the image's SHA-256 in lowercase hex.</summary>
    public const string Sha256Property = "sha256";

    /// <summary>Desired: the image size in bytes.</summary>
    public const string SizeProperty = "size";

    /// <summary>
    /// Desired: the operator's signature over the release manifest (base64 DER ECDSA P-256); JSON <c>null</c>
    /// for an unsigned release, so that merged as a patch it clears the signature of the previous release.
    /// </summary>
    public const string SignatureProperty = "signature";

    /// <summary>Both: the rollout the update belongs to.</summary>
    public const string RolloutIdProperty = "rolloutId";

    /// <summary>Reported: the version being installed or last attempted.</summary>
    public const string TargetVersionProperty = "targetVersion";

    /// <summary>Reported: the update stage.</summary>
    public const string StatusProperty = "status";

    /// <summary>Reported: the failure reason.</summary>
    public const string ErrorProperty = "error";

    /// <summary>Reported status value for <see cref="FirmwareUpdateStatus.Downloading"/>.</summary>
    public const string StatusDownloading = "downloading";

    /// <summary>Reported status value for <see cref="FirmwareUpdateStatus.Installing"/>.</summary>
    public const string StatusInstalling = "installing";

    /// <summary>Reported status value for <see cref="FirmwareUpdateStatus.Succeeded"/>.</summary>
    public const string StatusSucceeded = "succeeded";

    /// <summary>Reported status value for <see cref="FirmwareUpdateStatus.Failed"/>.</summary>
    public const string StatusFailed = "failed";

    /// <summary>Builds the desired <c>firmware</c> object for a release; absent optional fields are JSON <c>null</c> so a merge patch clears stale values.</summary>
    /// <exception cref="ArgumentException">The release breaks a <see cref="FirmwareRelease"/> rule.</exception>
    public static JsonObject BuildDesired(FirmwareRelease release, string? rolloutId)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        return new JsonObject
        {
            [VersionProperty] = release.Version,
            [UriProperty] = release.Uri.AbsoluteUri,
            [Sha256Property] = release.Sha256,
            [SizeProperty] = release.SizeBytes,
            [RolloutIdProperty] = rolloutId,
            // Null when unsigned: merged as a patch it must clear the previous release's signature.
            [SignatureProperty] = release.Signature,
        };
    }

    /// <summary>Parses a desired <c>firmware</c> object.</summary>
    /// <exception cref="FormatException">A field is missing, of the wrong type or breaks a release rule.</exception>
    public static DesiredFirmware ParseDesired(JsonNode? node)
    {
        try
        {
            return ParseDesiredCore(node);
        }
        // JsonNode.Parse is lazy: duplicate keys, invalid UTF-8 and lone surrogates surface only when a property is read.
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            throw new FormatException("The desired firmware is not well-formed JSON: " + ex.Message, ex);
        }
    }

    private static DesiredFirmware ParseDesiredCore(JsonNode? node)
    {
        if (node is not JsonObject obj)
            throw new FormatException("The desired firmware must be a JSON object.");
        var release = new FirmwareRelease
        {
            Version = RequiredString(obj, VersionProperty),
            Uri = Uri.TryCreate(RequiredString(obj, UriProperty), UriKind.Absolute, out var uri)
                ? uri : throw new FormatException("The desired firmware 'uri' is not an absolute URI."),
            Sha256 = RequiredString(obj, Sha256Property),
            SizeBytes = RequiredInt64(obj, SizeProperty),
            Signature = OptionalString(obj, SignatureProperty),
        };
        try
        {
            release.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new FormatException("The desired firmware is invalid: " + ex.Message, ex);
        }
        return new DesiredFirmware(release, OptionalString(obj, RolloutIdProperty));
    }

    /// <summary>
    /// Builds the reported <c>firmware</c> object. Absent optional fields are written as JSON
    /// <c>null</c> so that, merged as a patch, they clear stale values (an old error, for example).
    /// </summary>
    public static JsonObject BuildReported(ReportedFirmware report)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(report.Version);
        return new JsonObject
        {
            [VersionProperty] = report.Version,
            [TargetVersionProperty] = report.TargetVersion,
            [StatusProperty] = report.Status is { } status ? ToWire(status) : null,
            [RolloutIdProperty] = report.RolloutId,
            [ErrorProperty] = report.Error,
        };
    }

    /// <summary>Parses a reported <c>firmware</c> object.</summary>
    /// <exception cref="FormatException">A field is missing, of the wrong type, or the status is unknown.</exception>
    public static ReportedFirmware ParseReported(JsonNode? node)
    {
        try
        {
            return ParseReportedCore(node);
        }
        // JsonNode.Parse is lazy: duplicate keys, invalid UTF-8 and lone surrogates surface only when a property is read.
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            throw new FormatException("The reported firmware is not well-formed JSON: " + ex.Message, ex);
        }
    }

    private static ReportedFirmware ParseReportedCore(JsonNode? node)
    {
        if (node is not JsonObject obj)
            throw new FormatException("The reported firmware must be a JSON object.");
        var statusText = OptionalString(obj, StatusProperty);
        return new ReportedFirmware
        {
            Version = RequiredString(obj, VersionProperty),
            TargetVersion = OptionalString(obj, TargetVersionProperty),
            Status = statusText is null ? null : FromWire(statusText),
            RolloutId = OptionalString(obj, RolloutIdProperty),
            Error = OptionalString(obj, ErrorProperty),
        };
    }

    /// <summary>
    /// Reads the reported firmware from a whole reported document; <see langword="null"/> when the
    /// device has not reported any or reported something malformed.
    /// </summary>
    public static ReportedFirmware? TryGetReported(JsonObject? reportedDocument)
    {
        try
        {
            if (reportedDocument is null || !reportedDocument.TryGetPropertyValue(PropertyName, out var node) || node is null)
                return null;
            return ParseReported(node);
        }
        // A duplicate key in the document itself surfaces as ArgumentException on the first lookup.
        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The wire name of a status.</summary>
    public static string ToWire(FirmwareUpdateStatus status) => status switch
    {
        FirmwareUpdateStatus.Downloading => StatusDownloading,
        FirmwareUpdateStatus.Installing => StatusInstalling,
        FirmwareUpdateStatus.Succeeded => StatusSucceeded,
        FirmwareUpdateStatus.Failed => StatusFailed,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "Unknown firmware update status."),
    };

    /// <summary>The status for a wire name.</summary>
    /// <exception cref="FormatException">The name is not one of the four statuses.</exception>
    public static FirmwareUpdateStatus FromWire(string status) => status switch
    {
        StatusDownloading => FirmwareUpdateStatus.Downloading,
        StatusInstalling => FirmwareUpdateStatus.Installing,
        StatusSucceeded => FirmwareUpdateStatus.Succeeded,
        StatusFailed => FirmwareUpdateStatus.Failed,
        _ => throw new FormatException($"Unknown firmware status '{ErrorText.Escape(status)}'; expected downloading, installing, succeeded or failed."),
    };

    private static string RequiredString(JsonObject obj, string name) =>
        OptionalString(obj, name) is { Length: > 0 } value ? value : throw new FormatException($"The firmware object needs a non-empty string '{name}'.");

    private static string? OptionalString(JsonObject obj, string name)
    {
        if (!obj.TryGetPropertyValue(name, out var node) || node is null)
            return null;
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.String)
            return value.GetValue<string>();
        throw new FormatException($"The firmware property '{name}' must be a string.");
    }

    private static long RequiredInt64(JsonObject obj, string name)
    {
        if (obj.TryGetPropertyValue(name, out var node) && node is JsonValue value && value.GetValueKind() == JsonValueKind.Number)
        {
            if (value.TryGetValue<long>(out var number))
                return number;
            if (value.TryGetValue<JsonElement>(out var element) && element.TryGetInt64(out number))
                return number;
            // Values built in memory keep their CLR type (int, double …); accept whole numbers of any.
            if (value.TryGetValue<int>(out var small))
                return small;
        }
        throw new FormatException($"The firmware object needs an integer '{name}'.");
    }
}
