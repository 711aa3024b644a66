using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Aws;

/// <summary>A page of a list operation.</summary>
internal sealed record AwsPage(JsonArray Items, string? NextToken);

/// <summary>
/// The AWS IoT control-plane operations the provider uses (service "iot", restJson1), each on the route and
/// with the member bindings of the botocore model. Only replay-safe calls are retried:
/// reads, and writes that AWS documents as idempotent or that carry an expected version; none of these operations has an
/// idempotency token, so certificate creation (every call mints a new certificate) is never retried blindly.
/// </summary>
internal sealed class IotControlPlane(AwsHttpClient http)
{
    /// <summary>Percent-encodes one path label (not greedy: '/', '$', ' ' … are all escaped).</summary>
    internal static string Label(string value)
    {
        // A label of "." or ".." would be collapsed by Uri and by SigV4 path normalisation alike.
        if (value is "." or "..")
            throw new ArgumentException($"'{value}' cannot be used as a path segment.", nameof(value));
        return Uri.EscapeDataString(value);
    }

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Bool(bool value) => value ? "true" : "false";

    private async Task<JsonObject> CallAsync(AwsRequest request, CancellationToken ct)
    {
        var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        return ParseResponse(request.Operation, response.Body);
    }

    /// <summary>A control-plane answer as an object; IoTException <c>InvalidResponse</c> when it is not well-formed JSON.</summary>
    internal static JsonObject ParseResponse(string operation, ReadOnlySpan<byte> body)
    {
        if (body.Length == 0) return [];
        // Strict, so duplicate keys and bad strings fail here, typed, rather than in whatever reads the field.
        // A garbled answer is the service's (or a proxy's) fault, reported in the SDK's error hierarchy, never a raw parser exception.
        if (!StrictJson.TryParse(body, out var node))
            throw new IoTException(IoTErrorKind.Unknown, $"AWS IoT {operation}: the response is not valid JSON.", AwsIoTProvider.ProviderName, "InvalidResponse", false, null);
        return node as JsonObject ?? [];
    }

    private static AwsRequest WithJson(AwsRequest request, JsonObject body) => request with { Body = AwsRequest.Json(body), ContentType = "application/json" };

    private static List<KeyValuePair<string, string>> Paging(string? nextToken, int? maxResults)
    {
        var query = new List<KeyValuePair<string, string>>();
        if (maxResults is { } max) query.Add(new("maxResults", Num(max)));
        if (nextToken is not null) query.Add(new("nextToken", nextToken));
        return query;
    }

    private static AwsPage Page(JsonObject body, string member) =>
        new(body[member] as JsonArray ?? [], (string?)body["nextToken"] is { Length: > 0 } t ? t : null);

    // ---- things ----

    /// <summary>
    /// CreateThing: POST /things/{thingName}, with the thing type when given (a typed thing may carry 50 attributes,
    /// an untyped one 3). Replaying the same configuration answers 200.
    /// </summary>
    public Task<JsonObject> CreateThingAsync(string thingName, IReadOnlyDictionary<string, string>? attributes, string? thingTypeName, CancellationToken ct)
    {
        // Members in the model's order (thingTypeName, attributePayload), as the AWS SDKs write them.
        var body = new JsonObject();
        if (thingTypeName is not null) body["thingTypeName"] = thingTypeName;
        if (attributes is { Count: > 0 })
            body["attributePayload"] = new JsonObject { ["attributes"] = ToJson(attributes) };
        return CallAsync(WithJson(new AwsRequest(HttpMethod.Post, $"/things/{Label(thingName)}", "CreateThing") { Idempotent = true }, body), ct);
    }

