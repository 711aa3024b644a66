using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime;
using Amazon.Runtime.Internal.Auth;
using Amazon.Util;

namespace IoTMastery.Sdk.Aws;

/// <summary>
/// SigV4 for restJson1 IoT calls: builds the canonical request the way every non-S3 AWS SDK does
/// (path encoded a second time, dot segments removed) and leaves the HMAC chain to AWSSDK.Core's public signer.
/// </summary>
internal static class SigV4Signer
{
    /// <summary>The SHA-256 of an empty body, lowercase hex.</summary>
    public static readonly string EmptyPayloadHash = Hash([]);

    /// <summary>Lowercase hex SHA-256.</summary>
    public static string Hash(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Formats a UTC time as SigV4's basic ISO-8601 (yyyyMMddTHHmmssZ).</summary>
    public static string AmzDate(DateTime utc) => utc.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The canonical URI of a wire path: dot segments removed (optional), then every octet percent-encoded once more.</summary>
    public static string CanonicalUri(string wirePath, bool normalize = true)
    {
        var path = string.IsNullOrEmpty(wirePath) ? "/" : wirePath;
        if (normalize) path = NormalizePath(path);
        return Encode(path, keepSlash: true);
    }

    /// <summary>The canonical query: pairs decoded, re-encoded per RFC 3986, sorted by key then value (ordinal).</summary>
    public static string CanonicalQuery(string rawQuery)
    {
        var query = rawQuery.StartsWith('?') ? rawQuery[1..] : rawQuery;
        if (query.Length == 0) return "";
        return string.Join("&", query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .Select(p => (Key: Encode(Unescape(p[0])), Value: Encode(Unescape(p.Length > 1 ? p[1] : ""))))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Key + "=" + p.Value));

        static string Unescape(string s) => Uri.UnescapeDataString(s);
        static string Encode(string s) => SigV4Signer.Encode(s, keepSlash: false);
    }

    /// <summary>
    /// Canonical headers and the signed-header list. Names are lower-cased, values trimmed with inner runs of
    /// spaces compressed, repeated headers joined with commas in the order given.
    /// </summary>
    public static (string Canonical, string Signed) CanonicalHeaders(IEnumerable<KeyValuePair<string, string>> headers)
    {
        var grouped = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in headers)
        {
            var key = name.ToLowerInvariant();
            if (!grouped.TryGetValue(key, out var values)) grouped[key] = values = [];
            values.Add(AWSSDKUtils.CompressSpaces(value.Trim()));
        }
        var canonical = new StringBuilder();
        foreach (var (name, values) in grouped)
            canonical.Append(name).Append(':').Append(string.Join(",", values)).Append('\n');
        return (canonical.ToString(), string.Join(";", grouped.Keys));
    }

    /// <summary>Joins the six parts of a canonical request.</summary>
    public static string CanonicalRequest(string method, string canonicalUri, string canonicalQuery, string canonicalHeaders, string signedHeaders, string payloadHash) =>
        string.Join("\n", method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash);

    /// <summary>The Authorization header value for a canonical request.</summary>
    public static string Authorization(ImmutableCredentials credentials, string region, string service, DateTime signedAtUtc, string signedHeaders, string canonicalRequest)
    {
        var result = AWS4Signer.ComputeSignature(credentials.AccessKey, credentials.SecretKey, region, signedAtUtc, service, signedHeaders, canonicalRequest);
        return result.ForAuthorizationHeader;
    }

    /// <summary>
    /// Signs an outgoing request in place: adds x-amz-date, x-amz-content-sha256, the session token when there is one,
    /// and Authorization over host, content-type (when a body is sent), x-amz-* and any extra headers the caller set.
    /// </summary>
    public static void Sign(HttpRequestMessage request, ReadOnlySpan<byte> body, ImmutableCredentials credentials, string region, string service, DateTime signedAtUtc)
    {
        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        foreach (var stale in new[] { "Authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token" })
            request.Headers.Remove(stale);
        var payloadHash = Hash(body);
        var amzDate = AmzDate(signedAtUtc);
        request.Headers.TryAddWithoutValidation("x-amz-date", amzDate);
        request.Headers.TryAddWithoutValidation("x-amz-content-sha256", payloadHash);
        if (credentials.UseToken) request.Headers.TryAddWithoutValidation("x-amz-security-token", credentials.Token);

        // Sign exactly what HttpClient will send: Host is the authority when the port is not the scheme's default.
        var headers = new List<KeyValuePair<string, string>> { new("host", uri.IsDefaultPort ? uri.Host : uri.Authority) };
        foreach (var header in request.Headers)
        {
            var name = header.Key.ToLowerInvariant();
            if (name.StartsWith("x-amz", StringComparison.Ordinal))
                headers.AddRange(header.Value.Select(v => new KeyValuePair<string, string>(name, v)));
        }
        if (request.Content?.Headers.ContentType is { } contentType)
            headers.Add(new("content-type", contentType.ToString()));
        var (canonicalHeaders, signedHeaders) = CanonicalHeaders(headers);
        var canonical = CanonicalRequest(request.Method.Method, CanonicalUri(uri.AbsolutePath), CanonicalQuery(uri.Query), canonicalHeaders, signedHeaders, payloadHash);
        request.Headers.TryAddWithoutValidation("Authorization", Authorization(credentials, region, service, signedAtUtc, signedHeaders, canonical));
    }

    /// <summary>SigV4 URI encoding: every UTF-8 byte except A-Z a-z 0-9 - _ . ~ (and '/' in paths) becomes %XX, uppercase hex.</summary>
    public static string Encode(string value, bool keepSlash)
    {
        var builder = new StringBuilder(value.Length * 2);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~' || (keepSlash && c == '/')) builder.Append(c);
            else builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    /// <summary>RFC 3986 remove_dot_segments plus collapsing of empty segments, as non-S3 SigV4 requires.</summary>
    public static string NormalizePath(string path)
    {
        var output = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == ".") continue;
            if (segment == "..")
            {
                if (output.Count > 0) output.RemoveAt(output.Count - 1);
                continue;
            }
            output.Add(segment);
        }
        var normalized = "/" + string.Join("/", output);
        if (path.EndsWith('/') && normalized.Length > 1) normalized += "/";
        return normalized;
    }
}
