using System.Globalization;
using System.Text;

namespace IoTMastery.Sdk;

/// <summary>
/// Makes caller- or network-supplied text safe to repeat in an exception message or a log line: anything that could forge
/// or hide a line (control characters, line and paragraph separators, bidi and other format characters, unpaired
/// surrogates) is escaped as <c>\n</c>, <c>\0</c> or <c>\uXXXX</c>, a backslash as <c>\\</c>, and long text is cut.
/// </summary>
internal static class ErrorText
{
    /// <summary>How many characters of an echoed value are kept by default.</summary>
    public const int DefaultMaxLength = 64;

    /// <summary>
    /// What a log line may say about a failure: an <see cref="IoTException"/>'s kind and error code (<c>DeviceNotFound
    /// (404001)</c>), otherwise the exception's type name; never its message, which may quote a peer (or, from a credential
    /// library, a secret). The code came from the peer too, so it is escaped.
    /// </summary>
    public static string Name(Exception exception) => exception switch
    {
        IoTException { ErrorCode: { } code } error => $"{error.Kind} ({Escape(code)})",
        IoTException error => error.Kind.ToString(),
        _ => exception.GetType().Name,
    };

    /// <summary>The escaped, shortened form of <paramref name="value"/>; an empty string for <see langword="null"/>.</summary>
    /// <param name="value">Text that came from a caller or the network.</param>
    /// <param name="maxLength">Characters of <paramref name="value"/> kept before an ellipsis.</param>
    public static string Escape(string? value, int maxLength = DefaultMaxLength)
    {
        if (string.IsNullOrEmpty(value)) return "";
        var cut = value.Length > maxLength;
        var span = cut ? value.AsSpan(0, maxLength) : value.AsSpan();
        if (!cut && !NeedsEscaping(span)) return value;
        var builder = new StringBuilder(span.Length + 16);
        for (var i = 0; i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                builder.Append(c).Append(span[++i]);
                continue;
            }
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\t': builder.Append(@"\t"); break;
                case '\0': builder.Append(@"\0"); break;
                default:
                    if (IsUnsafe(c)) builder.Append(@"\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else builder.Append(c);
                    break;
            }
        }
        if (cut) builder.Append('…');
        return builder.ToString();
    }

    private static bool NeedsEscaping(ReadOnlySpan<char> span)
    {
        for (var i = 0; i < span.Length; i++)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1])) { i++; continue; }
            if (c == '\\' || IsUnsafe(c)) return true;
        }
        return false;
    }

    // Paired surrogates never get here, so a Surrogate category means an unpaired one.
    private static bool IsUnsafe(char c) => char.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate;
}
