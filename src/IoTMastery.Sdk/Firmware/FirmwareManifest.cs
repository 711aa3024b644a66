using System.Globalization;
using System.Text;

namespace IoTMastery.Sdk;

/// <summary>
/// The canonical manifest of a firmware release: the exact bytes the fleet operator signs and the
/// device agent verifies. It is the UTF-8 encoding (no byte-order mark, no whitespace, no trailing
/// newline) of this JSON object, keys in this order:
/// <code>{"format":"iotmastery.firmware-manifest.v1","version":"1.1.0","sha256":"&lt;64 lowercase hex&gt;","size":65536}</code>
/// <c>version</c> is <see cref="FirmwareRelease.Version"/> verbatim (its alphabet needs no JSON escaping),
/// <c>sha256</c> is <see cref="FirmwareRelease.Sha256"/> and <c>size</c> is <see cref="FirmwareRelease.SizeBytes"/>
/// as a decimal integer without sign, exponent or leading zeros. The download URI is deliberately not
/// signed, so a release may be mirrored; the digest and size pin the image itself.
/// The <c>format</c> tag separates these signatures from anything else the same key might sign.
/// </summary>
internal static class FirmwareManifest
{
    /// <summary>The value of the manifest's <c>format</c> field.</summary>
    public const string Format = "iotmastery.firmware-manifest.v1";

    /// <summary>The longest accepted <see cref="FirmwareRelease.Signature"/>, in base64 characters.</summary>
    public const int MaxSignatureLength = 1024;

    /// <summary>The canonical manifest bytes of <paramref name="release"/>.</summary>
    /// <exception cref="ArgumentException">The release breaks a <see cref="FirmwareRelease"/> rule.</exception>
    public static byte[] GetCanonicalBytes(FirmwareRelease release)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        return Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $$"""{"format":"{{Format}}","version":"{{release.Version}}","sha256":"{{release.Sha256}}","size":{{release.SizeBytes}}}"""));
    }

    /// <summary>Whether <paramref name="signature"/> is non-empty standard base64 of at most <see cref="MaxSignatureLength"/> characters.</summary>
    public static bool IsWellFormedSignature(string? signature)
    {
        if (string.IsNullOrEmpty(signature) || signature.Length > MaxSignatureLength)
            return false;
        Span<byte> buffer = stackalloc byte[MaxSignatureLength];
        return Convert.TryFromBase64String(signature, buffer, out var written) && written > 0;
    }
}
