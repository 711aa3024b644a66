using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime;

namespace IoTMastery.Sdk.Aws.Tests.Signing;

/// <summary>
/// The AWS SigV4 test suite (botocore copy) and the aws-c-auth suite, vendored in Specs/ (see Specs/NOTICE.md):
/// our canonicalisation must reproduce every canonical request, and the signer every signature.
/// </summary>
public sealed class SigV4VectorTests
{
    private static readonly ImmutableCredentials SuiteCredentials = new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", null);
    private static readonly DateTime SuiteTime = new(2015, 8, 30, 12, 36, 0, DateTimeKind.Utc);

    public static TheoryData<string> BotocoreCases()
    {
        var data = new TheoryData<string>();
        foreach (var req in Directory.EnumerateFiles(VendoredSpecs.Path("aws-sigv4-testsuite"), "*.req", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(VendoredSpecs.Path("aws-sigv4-testsuite"), req));
        return data;
    }

    public static TheoryData<string> AwsCAuthCases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.EnumerateDirectories(VendoredSpecs.Path("aws-c-auth-sigv4", "v4")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(dir));
        return data;
    }

    [Fact]
    public void The_suites_are_all_there()
    {
        Assert.Equal(34, ((IEnumerable<object[]>)BotocoreCases()).Count());
        Assert.Equal(38, ((IEnumerable<object[]>)AwsCAuthCases()).Count());
    }

    [Theory]
    [MemberData(nameof(BotocoreCases))]
    public void Botocore_suite_case(string relativeReq)
    {
        var reqPath = VendoredSpecs.Path("aws-sigv4-testsuite", relativeReq);
        var parsed = RawRequest.Parse(File.ReadAllText(reqPath));
        var signedRequest = RawRequest.Parse(File.ReadAllText(Path.ChangeExtension(reqPath, ".sreq")));
        var expectedCanonical = File.ReadAllText(Path.ChangeExtension(reqPath, ".creq")).ReplaceLineEndings("\n");
        // The session token is a signing input the suite shows only in the signed request; the signer adds it.
        if (expectedCanonical.Contains("x-amz-security-token", StringComparison.Ordinal) && !parsed.Headers.Any(IsToken))
            parsed.Headers.Add(signedRequest.Headers.First(IsToken));
        var (headers, signed) = SigV4Signer.CanonicalHeaders(parsed.Headers);
        var canonical = SigV4Signer.CanonicalRequest(parsed.Method, SigV4Signer.CanonicalUri(parsed.Path), SigV4Signer.CanonicalQuery(parsed.Query),
            headers, signed, SigV4Signer.Hash(Encoding.UTF8.GetBytes(parsed.Body)));
        Assert.Equal(expectedCanonical, canonical);
        var credentials = parsed.Headers.Any(IsToken) ? new ImmutableCredentials(SuiteCredentials.AccessKey, SuiteCredentials.SecretKey, parsed.Headers.First(IsToken).Value) : SuiteCredentials;
        Assert.Equal(File.ReadAllText(Path.ChangeExtension(reqPath, ".authz")).Trim(),
            SigV4Signer.Authorization(credentials, "us-east-1", "service", SuiteTime, signed, canonical));
    }

    private static bool IsToken(KeyValuePair<string, string> header) => header.Key.Equals("X-Amz-Security-Token", StringComparison.OrdinalIgnoreCase);