    /// <summary>DescribeThing: GET /things/{thingName}.</summary>
    public Task<JsonObject> DescribeThingAsync(string thingName, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Get, $"/things/{Label(thingName)}", "DescribeThing") { Idempotent = true, DeviceId = thingName }, ct);

    /// <summary>ListThings: GET /things with paging and one attribute filter.</summary>
    public async Task<AwsPage> ListThingsAsync(int maxResults, string? nextToken, string? attributeName, string? attributeValue, CancellationToken ct)
    {
        var query = new List<KeyValuePair<string, string>>();
        if (attributeName is not null) query.Add(new("attributeName", attributeName));
        if (attributeValue is not null) query.Add(new("attributeValue", attributeValue));
        query.AddRange(Paging(nextToken, maxResults));
        return Page(await CallAsync(new AwsRequest(HttpMethod.Get, "/things", "ListThings") { Query = query, Idempotent = true }, ct).ConfigureAwait(false), "things");
    }

    /// <summary>UpdateThing: PATCH /things/{thingName}; an empty value removes an attribute when merging.</summary>
    public Task<JsonObject> UpdateThingAsync(string thingName, IReadOnlyDictionary<string, string> attributes, bool merge, long? expectedVersion, CancellationToken ct)
    {
        var body = new JsonObject { ["attributePayload"] = new JsonObject { ["attributes"] = ToJson(attributes), ["merge"] = merge } };
        if (expectedVersion is { } v) body["expectedVersion"] = v;
        // Conditional on expectedVersion it is a compare-and-set; without it a merge of the same values is still idempotent.
        return CallAsync(WithJson(new AwsRequest(HttpMethod.Patch, $"/things/{Label(thingName)}", "UpdateThing") { Idempotent = true, DeviceId = thingName }, body), ct);
    }

    /// <summary>DeleteThing: DELETE /things/{thingName}?expectedVersion=.</summary>
    public Task<JsonObject> DeleteThingAsync(string thingName, long? expectedVersion, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Delete, $"/things/{Label(thingName)}", "DeleteThing")
        {
            Query = expectedVersion is { } v ? [new("expectedVersion", Num(v))] : [],
            Idempotent = true,
            DeviceId = thingName,
        }, ct);

    // ---- thing groups ----

    /// <summary>CreateThingGroup: POST /thing-groups/{thingGroupName}.</summary>
    public Task<JsonObject> CreateThingGroupAsync(string groupName, string? description, IReadOnlyDictionary<string, string>? attributes, CancellationToken ct)
    {
        var properties = new JsonObject();
        if (description is not null) properties["thingGroupDescription"] = description;
        if (attributes is { Count: > 0 }) properties["attributePayload"] = new JsonObject { ["attributes"] = ToJson(attributes) };
        var body = new JsonObject();
        if (properties.Count > 0) body["thingGroupProperties"] = properties;
        return CallAsync(WithJson(new AwsRequest(HttpMethod.Post, $"/thing-groups/{Label(groupName)}", "CreateThingGroup") { Idempotent = true }, body), ct);
    }

    /// <summary>DescribeThingGroup: GET /thing-groups/{thingGroupName}.</summary>
    public Task<JsonObject> DescribeThingGroupAsync(string groupName, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Get, $"/thing-groups/{Label(groupName)}", "DescribeThingGroup") { Idempotent = true }, ct);

    /// <summary>DeleteThingGroup: DELETE /thing-groups/{thingGroupName}?expectedVersion=.</summary>
    public Task<JsonObject> DeleteThingGroupAsync(string groupName, long? expectedVersion, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Delete, $"/thing-groups/{Label(groupName)}", "DeleteThingGroup")
        {
            Query = expectedVersion is { } v ? [new("expectedVersion", Num(v))] : [],
            Idempotent = true,
        }, ct);

    /// <summary>AddThingToThingGroup: PUT /thing-groups/addThingToThingGroup (re-adding is a no-op).</summary>
    public Task<JsonObject> AddThingToThingGroupAsync(string groupName, string thingName, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Put, "/thing-groups/addThingToThingGroup", "AddThingToThingGroup") { Idempotent = true, DeviceId = thingName },
            new JsonObject { ["thingGroupName"] = groupName, ["thingName"] = thingName }), ct);

    /// <summary>RemoveThingFromThingGroup: PUT /thing-groups/removeThingFromThingGroup.</summary>
    public Task<JsonObject> RemoveThingFromThingGroupAsync(string groupName, string thingName, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Put, "/thing-groups/removeThingFromThingGroup", "RemoveThingFromThingGroup") { Idempotent = true },
            new JsonObject { ["thingGroupName"] = groupName, ["thingName"] = thingName }), ct);

    /// <summary>ListThingsInThingGroup: GET /thing-groups/{thingGroupName}/things.</summary>
    public async Task<AwsPage> ListThingsInThingGroupAsync(string groupName, string? nextToken, int? maxResults, CancellationToken ct) =>
        Page(await CallAsync(new AwsRequest(HttpMethod.Get, $"/thing-groups/{Label(groupName)}/things", "ListThingsInThingGroup")
        { Query = Paging(nextToken, maxResults), Idempotent = true }, ct).ConfigureAwait(false), "things");

    // ---- certificates ----

    /// <summary>CreateCertificateFromCsr: POST /certificates. Mints a certificate per call: never retried.</summary>
    public Task<JsonObject> CreateCertificateFromCsrAsync(string csrPem, bool setAsActive, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Post, "/certificates", "CreateCertificateFromCsr") { Query = [new("setAsActive", Bool(setAsActive))] },
            new JsonObject { ["certificateSigningRequest"] = csrPem }), ct);

    /// <summary>RegisterCertificateWithoutCA: POST /certificate/register-no-ca (a duplicate is a 409, so a replay cannot leak).</summary>
    public Task<JsonObject> RegisterCertificateWithoutCaAsync(string certificatePem, string status, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Post, "/certificate/register-no-ca", "RegisterCertificateWithoutCA"),
            new JsonObject { ["certificatePem"] = certificatePem, ["status"] = status }), ct);

    /// <summary>DescribeCertificate: GET /certificates/{certificateId}.</summary>
    public async Task<JsonObject> DescribeCertificateAsync(string certificateId, CancellationToken ct) =>
        (await CallAsync(new AwsRequest(HttpMethod.Get, $"/certificates/{Label(certificateId)}", "DescribeCertificate") { Idempotent = true }, ct).ConfigureAwait(false))
        ["certificateDescription"] as JsonObject ?? [];

    /// <summary>UpdateCertificate: PUT /certificates/{certificateId}?newStatus= (documented idempotent).</summary>
    public Task<JsonObject> UpdateCertificateAsync(string certificateId, string newStatus, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Put, $"/certificates/{Label(certificateId)}", "UpdateCertificate")
        { Query = [new("newStatus", newStatus)], Idempotent = true }, ct);

    /// <summary>DeleteCertificate: DELETE /certificates/{certificateId}?forceDelete=.</summary>
    public Task<JsonObject> DeleteCertificateAsync(string certificateId, bool forceDelete, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Delete, $"/certificates/{Label(certificateId)}", "DeleteCertificate")
        { Query = [new("forceDelete", Bool(forceDelete))], Idempotent = true }, ct);

    // ---- principals ----

    /// <summary>AttachThingPrincipal: PUT /things/{thingName}/principals with the ARN in x-amzn-principal.</summary>
    public Task<JsonObject> AttachThingPrincipalAsync(string thingName, string principalArn, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Put, $"/things/{Label(thingName)}/principals", "AttachThingPrincipal")
        { Headers = [new("x-amzn-principal", principalArn)], Idempotent = true, DeviceId = thingName }, ct);

    /// <summary>DetachThingPrincipal: DELETE /things/{thingName}/principals with the ARN in x-amzn-principal.</summary>
    public Task<JsonObject> DetachThingPrincipalAsync(string thingName, string principalArn, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Delete, $"/things/{Label(thingName)}/principals", "DetachThingPrincipal")
        { Headers = [new("x-amzn-principal", principalArn)], Idempotent = true }, ct);

    /// <summary>ListThingPrincipals: GET /things/{thingName}/principals (all pages).</summary>
    public async Task<List<string>> ListThingPrincipalsAsync(string thingName, CancellationToken ct)
    {
        var all = new List<string>();
        string? token = null;
        do
        {
            var page = Page(await CallAsync(new AwsRequest(HttpMethod.Get, $"/things/{Label(thingName)}/principals", "ListThingPrincipals")
            { Query = Paging(token, null), Idempotent = true, DeviceId = thingName }, ct).ConfigureAwait(false), "principals");
            all.AddRange(page.Items.Select(p => (string?)p).OfType<string>());
            token = page.NextToken;
        }
        while (token is not null);
        return all;
    }

    // ---- policies ----

    /// <summary>CreatePolicy: POST /policies/{policyName}; the document travels as a JSON string.</summary>
    public Task<JsonObject> CreatePolicyAsync(string policyName, string policyDocument, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Post, $"/policies/{Label(policyName)}", "CreatePolicy"),
            new JsonObject { ["policyDocument"] = policyDocument }), ct);

    /// <summary>GetPolicy: GET /policies/{policyName}.</summary>
    public Task<JsonObject> GetPolicyAsync(string policyName, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Get, $"/policies/{Label(policyName)}", "GetPolicy") { Idempotent = true }, ct);

    /// <summary>DeletePolicy: DELETE /policies/{policyName}.</summary>
    public Task<JsonObject> DeletePolicyAsync(string policyName, CancellationToken ct) =>
        CallAsync(new AwsRequest(HttpMethod.Delete, $"/policies/{Label(policyName)}", "DeletePolicy") { Idempotent = true }, ct);

    /// <summary>AttachPolicy: PUT /target-policies/{policyName} (re-attaching is a no-op).</summary>
    public Task<JsonObject> AttachPolicyAsync(string policyName, string target, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Put, $"/target-policies/{Label(policyName)}", "AttachPolicy") { Idempotent = true },
            new JsonObject { ["target"] = target }), ct);

    /// <summary>DetachPolicy: POST /target-policies/{policyName}.</summary>
    public Task<JsonObject> DetachPolicyAsync(string policyName, string target, CancellationToken ct) =>
        CallAsync(WithJson(new AwsRequest(HttpMethod.Post, $"/target-policies/{Label(policyName)}", "DetachPolicy") { Idempotent = true },
            new JsonObject { ["target"] = target }), ct);

    // ---- endpoint ----

    /// <summary>DescribeEndpoint: GET /endpoint?endpointType= (iot:Data-ATS for devices and the data plane).</summary>
    public async Task<string> DescribeEndpointAsync(string endpointType, CancellationToken ct) =>
        (string?)(await CallAsync(new AwsRequest(HttpMethod.Get, "/endpoint", "DescribeEndpoint")
        { Query = [new("endpointType", endpointType)], Idempotent = true }, ct).ConfigureAwait(false))["endpointAddress"]
        ?? throw new IoTException(IoTErrorKind.Unknown, "DescribeEndpoint returned no endpointAddress.", AwsIoTProvider.ProviderName, "MalformedResponse");

    private static JsonObject ToJson(IReadOnlyDictionary<string, string> attributes)
    {
        var o = new JsonObject();
        foreach (var (k, v) in attributes) o[k] = v;
        return o;
    }
}
