namespace IoTMastery.Sdk.Azure;

/// <summary>
/// The two percent-encodings the official Azure IoT SDKs put on the wire, so ids with reserved characters
/// (<c>- . % _ * ? ! ( ) , : = @ $ '</c>) produce the same bytes and signatures as theirs.
/// </summary>
internal static class UriComponent
{
    /// <summary>
    /// JavaScript's <c>encodeURIComponent</c>: everything but <c>A-Z a-z 0-9 - _ . ! ~ * ' ( )</c> is escaped with
    /// uppercase hex. azure-iothub builds REST paths (<c>/devices/{id}</c>, <c>/twins/{id}</c>) with it.
    /// </summary>
    public static string Encode(string value) =>
        // EscapeDataString leaves only RFC 3986's unreserved A-Z a-z 0-9 - _ . ~; encodeURIComponent also leaves ! * ' ( ).
        // '%' itself becomes %25, so each of these escapes can only have come from the character it stands for.
        Uri.EscapeDataString(value).Replace("%21", "!", StringComparison.Ordinal).Replace("%2A", "*", StringComparison.Ordinal)
            .Replace("%27", "'", StringComparison.Ordinal).Replace("%28", "(", StringComparison.Ordinal).Replace("%29", ")", StringComparison.Ordinal);

    /// <summary>
    /// azure-iot-common's <c>encodeUriComponentStrict</c>: <see cref="Encode"/>, then <c>! ' ( ) *</c> as <c>%</c> plus
    /// their lowercase hex (so <c>*</c> is <c>%2a</c>). SAS tokens use it for <c>sr</c>, <c>sig</c> and <c>skn</c>, and the
    /// signature covers the encoded <c>sr</c>, so the exact case matters.
    /// </summary>
    public static string EncodeStrict(string value) =>
        Uri.EscapeDataString(value).Replace("%2A", "%2a", StringComparison.Ordinal);
}
