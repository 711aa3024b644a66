using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using IoTMastery.Sdk.Aws.ControlPlane;

namespace IoTMastery.Sdk.Aws.Services;

/// <summary>
/// Firmware on AWS IoT Jobs. A release is a job template (its document carries version, URL, SHA-256, size and signature);
/// a rollout is one job over the devices' thing ARNs with an exponential rollout, abort criteria, an in-progress
/// timeout and retry criteria. The job id is chosen here before the call and is the idempotency key.
/// </summary>
internal sealed class AwsFirmwareService : IFirmwareService
{
    /// <summary>The job document's operation marker, also what devices look for on notify-next.</summary>
    internal const string Operation = "iotmastery.firmware";
    internal const string CancelReason = "USER_CANCELLED";
    private const string TemplatePrefix = "iotm-fw-";
    private const string RolloutPrefix = "iotm-rollout-";

    private readonly IotControlPlane _iot;
    private readonly TimeProvider _time;
    private readonly int _retriesOnFailure;
    private readonly int _retriesOnTimeout;

    public AwsFirmwareService(IotControlPlane iot, TimeProvider time, int retriesOnFailure, int retriesOnTimeout)
    {
        _iot = iot;
        _time = time;
        _retriesOnFailure = retriesOnFailure;
        _retriesOnTimeout = retriesOnTimeout;
    }

    /// <summary>Job template ids allow [a-zA-Z0-9_-]; versions also allow '.' and '+', so a hash keeps the mapping unique.</summary>
    internal static string TemplateId(string version)
    {
        var safe = new string(version.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_').ToArray());
        if (safe.Length > 40) safe = safe[..40];
        return TemplatePrefix + safe + "-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(version)))[..8];
    }

    public async Task<FirmwareRelease> CreateReleaseAsync(FirmwareRelease release, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(release);
        release.Validate();
        var stored = release with { CreatedAt = _time.GetUtcNow() };
        var document = new JsonObject { ["operation"] = Operation, ["firmware"] = FirmwareJson(stored) }.ToJsonString(Http.AwsRequest.WireJson);
        try
        {
            await _iot.CreateJobTemplateAsync(TemplateId(release.Version), document, $"IoTMastery firmware {release.Version}", cancellationToken).ConfigureAwait(false);
            return stored;
        }
        catch (IoTException ex) when (ex is ResourceAlreadyExistsException || ex.ErrorCode == "ConflictException")
        {
            // CreateJobTemplate models a duplicate id as ConflictException (409). A replay of the same release (a lost response) is success; a different release under the same version is not.
            var existing = await GetReleaseAsync(release.Version, cancellationToken).ConfigureAwait(false);
            if (existing.Uri == release.Uri && existing.Sha256 == release.Sha256 && existing.SizeBytes == release.SizeBytes && existing.Signature == release.Signature) return existing;
            throw new ResourceAlreadyExistsException($"Firmware {release.Version} already exists with a different image.", AwsIoTProvider.ProviderName, "ResourceAlreadyExistsException");
        }
    }

    public async Task<FirmwareRelease> GetReleaseAsync(string version, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        JsonObject template;
        try
        {
            template = await _iot.DescribeJobTemplateAsync(TemplateId(version), cancellationToken).ConfigureAwait(false);
        }
        catch (ResourceNotFoundException ex)
        {
            throw new ResourceNotFoundException($"Firmware {ErrorText.Escape(version)} was not found.", AwsIoTProvider.ProviderName, ex.ErrorCode, ex);
        }
        return ParseRelease((string?)template["document"]) ?? throw new IoTException(
            $"Job template {TemplateId(version)} is not an IoTMastery firmware release.", AwsIoTProvider.ProviderName, "MalformedResponse");
    }

    public async IAsyncEnumerable<FirmwareRelease> ListReleasesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? token = null;
        do
        {
            var page = await _iot.ListJobTemplatesAsync(token, 100, cancellationToken).ConfigureAwait(false);
            foreach (var summary in page.Items.OfType<JsonObject>())
            {
                if ((string?)summary["jobTemplateId"] is not { } id || !id.StartsWith(TemplatePrefix, StringComparison.Ordinal)) continue;
                var template = await _iot.DescribeJobTemplateAsync(id, cancellationToken).ConfigureAwait(false);
                if (ParseRelease((string?)template["document"]) is { } release) yield return release;
            }
            token = page.NextToken;
        }
        while (token is not null);
    }

