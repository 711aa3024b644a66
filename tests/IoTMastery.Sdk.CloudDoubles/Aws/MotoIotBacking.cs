using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.CloudDoubles.Aws;

/// <summary>
/// Where <see cref="AwsIotMqttFake"/> finds the AWS account it fronts: moto's server, for certificates, thing principals
/// and shadows. Without it the double keeps its own shadows and admits any certificate of its CA.
/// </summary>
/// <param name="Endpoint">moto's server, e.g. <c>http://127.0.0.1:5000/</c> (control and data plane share it).</param>
public sealed record AwsIotMotoBacking(Uri Endpoint)
{
    /// <summary>The region moto's backends are kept under (the provider's <c>AwsIoTOptions.Region</c>).</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>
    /// How often each connected client's certificate (status, still attached to its thing) and watched shadows are read
    /// back from moto. A revocation or a fleet-side shadow update is seen within this interval plus one moto answer
    /// (at most <see cref="RequestTimeout"/>). Measured on the injected <see cref="TimeProvider"/>.
    /// </summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The bound on one request to moto; a poll that times out is tried again at the next interval.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The few moto calls the gateway double makes, over plain HTTP with its own client: the double is a peer of the
/// provider under test, so it must not reuse the provider's HTTP or signing code (a bug there would be hidden).
/// moto does not check signatures; the SigV4-shaped Authorization header only names the service, which is how moto's
/// single server tells the control plane (<c>iot</c>) from the data plane (<c>iotdata</c>) — both own <c>/things/…</c>.
/// </summary>
internal sealed class MotoIotClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _region;

    public MotoIotClient(AwsIotMotoBacking backing)
    {
        _region = backing.Region;
        _http = new HttpClient { BaseAddress = backing.Endpoint, Timeout = backing.RequestTimeout };
    }

    /// <summary>The outcome of one shadow call: moto's status code and its JSON body (null when the body is not a JSON object).</summary>
    public readonly record struct Answer(HttpStatusCode Status, JsonObject? Body)
    {
        public bool Ok => (int)Status is >= 200 and < 300;

        public string Message => (string?)(Body?["message"] as JsonValue) ?? Status.ToString();
    }

    /// <summary>ListThingPrincipals; null when the thing does not exist.</summary>
    public async Task<List<string>?> ListThingPrincipalsAsync(string thing, CancellationToken ct)
    {
        var answer = await SendAsync(HttpMethod.Get, $"things/{Uri.EscapeDataString(thing)}/principals", "iot", null, ct).ConfigureAwait(false);
        if (answer.Status == HttpStatusCode.NotFound) return null;
        Ensure(answer, "ListThingPrincipals");
        return [.. (answer.Body?["principals"] as JsonArray ?? []).Select(p => (string?)p).OfType<string>()];
    }

    /// <summary>DescribeCertificate's <c>certificateDescription</c>; null when moto has no such certificate.</summary>
    public async Task<JsonObject?> DescribeCertificateAsync(string certificateId, CancellationToken ct)
    {
        var answer = await SendAsync(HttpMethod.Get, $"certificates/{Uri.EscapeDataString(certificateId)}", "iot", null, ct).ConfigureAwait(false);
        if (answer.Status == HttpStatusCode.NotFound) return null;
        Ensure(answer, "DescribeCertificate");
        return answer.Body?["certificateDescription"] as JsonObject;
    }

    public Task<Answer> GetShadowAsync(string thing, string shadowName, CancellationToken ct) =>
        SendAsync(HttpMethod.Get, ShadowPath(thing, shadowName), "iotdata", null, ct);

    public Task<Answer> UpdateShadowAsync(string thing, string shadowName, byte[] document, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, ShadowPath(thing, shadowName), "iotdata", document, ct);

    public Task<Answer> DeleteShadowAsync(string thing, string shadowName, CancellationToken ct) =>
        SendAsync(HttpMethod.Delete, ShadowPath(thing, shadowName), "iotdata", null, ct);

    /// <summary>
    /// The certificate attached to <paramref name="thing"/> whose DER is the presented one, with its moto status.
    /// Matched by content rather than by id: moto 5.2.1 names a certificate by the SHA-256 of its PEM text unless its
    /// <c>iot.use_valid_cert</c> setting is on (AWS: SHA-256 of the DER), and its server's config endpoint cannot turn
    /// that on, so the id cannot be computed from what TLS shows.
    /// </summary>
    public async Task<(string Arn, string CertificateId, string Status)?> FindAttachedAsync(string thing, X509Certificate2 presented, CancellationToken ct)
    {
        if (await ListThingPrincipalsAsync(thing, ct).ConfigureAwait(false) is not { } principals) return null;
        foreach (var arn in principals)
        {
            if (CertificateId(arn) is not { } id) continue;
            if (await DescribeCertificateAsync(id, ct).ConfigureAwait(false) is not { } description) continue;
            if ((string?)description["certificatePem"] is not { } pem) continue;
            using var registered = X509Certificate2.CreateFromPem(pem);
            if (registered.RawData.AsSpan().SequenceEqual(presented.RawData))
                return (arn, id, (string?)description["status"] ?? "");
        }
        return null;
    }

    /// <summary>The certificate id of a certificate ARN (<c>arn:aws:iot:region:account:cert/{id}</c>), or null for other principals.</summary>
    public static string? CertificateId(string arn)
    {
        var marker = arn.IndexOf(":cert/", StringComparison.Ordinal);
        return marker < 0 ? null : arn[(marker + ":cert/".Length)..];
    }

    private static string ShadowPath(string thing, string shadowName) =>
        $"things/{Uri.EscapeDataString(thing)}/shadow" + (shadowName.Length == 0 ? "" : "?name=" + Uri.EscapeDataString(shadowName));

    private static void Ensure(Answer answer, string operation)
    {
        if (!answer.Ok) throw new HttpRequestException($"moto answered {operation} with {(int)answer.Status}: {answer.Message}", null, answer.Status);
    }

    private async Task<Answer> SendAsync(HttpMethod method, string path, string service, byte[]? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        var date = DateTime.UtcNow.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
        request.Headers.TryAddWithoutValidation("Authorization", $"AWS4-HMAC-SHA256 Credential=testing/{date}/{_region}/{service}/aws4_request, SignedHeaders=host, Signature=0");
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new("application/octet-stream");
        }
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        JsonObject? parsed = null;
        try
        {
            parsed = bytes.Length == 0 ? null : JsonNode.Parse(bytes) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            // moto answers some failures with an HTML page; the status code says enough.
        }
        return new Answer(response.StatusCode, parsed);
    }

    public void Dispose() => _http.Dispose();
}