    [Theory]
    [MemberData(nameof(AwsCAuthCases))]
    public void Aws_c_auth_suite_case(string name)
    {
        var dir = VendoredSpecs.Path("aws-c-auth-sigv4", "v4", name);
        var context = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "context.json")))!;
        var time = DateTime.Parse((string)context["timestamp"]!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        var token = (string?)context["credentials"]!["token"];
        var credentials = new ImmutableCredentials((string)context["credentials"]!["access_key_id"]!, (string)context["credentials"]!["secret_access_key"]!, token);
        var parsed = RawRequest.Parse(File.ReadAllText(Path.Combine(dir, "request.txt")));
        // The signer adds x-amz-date and the session token, exactly as SigV4Signer.Sign does.
        var headers = parsed.Headers.ToList();
        headers.Add(new("x-amz-date", SigV4Signer.AmzDate(time)));
        // omit_session_token: the token is attached after signing (STS "header after"), so it is not signed.
        if (token is not null && (bool?)context["omit_session_token"] != true) headers.Add(new("x-amz-security-token", token));
        if ((bool)context["sign_body"]!) headers.Add(new("x-amz-content-sha256", SigV4Signer.Hash(Encoding.UTF8.GetBytes(parsed.Body))));
        var (canonicalHeaders, signed) = SigV4Signer.CanonicalHeaders(headers);
        var canonical = SigV4Signer.CanonicalRequest(parsed.Method, SigV4Signer.CanonicalUri(parsed.Path, (bool)context["normalize"]!),
            SigV4Signer.CanonicalQuery(parsed.Query), canonicalHeaders, signed, SigV4Signer.Hash(Encoding.UTF8.GetBytes(parsed.Body)));
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "header-canonical-request.txt")).ReplaceLineEndings("\n"), canonical);
        var authorization = SigV4Signer.Authorization(credentials, (string)context["region"]!, (string)context["service"]!, time, signed, canonical);
        Assert.EndsWith("Signature=" + File.ReadAllText(Path.Combine(dir, "header-signature.txt")).Trim(), authorization);
    }

    [Fact]
    public void Iot_data_plane_vector_double_encodes_the_topic()
    {
        // Verified when written with AWSSDK.Core, an independent Python implementation and @smithy/signature-v4.
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://abc123-ats.iot.us-east-1.amazonaws.com/topics/fleet%2Fdev%201%2Ft?qos=1");
        var body = "{\"a\":1}"u8.ToArray();
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new("application/octet-stream");
        SigV4Signer.Sign(request, body, SuiteCredentials, "us-east-1", "iotdata", SuiteTime);
        var authorization = request.Headers.GetValues("Authorization").Single();
        Assert.Equal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iotdata/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, " +
            "Signature=3a950dd1437457472f0553ac5e9fd907cc749a1663e9f16a628cd733bd6e6e6a", authorization);
        Assert.Equal("/topics/fleet%252Fdev%25201%252Ft", SigV4Signer.CanonicalUri(request.RequestUri!.AbsolutePath));
        Assert.Equal("015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862", request.Headers.GetValues("x-amz-content-sha256").Single());
    }

    [Fact]
    public void A_session_token_is_sent_and_signed()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:5599/things/dev-001");
        SigV4Signer.Sign(request, [], new ImmutableCredentials("AKID", "secret", "tok/en+="), "us-east-1", "iot", SuiteTime);
        Assert.Equal("tok/en+=", request.Headers.GetValues("x-amz-security-token").Single());
        Assert.Contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,", request.Headers.GetValues("Authorization").Single());
    }

    [Fact]
    public void The_secret_never_appears_in_the_signed_request()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:5599/things/dev-001");
        SigV4Signer.Sign(request, [], new ImmutableCredentials("AKID", "TopSecretKeyValue", null), "us-east-1", "iot", SuiteTime);
        Assert.DoesNotContain("TopSecretKeyValue", request.ToString());
        Assert.DoesNotContain("TopSecretKeyValue", string.Join("\n", request.Headers.Select(h => h.Key + ":" + string.Join(",", h.Value))));
    }
}

/// <summary>A test-suite .req file: request line, headers (with continuation lines), blank line, body.</summary>
internal sealed record RawRequest(string Method, string Path, string Query, List<KeyValuePair<string, string>> Headers, string Body)
{
    public static RawRequest Parse(string text)
    {
        var normalized = text.ReplaceLineEndings("\n");
        var split = normalized.IndexOf("\n\n", StringComparison.Ordinal);
        var head = split < 0 ? normalized : normalized[..split];
        var body = split < 0 ? "" : normalized[(split + 2)..];
        var lines = head.Split('\n');
        var requestLine = lines[0];
        var method = requestLine[..requestLine.IndexOf(' ')];
        var target = requestLine[(method.Length + 1)..requestLine.LastIndexOf(" HTTP/", StringComparison.Ordinal)];
        var q = target.IndexOf('?');
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1))
        {
            if (line.Length > 0 && char.IsWhiteSpace(line[0]) && headers.Count > 0)
            {
                var last = headers[^1];
                headers[^1] = new(last.Key, last.Value.TrimEnd() + " " + line.Trim());
                continue;
            }
            var colon = line.IndexOf(':');
            if (colon > 0) headers.Add(new(line[..colon], line[(colon + 1)..]));
        }
        return new RawRequest(method, q < 0 ? target : target[..q], q < 0 ? "" : target[(q + 1)..], headers, body);
    }
}