    public async Task<Rollout> StartRolloutAsync(RolloutPlan plan, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        plan.Validate();
        foreach (var id in plan.DeviceIds) DeviceIdRules.Aws.Validate(id, nameof(plan));
        if (plan.DeviceTimeout > TimeSpan.FromMinutes(10080))
            throw new ArgumentOutOfRangeException(nameof(plan), plan.DeviceTimeout, "IoT Jobs in-progress timeouts are at most 7 days.");
        var release = await GetReleaseAsync(plan.ReleaseVersion, cancellationToken).ConfigureAwait(false);
        var arns = new JsonArray();
        foreach (var id in plan.DeviceIds)
            arns.Add((string?)(await _iot.DescribeThingAsync(id, cancellationToken).ConfigureAwait(false))["thingArn"]);

        var jobId = RolloutPrefix + Guid.NewGuid().ToString("N");
        var body = BuildJob(plan, release, arns);
        try
        {
            // Transient failures are retried by the HTTP client's shared retry: CreateJob is idempotent under this id.
            await _iot.CreateJobAsync(jobId, body, cancellationToken).ConfigureAwait(false);
        }
        catch (ResourceAlreadyExistsException)
        {
            // The id was minted above for this call, so only an earlier attempt of it (answer lost) can hold it: the job is ours.
        }
        return await GetRolloutAsync(jobId, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Rollout> GetRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ValidateRolloutId(rolloutId);
        var job = await _iot.DescribeJobAsync(rolloutId, cancellationToken).ConfigureAwait(false);
        var document = JsonNode.Parse(await _iot.GetJobDocumentAsync(rolloutId, cancellationToken).ConfigureAwait(false) ?? "{}") as JsonObject ?? [];
        var release = ParseRelease(document.ToJsonString());
        var rollout = document["rollout"] as JsonObject ?? [];
        var deviceIds = (job["targets"] as JsonArray ?? []).Select(t => ThingName((string?)t)).OfType<string>().ToList();
        var waves = (rollout["waveSizes"] as JsonArray)?.Select(w => (int?)w ?? 1).ToList() ?? [deviceIds.Count];
        var plan = new RolloutPlan
        {
            ReleaseVersion = release?.Version ?? "unknown",
            DeviceIds = deviceIds,
            WaveSizes = waves,
            SuccessThreshold = (double?)rollout["successThreshold"] ?? 0.9,
            FailureThreshold = (double?)rollout["failureThreshold"] ?? 0.2,
            DeviceTimeout = TimeSpan.FromSeconds((double?)rollout["deviceTimeoutSeconds"] ?? 600),
        };

        var executions = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        string? token = null;
        do
        {
            var page = await _iot.ListJobExecutionsForJobAsync(rolloutId, token, 250, cancellationToken).ConfigureAwait(false);
            foreach (var summary in page.Items.OfType<JsonObject>())
                if (ThingName((string?)summary["thingArn"]) is { } name && summary["jobExecutionSummary"] is JsonObject execution)
                    executions[name] = execution;
            token = page.NextToken;
        }
        while (token is not null);

        var updatedAt = AwsDeviceRegistry.Epoch(job["lastUpdatedAt"]) ?? _time.GetUtcNow();
        var devices = deviceIds.Select((id, index) =>
        {
            executions.TryGetValue(id, out var execution);
            return new DeviceRolloutState
            {
                DeviceId = id,
                Wave = WaveOf(index, waves),
                Status = MapExecution((string?)execution?["status"]),
                StartedAt = (string?)execution?["status"] is "QUEUED" or null ? null : AwsDeviceRegistry.Epoch(execution?["startedAt"]),
                UpdatedAt = AwsDeviceRegistry.Epoch(execution?["lastUpdatedAt"]) ?? updatedAt,
            };
        }).ToList();
        var started = devices.Count(d => d.Status != DeviceRolloutStatus.Pending);
        var status = MapJob((string?)job["status"], (string?)job["reasonCode"]);
        return new Rollout
        {
            Id = rolloutId,
            Plan = plan,
            Status = status,
            WaveCount = waves.Count,
            // IoT Jobs has no waves, only a rate; the wave is the one the last started device falls in.
            CurrentWave = started == 0 ? 0 : WaveOf(started - 1, waves),
            Devices = devices,
            CreatedAt = AwsDeviceRegistry.Epoch(job["createdAt"]) ?? default,
            UpdatedAt = updatedAt,
            Reason = (string?)job["comment"] ?? (string?)job["reasonCode"],
        };
    }

    public async Task<Rollout> CancelRolloutAsync(string rolloutId, CancellationToken cancellationToken = default)
    {
        ValidateRolloutId(rolloutId);
        await _iot.CancelJobAsync(rolloutId, CancelReason, "Cancelled through IoTMastery.Sdk.", force: false, cancellationToken).ConfigureAwait(false);
        return await GetRolloutAsync(rolloutId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The CreateJob body: exponential rollout, abort criteria, in-progress timeout and retry criteria.</summary>
    internal JsonObject BuildJob(RolloutPlan plan, FirmwareRelease release, JsonArray targets)
    {
        var waves = WaveSizes(plan);
        var document = new JsonObject
        {
            ["operation"] = Operation,
            ["firmware"] = FirmwareJson(release),
            ["rollout"] = new JsonObject
            {
                ["waveSizes"] = new JsonArray(waves.Select(w => (JsonNode)w).ToArray()),
                ["successThreshold"] = plan.SuccessThreshold,
                ["failureThreshold"] = plan.FailureThreshold,
                ["deviceTimeoutSeconds"] = (long)plan.DeviceTimeout.TotalSeconds,
            },
        };
        var baseRate = Math.Clamp(waves[0], 1, 1000);
        var factor = waves.Count > 1 ? Math.Round(Math.Clamp((double)waves[1] / waves[0], 1.1, 5.0), 1) : 2.0;
        var body = new JsonObject
        {
            ["targets"] = targets,
            ["document"] = document.ToJsonString(Http.AwsRequest.WireJson),
            ["description"] = $"IoTMastery firmware {release.Version} to {plan.DeviceIds.Count} device(s)",
            ["targetSelection"] = "SNAPSHOT",
            ["jobExecutionsRolloutConfig"] = new JsonObject
            {
                ["exponentialRate"] = new JsonObject
                {
                    ["baseRatePerMinute"] = baseRate,
                    ["incrementFactor"] = factor,
                    ["rateIncreaseCriteria"] = new JsonObject { ["numberOfSucceededThings"] = Math.Max(1, waves[0]) },
                },
            },
            ["abortConfig"] = new JsonObject
            {
                ["criteriaList"] = new JsonArray(new JsonObject
                {
                    ["failureType"] = "ALL",
                    ["action"] = "CANCEL",
                    ["thresholdPercentage"] = Math.Round(plan.FailureThreshold * 100, 2),
                    ["minNumberOfExecutedThings"] = Math.Max(1, waves[0]),
                }),
            },
            ["timeoutConfig"] = new JsonObject { ["inProgressTimeoutInMinutes"] = Math.Max(1L, (long)Math.Ceiling(plan.DeviceTimeout.TotalMinutes)) },
        };
        var retries = new JsonArray();
        if (_retriesOnFailure > 0) retries.Add(new JsonObject { ["failureType"] = "FAILED", ["numberOfRetries"] = _retriesOnFailure });
        if (_retriesOnTimeout > 0) retries.Add(new JsonObject { ["failureType"] = "TIMED_OUT", ["numberOfRetries"] = _retriesOnTimeout });
        if (retries.Count > 0) body["jobExecutionsRetryConfig"] = new JsonObject { ["criteriaList"] = retries };
        return body;
    }

    internal static IReadOnlyList<int> WaveSizes(RolloutPlan plan)
    {
        if (plan.WaveSizes is { } given) return given;
        var canary = Math.Max(1, plan.DeviceIds.Count / 10);
        return plan.DeviceIds.Count > canary ? [canary, plan.DeviceIds.Count - canary] : [canary];
    }

    internal static JsonObject FirmwareJson(FirmwareRelease release) => new()
    {
        [FirmwareStateContract.VersionProperty] = release.Version,
        [FirmwareStateContract.UriProperty] = release.Uri.AbsoluteUri,
        [FirmwareStateContract.Sha256Property] = release.Sha256,
        [FirmwareStateContract.SizeProperty] = release.SizeBytes,
        // Devices with an operator key refuse a release without it; null (unsigned) reads back as unsigned.
        [FirmwareStateContract.SignatureProperty] = release.Signature,
        ["createdAt"] = release.CreatedAt.ToUnixTimeMilliseconds(),
    };

    /// <summary>Reads a release from a job (template) document; null when it is not one of ours.</summary>
    internal static FirmwareRelease? ParseRelease(string? document)
    {
        try
        {
            return ParseReleaseCore(document);
        }
        // Not ours, as documented: JsonException, wrong-typed casts (InvalidOperationException), a relative uri (UriFormatException),
        // an out-of-range createdAt (ArgumentOutOfRangeException) or a duplicate key used to escape.
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static FirmwareRelease? ParseReleaseCore(string? document)
    {
        if (document is null || JsonNode.Parse(document) is not JsonObject doc || (string?)doc["operation"] != Operation || doc["firmware"] is not JsonObject fw)
            return null;
        return new FirmwareRelease
        {
            Version = (string?)fw[FirmwareStateContract.VersionProperty] ?? "",
            Uri = new Uri((string?)fw[FirmwareStateContract.UriProperty] ?? "about:blank"),
            Sha256 = (string?)fw[FirmwareStateContract.Sha256Property] ?? "",
            SizeBytes = (long?)fw[FirmwareStateContract.SizeProperty] ?? 0,
            Signature = (string?)fw[FirmwareStateContract.SignatureProperty],
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds((long?)fw["createdAt"] ?? 0),
        };
    }

    private static DeviceRolloutStatus MapExecution(string? status) => status switch
    {
        null or "QUEUED" => DeviceRolloutStatus.Pending,
        "IN_PROGRESS" => DeviceRolloutStatus.InProgress,
        "SUCCEEDED" => DeviceRolloutStatus.Succeeded,
        "FAILED" or "TIMED_OUT" or "REJECTED" => DeviceRolloutStatus.Failed,
        _ => DeviceRolloutStatus.Skipped, // CANCELED, REMOVED
    };

    private static RolloutStatus MapJob(string? status, string? reasonCode) => status switch
    {
        "COMPLETED" => RolloutStatus.Completed,
        "CANCELED" or "DELETION_IN_PROGRESS" when reasonCode == CancelReason => RolloutStatus.Cancelled,
        // Cancelled by anything else is the abort criteria (or another tool) stopping it.
        "CANCELED" or "DELETION_IN_PROGRESS" => RolloutStatus.Stopped,
        _ => RolloutStatus.InProgress,
    };

    private static int WaveOf(int index, IReadOnlyList<int> waves)
    {
        var end = 0;
        for (var w = 0; w < waves.Count; w++)
        {
            end += waves[w];
            if (index < end) return w;
        }
        return waves.Count - 1;
    }

    private static string? ThingName(string? arn)
    {
        if (arn is null) return null;
        var marker = arn.IndexOf(":thing/", StringComparison.Ordinal);
        return marker < 0 ? null : arn[(marker + 7)..];
    }

    private static void ValidateRolloutId(string rolloutId)
    {
        if (string.IsNullOrEmpty(rolloutId) || rolloutId.Length > 64 || !rolloutId.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            throw new ArgumentException("A rollout id is an IoT job id: 1-64 characters of A-Z a-z 0-9 _ -.", nameof(rolloutId));
    }

    internal static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);
}
