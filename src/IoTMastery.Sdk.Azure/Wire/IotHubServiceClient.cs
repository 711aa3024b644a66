using System.Globalization;
using System.Text.Json.Nodes;

namespace IoTMastery.Sdk.Azure;

/// <summary>One page of an IoT Hub query.</summary>
/// <param name="Items">The rows (twins, device jobs or raw projections).</param>
/// <param name="ItemType">The <c>x-ms-item-type</c> the hub reported, for example <c>twin</c>.</param>
/// <param name="ContinuationToken">The token for the next page; <see langword="null"/> on the last page.</param>
internal sealed record IotHubQueryPage(IReadOnlyList<JsonObject> Items, string? ItemType, string? ContinuationToken);

/// <summary>One device's failure in a bulk registry operation.</summary>
/// <param name="DeviceId">The device.</param>
/// <param name="ErrorCode">The hub's error code, for example <c>DeviceAlreadyExists</c>.</param>
/// <param name="ErrorStatus">The hub's description.</param>
internal sealed record BulkDeviceError(string DeviceId, string ErrorCode, string? ErrorStatus);

/// <summary>The outcome of a bulk registry operation across all its chunks.</summary>
/// <param name="IsSuccessful">True when every device succeeded.</param>
/// <param name="Errors">Per-device failures.</param>
internal sealed record BulkRegistryResult(bool IsSuccessful, IReadOnlyList<BulkDeviceError> Errors);

/// <summary>A direct method's reply.</summary>
/// <param name="Status">The status the device set.</param>
/// <param name="Payload">The device's payload.</param>
internal sealed record DirectMethodResult(int Status, JsonNode? Payload);

/// <summary>Device counts of the hub.</summary>
/// <param name="Total">All devices.</param>
/// <param name="Enabled">Enabled devices.</param>
/// <param name="Disabled">Disabled devices.</param>
internal sealed record IotHubDeviceStatistics(long Total, long Enabled, long Disabled);

/// <summary>
/// The IoT Hub service REST API (api-version 2021-04-12) beyond the neutral interfaces: device identities with ETags,
/// queries with continuation, bulk registry operations, twins, direct methods, scheduled jobs and statistics.
/// Documents are <see cref="JsonObject"/>s in the hub's own shape. Thread-safe.
/// </summary>
public class IotHubServiceClient
{
    /// <summary>For mocking: a subclass in a test overrides the members it uses; the others are not usable.</summary>
    protected IotHubServiceClient()
    {
        _http = null!;
    }

    /// <summary>The most devices one bulk registry request may carry.</summary>
    internal const int MaxBulkDevices = 100;

    private readonly IotHubHttpClient _http;

    internal IotHubServiceClient(IotHubHttpClient http) => _http = http;

    internal IotHubHttpClient Http => _http;

    /// <summary>Reads a device identity (<c>GET /devices/{id}</c>), keys included.</summary>
    public virtual async Task<JsonObject> GetDeviceIdentityAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        var response = await _http.SendAsync(HttpMethod.Get, "/devices/" + IotHubHttpClient.Segment(deviceId), deviceId: deviceId, cancellationToken: cancellationToken).ConfigureAwait(false);
        return WithEtag(response);
    }

    /// <summary>Creates a device identity (<c>PUT /devices/{id}</c> without If-Match); an existing id fails with <see cref="IoTErrorKind.AlreadyExists"/>.</summary>
    public virtual async Task<JsonObject> CreateDeviceIdentityAsync(JsonObject device, CancellationToken cancellationToken = default)
    {
        var id = RequireId(device);
        var response = await _http.SendAsync(HttpMethod.Put, "/devices/" + IotHubHttpClient.Segment(id), device, idempotent: false, deviceId: id, cancellationToken: cancellationToken).ConfigureAwait(false);
        return WithEtag(response);
    }

    /// <summary>Replaces a device identity guarded by <paramref name="etag"/> (<see langword="null"/> = unconditional <c>"*"</c>).</summary>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.PreconditionFailed"/>: The ETag is stale.</exception>
    public virtual async Task<JsonObject> UpdateDeviceIdentityAsync(JsonObject device, string? etag, CancellationToken cancellationToken = default)
    {
        var id = RequireId(device);
        var response = await _http.SendAsync(HttpMethod.Put, "/devices/" + IotHubHttpClient.Segment(id), device,
            [new("If-Match", IotHubHttpClient.IfMatch(etag))], deviceId: id, cancellationToken: cancellationToken).ConfigureAwait(false);
        return WithEtag(response);
    }

    /// <summary>Deletes a device identity guarded by <paramref name="etag"/> (<see langword="null"/> = unconditional).</summary>
    public virtual async Task DeleteDeviceIdentityAsync(string deviceId, string? etag = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        await _http.SendAsync(HttpMethod.Delete, "/devices/" + IotHubHttpClient.Segment(deviceId), null,
            [new("If-Match", IotHubHttpClient.IfMatch(etag))], deviceId: deviceId, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs one page of an IoT Hub query (<c>POST /devices/query</c>).</summary>
    /// <param name="query">For example <c>SELECT * FROM devices WHERE status = 'enabled'</c>.</param>
    /// <param name="pageSize">Rows per page (<c>x-ms-max-item-count</c>), 1 to 1000; the hub may use another value.</param>
    /// <param name="continuationToken">The previous page's token.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    internal async Task<IotHubQueryPage> QueryPageAsync(string query, int? pageSize = null, string? continuationToken = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        if (pageSize is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "The page size must be 1 to 1000.");
        var headers = new List<KeyValuePair<string, string>>();
        if (pageSize is { } size) headers.Add(new("x-ms-max-item-count", size.ToString(CultureInfo.InvariantCulture)));
        if (!string.IsNullOrEmpty(continuationToken)) headers.Add(new("x-ms-continuation", continuationToken));
        var response = await _http.SendAsync(HttpMethod.Post, "/devices/query", new JsonObject { ["query"] = query }, headers, cancellationToken: cancellationToken).ConfigureAwait(false);
        var items = response.Body is JsonArray array ? array.OfType<JsonObject>().Select(o => (JsonObject)o.DeepClone()).ToList() : [];
        var next = response.Header("x-ms-continuation");
        return new IotHubQueryPage(items, response.Header("x-ms-item-type"), string.IsNullOrEmpty(next) ? null : next);
    }

    /// <summary>
    /// Runs a bulk registry operation (<c>POST /devices</c>) over <paramref name="devices"/> (<c>ExportImportDevice</c> objects with
    /// <c>id</c> and <c>importMode</c>) in chunks of at most 100, collecting every device's error. A hub answer of
    /// 400 <c>BulkRegistryOperationFailure</c> is a result, not an exception.
    /// </summary>
    internal async Task<BulkRegistryResult> BulkAsync(IEnumerable<JsonObject> devices, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var list = devices.ToList();
        foreach (var device in list)
        {
            DeviceIdRules.Azure.Validate(device["id"]?.GetValue<string>(), nameof(devices));
            if (device["importMode"] is null) throw new ArgumentException("Every bulk entry needs an importMode.", nameof(devices));
        }
        var errors = new List<BulkDeviceError>();
        var successful = true;
        foreach (var chunk in list.Chunk(MaxBulkDevices))
        {
            var body = new JsonArray(chunk.Select(d => (JsonNode)d.DeepClone()).ToArray());
            // Creates are not idempotent: only a throttled (unprocessed) chunk is sent again.
            var response = await _http.SendAsync(HttpMethod.Post, "/devices", body, idempotent: false, acceptErrorCode: 400, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (response.Status == 400 && response.Body?["errors"] is null)
                throw IotHubErrors.ToException(IotHubErrors.Parse(400, response.Body?.ToJsonString(), response.Header("iothub-errorcode"), response.Header("x-ms-request-id")), null, null);
            successful &= response.Body?["isSuccessful"]?.GetValue<bool>() ?? response.Status < 300;
            if (response.Body?["errors"] is JsonArray errs)
            {
                foreach (var e in errs.OfType<JsonObject>())
                    errors.Add(new BulkDeviceError(e["deviceId"]?.ToString() ?? "", e["errorCode"]?.ToString() ?? "", e["errorStatus"]?.ToString()));
            }
        }
        return new BulkRegistryResult(successful && errors.Count == 0, errors);
    }

    /// <summary>Deletes many devices with bulk <c>delete</c> entries in chunks of at most 100.</summary>
    internal Task<BulkRegistryResult> DeleteDevicesAsync(IEnumerable<string> deviceIds, CancellationToken cancellationToken = default) =>
        BulkAsync(deviceIds.Select(id => new JsonObject { ["id"] = id, ["importMode"] = "delete" }), cancellationToken);

    /// <summary>Reads a twin (<c>GET /twins/{id}</c>); its <c>etag</c> is the response ETag.</summary>
    public virtual async Task<JsonObject> GetTwinAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        var response = await _http.SendAsync(HttpMethod.Get, "/twins/" + IotHubHttpClient.Segment(deviceId), deviceId: deviceId, cancellationToken: cancellationToken).ConfigureAwait(false);
        return WithEtag(response);
    }

    /// <summary>Merges <paramref name="patch"/> (<c>{"tags":{…},"properties":{"desired":{…}}}</c>; null deletes) into a twin, guarded by <paramref name="etag"/>.</summary>
    public virtual async Task<JsonObject> UpdateTwinAsync(string deviceId, JsonObject patch, string? etag = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(patch);
        var response = await _http.SendAsync(HttpMethod.Patch, "/twins/" + IotHubHttpClient.Segment(deviceId), patch,
            [new("If-Match", IotHubHttpClient.IfMatch(etag))], deviceId: deviceId, cancellationToken: cancellationToken).ConfigureAwait(false);
        return WithEtag(response);
    }

    /// <summary>Replaces a twin's tags and desired properties, guarded by <paramref name="etag"/>.</summary>
    public virtual async Task<JsonObject> ReplaceTwinAsync(string deviceId, JsonObject twin, string? etag = null, CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        ArgumentNullException.ThrowIfNull(twin);
        var response = await _http.SendAsync(HttpMethod.Put, "/twins/" + IotHubHttpClient.Segment(deviceId), twin,
            [new("If-Match", IotHubHttpClient.IfMatch(etag))], deviceId: deviceId, cancellationToken: cancellationToken).ConfigureAwait(false);
        return WithEtag(response);
    }

    /// <summary>Invokes a direct method (<c>POST /twins/{id}/methods</c>).</summary>
    /// <param name="deviceId">The device.</param>
    /// <param name="methodName">The method name.</param>
    /// <param name="payload">The JSON payload (≤128 KB).</param>
    /// <param name="responseTimeout">How long the hub waits for the device's answer, 5 s to 300 s.</param>
    /// <param name="connectTimeout">How long the hub waits for an offline device to connect, 0 to 300 s.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="IoTException"><see cref="IoTErrorKind.DeviceOffline"/>: The device is not connected (404103).</exception>
    /// <exception cref="IoTException">The device did not answer in time (504101, transient).</exception>
    internal async Task<DirectMethodResult> InvokeMethodAsync(string deviceId, string methodName, JsonNode? payload, TimeSpan responseTimeout, TimeSpan connectTimeout,
        CancellationToken cancellationToken = default)
    {
        DeviceIdRules.Azure.Validate(deviceId);
        var body = BuildMethod(methodName, payload, responseTimeout, connectTimeout);
        var response = await _http.SendAsync(HttpMethod.Post, "/twins/" + IotHubHttpClient.Segment(deviceId) + "/methods", body, idempotent: false, deviceId: deviceId,
            timeout: responseTimeout + connectTimeout + TimeSpan.FromSeconds(15), cancellationToken: cancellationToken).ConfigureAwait(false);
        var status = response.Body?["status"] is JsonValue s && s.TryGetValue<int>(out var v) ? v : 0;
        return new DirectMethodResult(status, response.Body?["payload"]?.DeepClone());
    }

    /// <summary>Schedules a twin update on every device matching <paramref name="queryCondition"/> (<c>PUT /jobs/v2/{id}</c>, type scheduleUpdateTwin).</summary>
    public virtual Task<JsonObject> ScheduleTwinUpdateAsync(string jobId, string queryCondition, JsonObject twinPatch, DateTimeOffset startTime, TimeSpan maxExecutionTime,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(twinPatch);
        var update = (JsonObject)twinPatch.DeepClone();
        // The hub accepts only forced twin updates in jobs.
        update["etag"] = "*";
        return ScheduleJobAsync(jobId, queryCondition, "scheduleUpdateTwin", "updateTwin", update, startTime, maxExecutionTime, cancellationToken);
    }

    /// <summary>Schedules a direct method on every device matching <paramref name="queryCondition"/> (type scheduleDeviceMethod).</summary>
    public virtual Task<JsonObject> ScheduleMethodAsync(string jobId, string queryCondition, string methodName, JsonNode? payload, TimeSpan responseTimeout,
        TimeSpan connectTimeout, DateTimeOffset startTime, TimeSpan maxExecutionTime, CancellationToken cancellationToken = default) =>
        ScheduleJobAsync(jobId, queryCondition, "scheduleDeviceMethod", "cloudToDeviceMethod", BuildMethod(methodName, payload, responseTimeout, connectTimeout, omitZeroConnectTimeout: true),
            startTime, maxExecutionTime, cancellationToken);

    /// <summary>Reads a scheduled job (<c>GET /jobs/v2/{id}</c>).</summary>
    public virtual async Task<JsonObject> GetJobAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ValidateJobId(jobId);
        return (await _http.SendAsync(HttpMethod.Get, "/jobs/v2/" + IotHubHttpClient.Segment(jobId), cancellationToken: cancellationToken).ConfigureAwait(false)).Body as JsonObject ?? [];
    }

    /// <summary>Cancels a scheduled job (<c>POST /jobs/v2/{id}/cancel</c>).</summary>
    public virtual async Task<JsonObject> CancelJobAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ValidateJobId(jobId);
        return (await _http.SendAsync(HttpMethod.Post, "/jobs/v2/" + IotHubHttpClient.Segment(jobId) + "/cancel", cancellationToken: cancellationToken).ConfigureAwait(false)).Body as JsonObject ?? [];
    }

    /// <summary>Reads device counts (<c>GET /statistics/devices</c>).</summary>
    internal async Task<IotHubDeviceStatistics> GetDeviceStatisticsAsync(CancellationToken cancellationToken = default)
    {
        var body = (await _http.SendAsync(HttpMethod.Get, "/statistics/devices", cancellationToken: cancellationToken).ConfigureAwait(false)).Body;
        return new IotHubDeviceStatistics(Long(body?["totalDeviceCount"]), Long(body?["enabledDeviceCount"]), Long(body?["disabledDeviceCount"]));
    }

    /// <summary>Reads how many devices are connected now (<c>GET /statistics/service</c>).</summary>
    public virtual async Task<long> GetConnectedDeviceCountAsync(CancellationToken cancellationToken = default)
    {
        var body = (await _http.SendAsync(HttpMethod.Get, "/statistics/service", cancellationToken: cancellationToken).ConfigureAwait(false)).Body;
        return Long(body?["connectedDeviceCount"]);
    }

    private async Task<JsonObject> ScheduleJobAsync(string jobId, string queryCondition, string type, string property, JsonObject content,
        DateTimeOffset startTime, TimeSpan maxExecutionTime, CancellationToken cancellationToken)
    {
        ValidateJobId(jobId);
        ArgumentException.ThrowIfNullOrWhiteSpace(queryCondition);
        if (maxExecutionTime <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(maxExecutionTime), maxExecutionTime, "maxExecutionTime must be positive.");
        var body = new JsonObject
        {
            ["jobId"] = jobId,
            ["type"] = type,
            [property] = content,
            ["queryCondition"] = queryCondition,
            ["startTime"] = startTime.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
            ["maxExecutionTimeInSeconds"] = (long)maxExecutionTime.TotalSeconds,
        };
        // A repeated PUT of the same job id is answered 409, never run twice.
        var response = await _http.SendAsync(HttpMethod.Put, "/jobs/v2/" + IotHubHttpClient.Segment(jobId), body, cancellationToken: cancellationToken).ConfigureAwait(false);
        return response.Body as JsonObject ?? [];
    }

    /// <summary>The hub's shortest direct-method response timeout.</summary>
    internal static readonly TimeSpan MinimumMethodTimeout = TimeSpan.FromSeconds(5);

    internal static JsonObject BuildMethod(string methodName, JsonNode? payload, TimeSpan responseTimeout, TimeSpan connectTimeout, bool omitZeroConnectTimeout = false)
    {
        if (string.IsNullOrEmpty(methodName) || methodName.Length > 128 || methodName.Any(char.IsControl))
            throw new ArgumentException("The method name must be 1-128 printable characters.", nameof(methodName));
        if (responseTimeout < MinimumMethodTimeout || responseTimeout > TimeSpan.FromSeconds(300))
            throw new ArgumentOutOfRangeException(nameof(responseTimeout), responseTimeout, "The response timeout must be 5 s to 300 s.");
        if (connectTimeout < TimeSpan.Zero || connectTimeout > TimeSpan.FromSeconds(300))
            throw new ArgumentOutOfRangeException(nameof(connectTimeout), connectTimeout, "The connect timeout must be 0 to 300 s.");
        var body = new JsonObject
        {
            ["methodName"] = methodName,
            ["payload"] = payload?.DeepClone(),
            ["responseTimeoutInSeconds"] = (int)Math.Ceiling(responseTimeout.TotalSeconds),
            ["connectTimeoutInSeconds"] = (int)Math.Ceiling(connectTimeout.TotalSeconds),
        };
        // In jobs the official SDK leaves the connect timeout out when it is the default 0.
        if (omitZeroConnectTimeout && connectTimeout == TimeSpan.Zero) body.Remove("connectTimeoutInSeconds");
        if (System.Text.Encoding.UTF8.GetByteCount(body["payload"]?.ToJsonString() ?? "null") > 128 * 1024)
            throw new ArgumentException("Direct method payloads are at most 128 KB.", nameof(payload));
        return body;
    }

    private static void ValidateJobId(string jobId)
    {
        if (string.IsNullOrEmpty(jobId) || jobId.Length > 128 || jobId.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':')))
            throw new ArgumentException("Job ids are 1-128 characters of A-Z a-z 0-9 - _ . :.", nameof(jobId));
    }

    private static string RequireId(JsonObject device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var id = device["deviceId"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        DeviceIdRules.Azure.Validate(id, nameof(device));
        return id!;
    }

    // The response ETag header is authoritative over the body's etag.
    private static JsonObject WithEtag(IotHubResponse response)
    {
        var body = response.Body as JsonObject ?? [];
        if (response.Header("etag") is { Length: > 0 } etag)
            body["etag"] = etag.Trim('"');
        return body;
    }

    private static long Long(JsonNode? node) => node is JsonValue v && v.TryGetValue<long>(out var l) ? l : 0;
}
